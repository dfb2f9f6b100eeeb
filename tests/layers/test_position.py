"""Tests for keras_simpletf/layers/position.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import SinusoidalPositionEncoding
from keras_simpletf.layers.position import sinusoid_table


def test_table_matches_the_transformer_formula():
    table = sinusoid_table(length=7, width=6, max_wavelength=10000.0)
    for position in range(7):
        for pair in range(3):
            angle = position / 10000.0 ** (2 * pair / 6)
            np.testing.assert_allclose(table[position, 2 * pair], np.sin(angle), atol=1e-6)
            np.testing.assert_allclose(table[position, 2 * pair + 1], np.cos(angle), atol=1e-6)


def test_returns_encodings_of_the_input_shape_without_parameters():
    layer = SinusoidalPositionEncoding(max_length=16)
    inputs = np.zeros((3, 10, 8), "float32")
    outputs = keras.ops.convert_to_numpy(layer(inputs))
    assert outputs.shape == (3, 10, 8)
    assert layer.count_params() == 0
    np.testing.assert_allclose(outputs[1], sinusoid_table(10, 8), atol=1e-6)


@pytest.mark.parametrize("option, shape", [("learned_mix", (4, 4)), ("learned_offsets", (16, 4))])
def test_a_learned_part_starts_as_the_fixed_encoding(option, shape):
    fixed = SinusoidalPositionEncoding(max_length=16)
    learned = SinusoidalPositionEncoding(max_length=16, **{option: True})
    inputs = np.zeros((1, 5, 4), "float32")
    np.testing.assert_allclose(learned(inputs), fixed(inputs), atol=1e-6)
    assert [w.shape for w in learned.trainable_weights] == [shape]


def test_learned_offsets_shift_each_position_from_start_index():
    layer = SinusoidalPositionEncoding(max_length=16, learned_offsets=True)
    layer.build((1, 2, 4))
    table = np.arange(64, dtype="float32").reshape(16, 4)
    layer.set_weights([table])
    # Two tokens decoded after three: positions 3 and 4.
    np.testing.assert_allclose(
        layer(np.zeros((1, 2, 4), "float32"), start_index=3)[0],
        sinusoid_table(16, 4)[3:5] + table[3:5],
        atol=1e-5,
    )


def test_longer_static_sequence_fails_at_build_naming_max_length():
    layer = SinusoidalPositionEncoding(max_length=8)
    with pytest.raises(ValueError, match="max_length"):
        layer.build((None, 9, 4))


def test_longer_dynamic_sequence_fails_naming_max_length():
    layer = SinusoidalPositionEncoding(max_length=8)
    encode = tf.function(
        layer, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)]
    )
    encode(tf.zeros((1, 8, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length"):
        encode(tf.zeros((1, 9, 4)))


def test_rejects_a_non_positive_max_length():
    with pytest.raises(ValueError, match="max_length"):
        SinusoidalPositionEncoding(max_length=0)


def test_passes_the_mask_through():
    token_ids = np.array([[5, 6, 0]])
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    layer = SinusoidalPositionEncoding(max_length=8)
    mask = layer.compute_mask(embedded, embedded._keras_mask)
    np.testing.assert_array_equal(mask, [[True, True, False]])


def test_config_round_trip():
    layer = SinusoidalPositionEncoding(
        max_length=32, max_wavelength=500.0, learned_mix=True, learned_offsets=True
    )
    clone = SinusoidalPositionEncoding.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
