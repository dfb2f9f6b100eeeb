"""Tests for keras_simpletf/metrics/ranking.py, against plain NumPy loops and scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from keras_simpletf.data.interactions import InteractionLog, ItemCatalogue
from keras_simpletf.metrics.ranking import (
    RetrievalReport,
    log_loss,
    ranking_metrics,
    retrieval_report,
    roc_auc,
)


def reference_metrics(scores, relevant, excluded, k):
    """One user at a time, the textbook way."""
    recalls, hits, ndcgs = [], [], []
    for user_scores, user_relevant, user_excluded in zip(scores, relevant, excluded):
        targets = {item for item in np.flatnonzero(user_relevant) if not user_excluded[item]}
        if not targets:
            continue
        candidates = [item for item in range(len(user_scores)) if not user_excluded[item]]
        ranked = sorted(candidates, key=lambda item: -user_scores[item])[:k]
        found = [item in targets for item in ranked]
        recalls.append(sum(found) / len(targets))
        hits.append(float(any(found)))
        dcg = sum(1 / math.log2(position + 2) for position, hit in enumerate(found) if hit)
        ideal = sum(1 / math.log2(position + 2) for position in range(min(k, len(targets))))
        ndcgs.append(dcg / ideal)
    return {f"recall@{k}": np.mean(recalls), f"hit_rate@{k}": np.mean(hits),
            f"ndcg@{k}": np.mean(ndcgs), "users": len(recalls)}


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    users, items = 30, int(rng.integers(5, 150))
    scores = rng.normal(size=(users, items))
    relevant = rng.random((users, items)) < 0.05
    excluded = rng.random((users, items)) < 0.2
    ours = ranking_metrics(scores, relevant, excluded, k_values=(1, 10, 50, 100))
    for k in (1, 10, 50, 100):
        expected = reference_metrics(scores, relevant, excluded, k)
        assert ours["users"] == expected["users"]
        for name in ("recall", "hit_rate", "ndcg"):
            assert ours[f"{name}@{k}"] == pytest.approx(expected[f"{name}@{k}"], abs=1e-12)


def test_random_recall_is_what_shuffled_scores_get_on_average():
    rng = np.random.default_rng(0)
    relevant = rng.random((20, 40)) < 0.1
    excluded = rng.random((20, 40)) < 0.5
    expected = ranking_metrics(np.zeros((20, 40)), relevant, excluded, k_values=(5,))["random_recall@5"]
    shuffled = np.mean([
        ranking_metrics(rng.random((20, 40)), relevant, excluded, k_values=(5,))["recall@5"]
        for _ in range(400)])
    assert shuffled == pytest.approx(expected, abs=0.01)
    # One row: 3 candidates left after exclusion, K=2.
    one = ranking_metrics([[0.0, 0.0, 0.0, 0.0]], [[True, False, False, False]], [[False, True, False, False]],
                          k_values=(2,))
    assert one["random_recall@2"] == pytest.approx(2 / 3)


def test_k_larger_than_the_catalogue_ranks_everything():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    relevant = np.array([[True, False, False], [False, False, True]])
    result = ranking_metrics(scores, relevant, k_values=[100])
    assert result["recall@100"] == result["hit_rate@100"] == 1.0
    assert result["ndcg@100"] == pytest.approx(np.mean([1 / math.log2(4), 1 / math.log2(4)]))


def test_excluded_relevant_items_do_not_count_and_empty_rows_are_skipped():
    scores = np.array([[0.9, 0.1], [0.5, 0.4]])
    relevant = np.array([[True, False], [False, False]])
    result = ranking_metrics(scores, relevant, excluded=relevant, k_values=[1])
    assert result["users"] == 0 and math.isnan(result["recall@1"])


def test_excluded_items_rank_after_candidates_scored_minus_infinity_or_nan():
    # Item 0 excluded; item 1, relevant, cannot be scored: it is still the first of the ranking.
    for bad in (-math.inf, math.nan):
        result = ranking_metrics([[0.0, bad]], [[False, True]], [[True, False]], k_values=[1])
        assert result["recall@1"] == 1.0


def test_bad_shapes_and_ks():
    with pytest.raises(ValueError, match="one shape"):
        ranking_metrics(np.zeros((2, 3)), np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="positive integers"):
        ranking_metrics(np.zeros((2, 3)), np.zeros((2, 3), bool), k_values=[0])


def test_retrieval_report_excludes_training_items_and_splits_out_cold_start():
    catalogue = ItemCatalogue(["a", "b", "c", "d"], ["", "", "", ""])
    train = InteractionLog(["u1", "u1", "u2"], ["a", "b", "a"], catalogue)
    # "c" is in no training interaction: cold start. u1's "a" was seen in training.
    test = InteractionLog(["u1", "u1", "u2", "u2", "u3"], ["c", "a", "b", "c", "d"], catalogue)
    scores = np.array([
        [0.9, 0.8, 0.1, 0.5],   # u1: ranks (a, b excluded) d, c
        [0.9, 0.8, 0.7, 0.1],   # u2: ranks (a excluded) b, c, d
    ])
    report = retrieval_report(scores, ["u1", "u2"], train, test, k_values=[1, 2])
    assert report.overall["users"] == 2 and report.cold_start["users"] == 2
    assert report.overall["recall@1"] == pytest.approx((0 + 0.5) / 2)
    assert report.overall["recall@2"] == 1.0
    assert report.cold_start["recall@1"] == 0.0 and report.cold_start["recall@2"] == 1.0
    assert "cold-start" in str(report) and "recall@2" in str(report)


def test_retrieval_report_checks_its_inputs():
    catalogue = ItemCatalogue(["a", "b"], ["", ""])
    log = InteractionLog(["u1"], ["a"], catalogue)
    with pytest.raises(ValueError, match="name each row"):
        retrieval_report(np.zeros((2, 2)), ["u1", "u1"], log, log)
    other = InteractionLog(["u1"], ["a"], ItemCatalogue(["a", "b"], ["", ""]))
    with pytest.raises(ValueError, match="share one catalogue"):
        retrieval_report(np.zeros((1, 2)), ["u1"], log, other)


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_log_loss_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * labels, 1)  # rounded: many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    probabilities = rng.random(200)
    probabilities[:3] = [0.0, 1.0, 1.0]
    assert log_loss(labels, probabilities) == pytest.approx(
        sklearn_log_loss(labels, probabilities, labels=[0, 1]), rel=1e-9)


def test_auc_and_log_loss_refuse_what_is_undefined():
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="must be 0 or 1"):
        roc_auc([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        log_loss([0, 1], [0.2, 1.3])
    with pytest.raises(ValueError, match="2 labels but 1"):
        log_loss([0, 1], [0.2])


def test_the_example_numbers_are_right():
    result = ranking_metrics(np.array([[0.9, 0.1, 0.5, 0.3]]), np.array([[0, 0, 0, 1]], bool),
                             np.array([[1, 0, 0, 0]], bool), k_values=[1, 2])
    assert (result["recall@1"], result["recall@2"]) == (0.0, 1.0)
    assert result["ndcg@2"] == pytest.approx(1 / math.log2(3))
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert isinstance(RetrievalReport({}, {}, [1]), RetrievalReport)
