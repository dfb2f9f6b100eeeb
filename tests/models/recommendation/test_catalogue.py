"""Tests for keras_simpletf/models/recommendation/catalogue.py: queries, exclusions and top K."""

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.models import MostPopularItems

ITEMS = ["a", "b", "c", "d", "e"]


@pytest.fixture
def model():
    return MostPopularItems(ITEMS, item_counts=[9, 8, 7, 6, 5])


def recommended(result):
    return [[item.decode() for item in row] for row in result["item_ids"].numpy()]


def test_recommend_leaves_out_the_history_and_the_excluded_items(model):
    query = {"history": [["a"], ["b", ""]], "exclude_item_ids": [["b", "c"], ["no such item"]]}
    assert recommended(model.recommend(query, k=2)) == [["d", "e"], ["a", "c"]]
    padded = dict(query, exclude_item_ids=tf.constant([["b", "c"], ["", ""]]))
    assert recommended(model.recommend(padded, k=2)) == [["d", "e"], ["a", "c"]]


def test_left_out_items_come_last_with_minus_infinity_only_when_k_needs_them(model):
    result = model.recommend({"history": [["a"]], "exclude_item_ids": [["c"]]}, k=5)
    assert recommended(result) == [["b", "d", "e", "a", "c"]]
    assert np.isneginf(result["scores"].numpy()[0, 3:]).all()
    assert np.all(np.diff(result["scores"].numpy()[0, :3]) <= 0)


def test_recommend_traces_with_exclusions(model):
    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.string)] * 2)
    def recommend(history, exclude_item_ids):
        return model.recommend({"history": history, "exclude_item_ids": exclude_item_ids}, 2)

    result = recommend(tf.constant([["a", ""]]), tf.constant([["b", "d"]]))
    assert recommended(result) == [["c", "e"]]


def test_bad_queries_and_k(model):
    with pytest.raises(ValueError, match="`k`=6 exceeds the catalogue's 5 items"):
        model.recommend({"user_id": ["u"]}, k=6)
    with pytest.raises(ValueError, match="needs `user_id` and/or `history`"):
        model.recommend({"users": ["u"]}, k=3)
