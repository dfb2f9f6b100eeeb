"""Tests for the key/value cache of keras_simpletf/layers (attention, DecoderBlock, TransformerDecoder)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import SimpleAttention, TransformerDecoder, TransformerEncoder
from keras_simpletf.layers.attention import write_cache

SOURCE = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
TARGET = np.array([[1, 4, 5, 6, 7], [1, 8, 3, 3, 9]])
BLOCK_OPTIONS = [
    dict(),
    dict(num_heads=4, num_kv_heads=1),
    dict(num_heads=2, value_free=True, layout="parallel", norm="pre"),
    dict(num_heads=4, num_kv_heads=2, value_free=True, residual="scaled"),
    dict(num_heads=2, relative_position_range=2),
]


def test_write_cache_replaces_only_the_written_positions_and_keeps_the_shape():
    cache = tf.zeros((2, 6, 1, 3))
    update = tf.ones((2, 2, 1, 3))
    written = write_cache(cache, update, tf.constant(3))
    assert written.shape == cache.shape
    np.testing.assert_array_equal(written[0, :, 0, 0], [0, 0, 0, 1, 1, 0])


@pytest.mark.parametrize("relative_position_range", [None, 2])
def test_cached_self_attention_equals_causal_attention_over_the_whole_sequence(
    relative_position_range,
):
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    attention = SimpleAttention(
        num_heads=2, num_kv_heads=1, relative_position_range=relative_position_range
    )
    attention.build(x.shape)
    if relative_position_range:
        attention.relative_position_bias.assign(np.random.default_rng(1).normal(size=(2, 5)))
    full = attention(x, use_causal_mask=True)
    cache = attention.initial_cache(2, max_length=5)
    steps = []
    for index in range(5):
        outputs, cache = attention(
            x[:, index : index + 1], cache=cache, cache_index=index, use_causal_mask=True
        )
        steps.append(outputs)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_a_self_attention_cache_needs_an_index_and_causality():
    attention = SimpleAttention()
    attention(np.zeros((1, 2, 4), "float32"))
    cache = attention.initial_cache(1, max_length=4)
    with pytest.raises(ValueError, match="cache_index"):
        attention(np.zeros((1, 1, 4), "float32"), cache=cache, cache_index=0)


@pytest.mark.parametrize("options", BLOCK_OPTIONS, ids=str)
def test_cached_decoder_equals_the_decoder_over_the_whole_target(options):
    encoder = TransformerEncoder(30, num_layers=2, hidden_dim=16, **options)
    decoder = TransformerDecoder(30, num_layers=2, hidden_dim=16, **options)
    if options.get("residual") == "scaled":
        assert decoder.blocks[0].residual_scale == pytest.approx(0.5)
    encoded = encoder(SOURCE)
    full = decoder(TARGET, encoder_outputs=encoded)
    cache = decoder.initial_cache(2, max_length=6, encoder_outputs=encoded)
    steps = []
    for index in range(TARGET.shape[1]):
        outputs, cache = decoder(
            TARGET[:, index : index + 1], cache=cache, cache_index=index, encoder_mask=SOURCE != 0
        )
        steps.append(outputs)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_a_cached_step_of_several_tokens_equals_single_steps():
    decoder = TransformerDecoder(30, num_layers=1, hidden_dim=8, num_heads=2)
    full = decoder(TARGET)
    cache = decoder.initial_cache(2, max_length=5)
    first, cache = decoder(TARGET[:, :3], cache=cache, cache_index=0)
    rest, _ = decoder(TARGET[:, 3:], cache=cache, cache_index=3)
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), full, atol=1e-5)


def test_cached_decoding_traces_with_static_cache_shapes():
    decoder = TransformerDecoder(30, num_layers=1, hidden_dim=8)
    decoder(TARGET)
    cache = decoder.initial_cache(2, max_length=5)

    @tf.function
    def step(token_ids, cache, index):
        return decoder(token_ids, cache=cache, cache_index=index)

    _, new_cache = step(TARGET[:, :1], cache, tf.constant(0))
    assert [tuple(tensor.shape) for tensor in new_cache[0]["self"]] == [(2, 5, 1, 8)] * 2


def test_a_cached_step_compiles_with_xla():
    decoder = TransformerDecoder(30, num_layers=1, hidden_dim=8, num_heads=2)
    expected = decoder(TARGET)
    step = tf.function(
        lambda token_ids, cache, index: decoder(token_ids, cache=cache, cache_index=index),
        jit_compile=True,
    )
    cache = decoder.initial_cache(2, max_length=5)
    for index in range(3):
        outputs, cache = step(TARGET[:, index : index + 1], cache, tf.constant(index))
        np.testing.assert_allclose(outputs[:, 0], expected[:, index], atol=1e-5)


def _structure(nested):
    """Nesting and shapes (batch size left out) of a call's results."""
    if isinstance(nested, (tuple, list)):
        return type(nested)(_structure(item) for item in nested)
    if isinstance(nested, dict):
        return {key: _structure(value) for key, value in nested.items()}
    return tuple(nested.shape[1:])


def _symbolic_like(nested):
    """`keras.Input`s shaped as the tensors in `nested`, batch size left free."""
    if isinstance(nested, (tuple, list)):
        return type(nested)(_symbolic_like(item) for item in nested)
    if isinstance(nested, dict):
        return {key: _symbolic_like(value) for key, value in nested.items()}
    return keras.Input(tuple(nested.shape[1:]), dtype=keras.backend.standardize_dtype(nested.dtype))


@pytest.mark.parametrize("cross_attends", [False, True], ids=["decoder_only", "seq2seq"])
def test_a_functional_cached_decoder_step_returns_the_outputs_and_cache_of_the_eager_one(
    cross_attends,
):
    encoder = TransformerEncoder(30, num_layers=1, hidden_dim=16)
    decoder = TransformerDecoder(30, num_layers=2, hidden_dim=16, num_heads=2, num_kv_heads=1)
    encoded = encoder(SOURCE) if cross_attends else None
    decoder(TARGET, encoder_outputs=encoded)
    cache = decoder.initial_cache(2, max_length=6, encoder_outputs=encoded)
    first, cache = decoder(TARGET[:, :2], cache=cache, cache_index=0)
    eager = decoder(TARGET[:, 2:3], cache=cache, cache_index=2)

    token_ids = keras.Input((1,), dtype="int32")
    symbolic_cache = _symbolic_like(cache)
    symbolic = decoder(token_ids, cache=symbolic_cache, cache_index=2)
    assert _structure(symbolic) == _structure(eager)
    outputs, new_cache = keras.Model([token_ids, symbolic_cache], symbolic)(
        [tf.constant(TARGET[:, 2:3]), cache]
    )
    np.testing.assert_allclose(outputs, eager[0], atol=1e-5)
    for got, expected in zip(keras.tree.flatten(new_cache), keras.tree.flatten(eager[1]), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)

    block = decoder.blocks[0]
    stream = keras.Input((1, 16))
    block_cache = _symbolic_like(cache[0])
    symbolic = block(stream, cache=block_cache, cache_index=2, return_attention_scores=True)
    step = np.random.default_rng(0).normal(size=(2, 1, 16)).astype("float32")
    eager = block(step, cache=cache[0], cache_index=2, return_attention_scores=True)
    assert len(symbolic) == 3 and isinstance(symbolic[2], dict)
    assert _structure(symbolic[0]) == _structure(eager[0])
    assert _structure(symbolic[2]) == _structure(eager[2])
    assert (symbolic[1][1] is None) == (eager[1][1] is None)
