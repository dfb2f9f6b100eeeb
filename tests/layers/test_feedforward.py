"""Tests for keras_simpletf/layers/feedforward.py."""

import keras
import numpy as np
import pytest

from keras_simpletf.layers import FeedForward


def test_one_hidden_layer_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    layer = FeedForward(hidden_dim=12, activation="relu")
    outputs = keras.ops.convert_to_numpy(layer(x))
    (w1, b1), (w2, b2) = (
        layer.hidden_dense.get_weights(),
        layer.output_dense.get_weights(),
    )
    np.testing.assert_allclose(outputs, np.maximum(x @ w1 + b1, 0) @ w2 + b2, atol=1e-5)
    assert len(layer.trainable_weights) == 4


def test_default_hidden_width_is_four_times_the_input_and_output_width_configurable():
    layer = FeedForward(output_dim=5)
    assert layer(np.zeros((1, 2, 8), "float32")).shape == (1, 2, 5)
    assert layer.hidden_dense.kernel.shape == (8, 32)


def test_rejects_bad_sizes_and_rates():
    with pytest.raises(ValueError, match="hidden_dim"):
        FeedForward(hidden_dim=0)
    with pytest.raises(ValueError, match="dropout"):
        FeedForward(dropout=1.5)


def test_config_round_trip():
    layer = FeedForward(hidden_dim=7, activation="relu", dropout=0.2, output_dim=3)
    assert FeedForward.from_config(layer.get_config()).get_config() == layer.get_config()
