"""Ranking metrics: full-catalogue Recall/HitRate/NDCG@K (retrieval), AUC and log-loss (ranking).

Retrieval is scored the way it serves: every user's scores rank the whole
catalogue, items the user already had in training are removed from the
ranking, and the user's test items are the relevant ones. Numbers are
reported overall and for cold-start items (test interactions whose item no
training interaction names), which only a model that reads item content can
retrieve.
"""

import math

import numpy as np

DEFAULT_K_VALUES = (10, 50, 100)


def _check_k_values(k_values):
    k_values = tuple(k_values)
    if not k_values or any(
            isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1
            for k in k_values):
        raise ValueError(f"`k_values` must be positive integers, got {k_values!r}.")
    return k_values


def ranking_metrics(scores, relevant, excluded=None, k_values=DEFAULT_K_VALUES):
    """Recall@K, HitRate@K and NDCG@K of score rows over a whole catalogue.

    For each row (user), items are ranked by decreasing score (ties in
    catalogue order) after the `excluded` ones are removed; the top K are
    compared with the row's `relevant` items. Per row:

    - Recall@K: relevant items in the top K / relevant items;
    - HitRate@K: 1 if any relevant item is in the top K, else 0;
    - NDCG@K: sum over top-K positions i (from 0) of `rel_i / log2(i + 2)`,
      divided by its best value, `sum_{i < min(K, relevant)} 1 / log2(i + 2)`;
    - random Recall@K: the Recall@K a uniformly random ranking of the same
      candidates gets on average, `min(K, candidates) / candidates`, the
      floor any model must clear.

    Each is averaged over the rows with at least one relevant item that is
    not excluded; other rows are skipped. A K larger than the number of
    candidates just ranks them all (Recall@K is then 1).

    Args:
        scores: float `(num_users, num_items)`.
        relevant: bool `(num_users, num_items)`, the test items of each row.
        excluded: bool `(num_users, num_items)` of items to leave out of the
            ranking (e.g. the user's training items), or `None`.
        k_values: positive ints.

    Returns:
        A dict: `"recall@K"`, `"hit_rate@K"`, `"ndcg@K"` and
        `"random_recall@K"` for each K (floats; `nan` when no row is scored)
        and `"users"`, the number of rows scored.

    Example:

    ```python
    scores = np.array([[0.9, 0.1, 0.5, 0.3]])
    relevant = np.array([[False, False, False, True]])
    excluded = np.array([[True, False, False, False]])
    ranking_metrics(scores, relevant, excluded, k_values=[1, 2])
    # recall@1 0.0, recall@2 1.0, ndcg@2 1 / log2(3) = 0.63, users 1
    ```
    """
    k_values = _check_k_values(k_values)
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    excluded = np.zeros_like(relevant) if excluded is None else np.asarray(excluded, dtype=bool)
    if scores.ndim != 2 or relevant.shape != scores.shape or excluded.shape != scores.shape:
        raise ValueError(
            f"`scores`, `relevant` and `excluded` must have one shape (num_users, num_items); "
            f"got {scores.shape}, {relevant.shape}, {excluded.shape}."
        )
    relevant = relevant & ~excluded
    scored_rows = relevant.any(axis=1)
    scores, relevant, excluded = scores[scored_rows], relevant[scored_rows], excluded[scored_rows]
    candidates = scores.shape[1]
    depth = min(max(k_values), candidates)
    # Excluded items sort after every candidate, whatever its score (-inf and NaN too); ties
    # keep catalogue order (lexsort is stable).
    top = np.lexsort((-scores, excluded), axis=1)[:, :depth]
    hits = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    relevant_counts = relevant.sum(axis=1)
    candidate_counts = candidates - excluded.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    results = {}
    for k in k_values:
        k_hits = hits[:, :k]
        ideal = np.cumsum(discounts)[np.minimum(relevant_counts, k) - 1]
        per_user = {
            f"recall@{k}": k_hits.sum(axis=1) / relevant_counts,
            f"hit_rate@{k}": k_hits.max(axis=1, initial=0.0),
            f"ndcg@{k}": (k_hits * discounts[: k_hits.shape[1]]).sum(axis=1) / ideal,
            f"random_recall@{k}": np.minimum(k, candidate_counts) / candidate_counts,
        }
        for name, values in per_user.items():
            results[name] = float(values.mean()) if len(values) else math.nan
    results["users"] = int(scored_rows.sum())
    return results


class RetrievalReport:
    """Full-catalogue retrieval metrics, overall and on cold-start items.

    Built by `retrieval_report`.

    Args:
        overall: dict of `ranking_metrics` over all test interactions.
        cold_start: dict of `ranking_metrics` over test interactions whose
            item is in no training interaction.
        k_values: the Ks of the metrics.

    Example:

    ```python
    report = RetrievalReport(
        {"recall@10": 0.3, "hit_rate@10": 0.5, "ndcg@10": 0.2, "random_recall@10": 0.06,
         "users": 40},
        {"recall@10": 0.1, "hit_rate@10": 0.1, "ndcg@10": 0.05, "random_recall@10": 0.06,
         "users": 12}, [10])
    print(report)
    report.overall["recall@10"]  # 0.3
    ```
    """

    def __init__(self, overall, cold_start, k_values):
        self.overall = dict(overall)
        self.cold_start = dict(cold_start)
        self.k_values = _check_k_values(k_values)

    def __str__(self):
        names = [f"{metric}@{k}" for metric in ("recall", "hit_rate", "ndcg", "random_recall")
                 for k in self.k_values if f"{metric}@{k}" in self.overall]
        width = max(len(name) for name in names)
        lines = [f"{'':>{width}}  {'overall':>10}  {'cold-start':>10}"]
        lines += [
            f"{name:>{width}}  {self.overall[name]:>10.4f}  {self.cold_start[name]:>10.4f}"
            for name in names
        ]
        lines.append(
            f"{'users':>{width}}  {self.overall['users']:>10}  {self.cold_start['users']:>10}")
        return "\n".join(lines) + "\n"


def retrieval_report(scores, user_ids, train, test, k_values=DEFAULT_K_VALUES):
    """Scores a retrieval model's full-catalogue scores against a train/test split.

    The relevant items of a user are the items of their `test` interactions
    (pass positives only, e.g. `log.select(log.labels > 0)` before
    splitting); their `train` items are excluded from the ranking and from
    the relevant ones. Cold-start metrics keep, as relevant, only test items
    that no `train` interaction names, still ranked against the whole
    catalogue.

    Args:
        scores: float `(len(user_ids), num_items)`, columns in the order of
            `train.catalogue` (what the recommender models' `scores` return).
        user_ids: the user of each row of `scores` (str).
        train: the training `InteractionLog`.
        test: the test `InteractionLog`, over the same catalogue.
        k_values: positive ints.

    Returns:
        A `RetrievalReport`; test users without a row in `scores` are not scored.

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2", "i3"], ["a", "b", "c"])
    train = InteractionLog(["u1", "u2"], ["i1", "i2"], catalogue)
    test = InteractionLog(["u1", "u2"], ["i3", "i1"], catalogue)
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.1]])
    report = retrieval_report(scores, ["u1", "u2"], train, test, k_values=[1])
    report.overall["recall@1"], report.cold_start["recall@1"]  # (1.0, 1.0)
    ```
    """
    k_values = _check_k_values(k_values)
    scores = np.asarray(scores, dtype=np.float64)
    row_of = {str(user_id): row for row, user_id in enumerate(user_ids)}
    if len(row_of) != len(scores):
        raise ValueError(
            f"`user_ids` must name each row of `scores` once; got {len(user_ids)} ids "
            f"({len(row_of)} distinct) for {len(scores)} rows."
        )
    if train.catalogue is not test.catalogue or scores.shape[1:] != (len(train.catalogue),):
        raise ValueError(
            f"`train` and `test` must share one catalogue, and `scores` have one column "
            f"per catalogue item ({len(train.catalogue)}); got scores of shape {scores.shape}."
        )
    excluded = _user_item_matrix(row_of, train, scores.shape)
    relevant = _user_item_matrix(row_of, test, scores.shape)
    cold_items = train.item_counts() == 0
    return RetrievalReport(
        ranking_metrics(scores, relevant, excluded, k_values),
        ranking_metrics(scores, relevant & cold_items[None, :], excluded, k_values),
        k_values,
    )


def _user_item_matrix(row_of, log, shape):
    """Bool matrix: True where the row's user has an interaction with the item in `log`."""
    matrix = np.zeros(shape, dtype=bool)
    rows = np.array([row_of.get(user_id, -1) for user_id in log.user_ids], dtype=np.int64)
    known = rows >= 0
    matrix[rows[known], log.item_indices[known]] = True
    return matrix


def roc_auc(labels, scores):
    """Area under the ROC curve of binary `labels` by `scores` (ties count half).

    The Mann-Whitney form: the probability that a random positive scores
    above a random negative, as scikit-learn's `roc_auc_score` computes it.

    Args:
        labels: 1-D, 0/1 (or bool) labels.
        scores: 1-D float scores (probabilities or logits), as many as `labels`.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: if the labels are not 0/1, the lengths differ, or only one
            class is present (AUC is then undefined).

    Example:

    ```python
    roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 0.75
    ```
    """
    labels, scores = _binary_labels_and_values(labels, scores, "scores")
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(
            "ROC AUC needs both positive and negative labels; got "
            f"{positives} positives and {negatives} negatives."
        )
    ranks = _average_ranks(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def log_loss(labels, probabilities):
    """Mean binary cross-entropy of `probabilities` for 0/1 `labels`.

    Probabilities are clipped to `[eps, 1 - eps]` with `eps` the float64
    machine epsilon, so a confident mistake costs about 36, not infinity, as
    in scikit-learn's `log_loss`.

    Args:
        labels: 1-D, 0/1 (or bool) labels.
        probabilities: 1-D probabilities of label 1, as many as `labels`.

    Returns:
        A float >= 0.

    Example:

    ```python
    log_loss([1, 0], [0.9, 0.2])  # (-log(0.9) - log(0.8)) / 2 = 0.164...
    ```
    """
    labels, probabilities = _binary_labels_and_values(labels, probabilities, "probabilities")
    if ((probabilities < 0) | (probabilities > 1)).any():
        raise ValueError("`probabilities` must be in [0, 1].")
    eps = np.finfo(np.float64).eps
    probabilities = np.clip(probabilities, eps, 1 - eps)
    return float(-np.mean(labels * np.log(probabilities)
                          + (1 - labels) * np.log1p(-probabilities)))


def _binary_labels_and_values(labels, values, name):
    labels = np.asarray(labels).astype(np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(labels) != len(values):
        raise ValueError(f"Got {len(labels)} labels but {len(values)} {name}.")
    if not len(labels):
        raise ValueError("`labels` is empty; there is nothing to score.")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError(f"`labels` must be 0 or 1, got {sorted(set(labels.tolist()))[:10]}.")
    return labels, values


def _average_ranks(values):
    """1-based ranks of `values`, tied values sharing their average rank."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    group_ranks = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(group_ranks, ends - starts)
    return ranks
