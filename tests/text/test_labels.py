"""Tests for keras_simpletf/text/labels.py."""

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.text import LabelEncoder


def test_encodes_dense_and_ragged_labels_and_decodes_ids():
    encoder = LabelEncoder(["negative", "positive"])
    np.testing.assert_array_equal(encoder(tf.constant(["positive", "negative"])), [1, 0])
    assert encoder(tf.ragged.constant([["O"], []], dtype=tf.string)[:, :0]).to_list() == [[], []]
    assert list(encoder.decode([1, 1, 0])) == ["positive", "positive", "negative"]


def test_multi_label_rows_become_multi_hot():
    encoder = LabelEncoder(["a", "b", "c"], multi_label=True)
    rows = encoder(tf.ragged.constant([["a", "c", "a"], [], ["b"]]))
    np.testing.assert_array_equal(rows, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])


def test_unknown_labels_are_named_in_the_error_also_inside_tf_data():
    encoder = LabelEncoder(["negative", "positive"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="neutral"):
        encoder(tf.constant(["positive", "neutral"]))
    dataset = tf.data.Dataset.from_tensor_slices(["positive", "meh"]).batch(2).map(encoder)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Labels outside the label vocabulary.*negative.*positive.*meh"):
        list(dataset)


def test_labels_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        LabelEncoder(["a", "a"])
