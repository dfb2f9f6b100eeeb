"""Tests for keras_simpletf/models/recommendation/baselines.py: most popular and EASE."""

import json

import keras
import numpy as np
import pytest

from keras_simpletf.data import InteractionLog, ItemCatalogue
from keras_simpletf.models import EASE, MostPopularItems


def random_log(seed=0, users=30, items=12, density=0.3):
    rng = np.random.default_rng(seed)
    catalogue = ItemCatalogue([f"i{i}" for i in range(items)], [""] * items)
    user_index, item_index = np.nonzero(rng.random((users, items)) < density)
    log = InteractionLog([f"u{u}" for u in user_index], catalogue.item_ids[item_index], catalogue)
    return log, user_index, item_index


def test_ease_weights_solve_the_constrained_ridge_regression_column_by_column():
    log, user_index, item_index = random_log()
    matrix = np.zeros((user_index.max() + 1, len(log.catalogue)))
    matrix[user_index, item_index] = 1.0
    l2 = 3.0
    model = EASE(log.catalogue.item_ids, l2=l2).fit_interactions(log)
    # Steck's objective, ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0, solved per column:
    # column j regresses item j on the other items.
    expected = np.zeros((matrix.shape[1],) * 2)
    for j in range(matrix.shape[1]):
        others = np.delete(np.arange(matrix.shape[1]), j)
        x = matrix[:, others]
        expected[others, j] = np.linalg.solve(x.T @ x + l2 * np.eye(len(others)), x.T @ matrix[:, j])
    np.testing.assert_allclose(model.item_weights.numpy(), expected, atol=1e-5)
    history = [[f"i{i}" for i in item_index[user_index == 0]]]
    np.testing.assert_allclose(model.scores({"history": history})[0], matrix[0] @ expected, atol=1e-5)


def test_ease_ranks_co_occurring_items_first_and_falls_back_to_popularity():
    catalogue = ItemCatalogue(["a", "b", "c", "d"], [""] * 4)
    log = InteractionLog(
        ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u5"], ["a", "b", "a", "b", "c", "d", "c", "c"],
        catalogue)
    model = EASE(catalogue.item_ids, l2=1.0).fit_interactions(log)
    assert model.recommend({"history": [["a"], ["d"]]}, k=1)["item_ids"].numpy().tolist() == [
        [b"b"], [b"c"]]
    nothing_known = {"user_id": ["u1", "u9"], "history": [[], ["zzz"]]}
    np.testing.assert_allclose(
        model.scores(nothing_known), MostPopularItems(catalogue.item_ids, log.item_counts()).scores(
            nothing_known))


def test_ease_refuses_items_outside_its_catalogue_and_a_non_positive_penalty():
    log, _, _ = random_log()
    with pytest.raises(ValueError, match=r"The log names 2 items outside the model's catalogue: \['i10', 'i11'\]"):
        EASE(log.catalogue.item_ids[:10]).fit_interactions(log)
    with pytest.raises(ValueError, match="`l2` must be positive"):
        EASE(["a"], l2=0)


@pytest.mark.parametrize("make_model", [
    lambda log: EASE(log.catalogue.item_ids, l2=2.0).fit_interactions(log),
    lambda log: MostPopularItems(log.catalogue.item_ids, log.item_counts()),
])
def test_keras_file_round_trip_recommends_the_same(make_model, tmp_path):
    log, _, _ = random_log(seed=1)
    model = make_model(log)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored) is type(model)
    assert json.loads(json.dumps(restored.get_config())) == json.loads(json.dumps(model.get_config()))
    queries = {"history": [["i1", "i2"], [], ["i3"]]}
    np.testing.assert_allclose(restored.scores(queries), model.scores(queries), atol=1e-6)


def test_most_popular_ranks_by_count_and_refuses_bad_catalogues():
    model = MostPopularItems(["a", "b", "c"], item_counts=[1, 5, 3])
    assert model.recommend({"user_id": ["anyone"]}, k=3)["item_ids"].numpy().tolist() == [
        [b"b", b"c", b"a"]]
    with pytest.raises(ValueError, match="distinct, non-empty"):
        MostPopularItems(["a", "a"])
    with pytest.raises(ValueError, match="a non-negative count per item"):
        MostPopularItems(["a", "b"], item_counts=[1])
