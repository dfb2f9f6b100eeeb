"""Tests for keras_simpletf/layers/residual.py."""

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import Residual

SHORTCUT = np.full((1, 2, 3), 2.0, "float32")
BRANCH = np.full((1, 2, 3), 5.0, "float32")


def test_add():
    np.testing.assert_allclose(Residual("add")(SHORTCUT, BRANCH), 7.0)


def test_rezero_starts_as_identity_and_its_gate_trains():
    layer = Residual("rezero")
    with tf.GradientTape() as tape:
        outputs = layer(SHORTCUT, BRANCH)
        loss = tf.reduce_sum(outputs)
    np.testing.assert_allclose(outputs, SHORTCUT)
    (gradient,) = tape.gradient(loss, layer.trainable_weights)
    assert float(gradient) == pytest.approx(30.0)


def test_scaled():
    np.testing.assert_allclose(Residual("scaled", scale=0.5)(SHORTCUT, BRANCH), 4.5)


def test_unknown_mode_names_the_argument_and_the_choices():
    with pytest.raises(ValueError, match=r"`mode` must be one of \['add', 'rezero', 'scaled'\]"):
        Residual("gated")


def test_scaled_mode_needs_a_positive_scale():
    with pytest.raises(ValueError, match="scale"):
        Residual("scaled")


def test_config_round_trip():
    layer = Residual("scaled", scale=0.25, dropout=0.1)
    assert Residual.from_config(layer.get_config()).get_config() == layer.get_config()
