"""Tests for keras_simpletf/layers/attention.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import SimpleAttention
from tests.layers.weights import copy_attention

WIDTH = 16


def random(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def padding_mask(batch, length, lengths):
    return np.arange(length)[None, :] < np.array(lengths)[:, None]


@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_self_attention_equals_keras_multi_head_attention(num_heads):
    x = random(3, 7, WIDTH)
    mask = padding_mask(3, 7, [7, 4, 1])
    reference = keras.layers.MultiHeadAttention(num_heads, key_dim=WIDTH // num_heads)
    expected = reference(x, x, attention_mask=mask[:, None, :])
    ours = SimpleAttention(num_heads=num_heads)
    ours.build(x.shape)
    copy_attention(reference, ours)
    np.testing.assert_allclose(ours(x, mask=mask), expected, atol=1e-5)


def test_cross_attention_equals_keras_multi_head_attention():
    query, context = random(2, 5, WIDTH), random(2, 9, 12)
    context_mask = padding_mask(2, 9, [9, 3])
    reference = keras.layers.MultiHeadAttention(2, key_dim=WIDTH // 2)
    expected, expected_weights = reference(
        query, context, value_mask=context_mask, return_attention_scores=True
    )
    ours = SimpleAttention(num_heads=2)
    ours.build(query.shape, context.shape)
    copy_attention(reference, ours)
    outputs, weights = ours(
        query, context=context, context_mask=context_mask, return_attention_scores=True
    )
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)


def test_grouped_query_attention_equals_keras_group_query_attention():
    x = random(2, 6, WIDTH)
    reference = keras.layers.GroupQueryAttention(
        head_dim=4, num_query_heads=4, num_key_value_heads=2
    )
    expected = reference(x, x, use_causal_mask=True)
    ours = SimpleAttention(num_heads=4, num_kv_heads=2)
    ours.build(x.shape)
    copy_attention(reference, ours)
    np.testing.assert_allclose(ours(x, use_causal_mask=True), expected, atol=1e-5)


def test_single_head_matches_numpy_reference():
    x = random(2, 5, WIDTH)
    mask = padding_mask(2, 5, [5, 3])
    layer = SimpleAttention()
    outputs = keras.ops.convert_to_numpy(layer(x, mask=mask))
    kernel, bias = layer.query_key_value_dense.get_weights()
    q, k, v = np.split(x @ kernel + bias, 3, axis=-1)
    logits = q @ k.transpose(0, 2, 1) / np.sqrt(WIDTH)
    logits = np.where(mask[:, None, :], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out_kernel, out_bias = layer.output_dense.get_weights()
    np.testing.assert_allclose(outputs, weights @ v @ out_kernel + out_bias, atol=1e-5)


def test_value_free_attention_mixes_the_input_itself():
    x = random(2, 5, WIDTH)
    layer = SimpleAttention(num_heads=2, value_free=True)
    outputs, weights = layer(x, return_attention_scores=True)
    heads = x.reshape(2, 5, 2, WIDTH // 2).transpose(0, 2, 1, 3)
    expected = (keras.ops.convert_to_numpy(weights) @ heads).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(outputs, expected.reshape(2, 5, WIDTH), atol=1e-5)
    assert [w.shape for w in layer.trainable_weights] == [(WIDTH, 2 * WIDTH), (2 * WIDTH,)]


def test_multi_query_shares_one_key_value_head():
    layer = SimpleAttention(num_heads=4, num_kv_heads=1)
    layer.build((None, None, WIDTH))
    # 4 query heads of 4 plus one key and one value head of 4.
    assert layer.query_key_value_dense.kernel.shape == (WIDTH, WIDTH + 4 + 4)


def test_causal_outputs_do_not_depend_on_later_positions():
    x = random(1, 6, WIDTH)
    changed = x.copy()
    changed[:, 4:] = random(1, 2, WIDTH) * 10
    layer = SimpleAttention(num_heads=2)
    before = keras.ops.convert_to_numpy(layer(x, use_causal_mask=True))
    after = keras.ops.convert_to_numpy(layer(changed, use_causal_mask=True))
    np.testing.assert_allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:])


def test_padded_keys_do_not_change_real_outputs():
    x = random(1, 6, WIDTH)
    changed = x.copy()
    changed[:, 3:] = 100.0
    mask = padding_mask(1, 6, [3])
    layer = SimpleAttention()
    np.testing.assert_allclose(
        layer(x, mask=mask)[:, :3], layer(changed, mask=mask)[:, :3], atol=1e-6
    )


def test_implicit_keras_mask_is_used():
    token_ids = np.array([[3, 4, 0, 0]])
    embedded = keras.layers.Embedding(10, WIDTH, mask_zero=True)(token_ids)
    layer = SimpleAttention()
    _, weights = layer(embedded, return_attention_scores=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights)[0, 0, :, 2:], 0.0)


def test_attention_dropout_applies_only_in_training():
    x = random(2, 5, WIDTH)
    layer = SimpleAttention(dropout=0.5)
    np.testing.assert_allclose(layer(x), layer(x))
    assert not np.allclose(layer(x, training=True), layer(x))


def test_gradients_reach_every_weight():
    query, context = random(2, 4, WIDTH), random(2, 3, 8)
    layer = SimpleAttention(num_heads=2, num_kv_heads=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(query, context=context) ** 2)
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert len(gradients) == 6  # query, key_value and output kernels and biases
    assert all(np.any(g.numpy() != 0) for g in gradients)


def test_num_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="num_heads"):
        SimpleAttention(num_heads=3).build((None, None, WIDTH))


def test_num_kv_heads_must_divide_num_heads():
    with pytest.raises(ValueError, match=r"num_kv_heads.*\[1, 2, 4\]"):
        SimpleAttention(num_heads=4, num_kv_heads=3)


def test_calling_a_self_attention_layer_with_context_is_an_error():
    layer = SimpleAttention()
    layer(random(1, 2, WIDTH))
    with pytest.raises(ValueError, match="self-attention"):
        layer(random(1, 2, WIDTH), context=random(1, 2, WIDTH))


def test_relative_position_biases_start_at_zero_and_change_nothing_until_trained():
    x = random(2, 6, WIDTH)
    mask = padding_mask(2, 6, [6, 4])
    plain = SimpleAttention(num_heads=2)
    plain.build(x.shape)
    relative = SimpleAttention(num_heads=2, relative_position_range=3)
    relative.build(x.shape)
    for name in ("query_key_value_dense", "output_dense"):
        getattr(relative, name).set_weights(getattr(plain, name).get_weights())
    np.testing.assert_array_equal(relative.relative_position_bias.numpy(), np.zeros((2, 7)))
    np.testing.assert_allclose(relative(x, mask=mask), plain(x, mask=mask), atol=1e-6)


def test_a_relative_position_bias_points_each_head_at_its_offset():
    x = random(1, 8, WIDTH)
    layer = SimpleAttention(num_heads=2, relative_position_range=2)
    layer.build(x.shape)
    biases = np.zeros((2, 5), "float32")
    biases[0, 2 - 1] = 100.0  # head 0: the previous token (offset -1)
    biases[1, 2 + 2] = 100.0  # head 1: two tokens on, and every key farther right
    layer.relative_position_bias.assign(biases)
    kernel, bias = layer.query_key_value_dense.get_weights()
    layer.query_key_value_dense.set_weights([np.zeros_like(kernel), bias])  # content-blind
    _, weights = layer(x, return_attention_scores=True)
    weights = keras.ops.convert_to_numpy(weights)[0]
    np.testing.assert_allclose(np.diag(weights[0], k=-1), 1.0, atol=1e-4)
    # Offsets beyond the range share its bias: query 0 spreads evenly over keys 2..7.
    np.testing.assert_allclose(weights[1, 0, 2:], 1 / 6, atol=1e-4)
    np.testing.assert_allclose(weights[1, 5, 7], 1.0, atol=1e-4)


def test_relative_positions_are_refused_for_cross_attention():
    layer = SimpleAttention(relative_position_range=4)
    with pytest.raises(ValueError, match="relative_position_range.*cross-attention"):
        layer(random(1, 3, WIDTH), context=random(1, 5, WIDTH))


def test_config_round_trip():
    layer = SimpleAttention(
        num_heads=4, key_dim=8, num_kv_heads=2, dropout=0.1, use_bias=False,
        relative_position_range=16,
    )
    assert SimpleAttention.from_config(layer.get_config()).get_config() == layer.get_config()
