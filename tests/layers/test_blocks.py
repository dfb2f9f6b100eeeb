"""Tests for keras_simpletf/layers/blocks.py."""

import itertools

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import DecoderBlock, EncoderBlock
from tests.layers.weights import copy_keras_hub_encoder

WIDTH = 16
LAYOUTS = list(
    itertools.product(["post", "pre", "none"], ["sequential", "parallel"], ["add", "rezero", "scaled"])
)


def random(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def block_kwargs(norm, layout, residual):
    return dict(
        num_heads=2,
        intermediate_dim=24,
        norm=norm,
        layout=layout,
        residual=residual,
        residual_scale=0.5 if residual == "scaled" else None,
    )


def open_rezero_gates(block):
    """ReZero gates start at 0, which blocks all gradient into the branches."""
    for weight in block.trainable_weights:
        if weight.path.endswith("gate"):
            weight.assign(0.5)


@pytest.mark.parametrize("num_heads", [1, 2])
def test_post_norm_block_equals_keras_hub_transformer_encoder(num_heads):
    x = random(3, 6, WIDTH)
    mask = np.arange(6)[None, :] < np.array([[6], [4], [2]])
    reference = keras_hub.layers.TransformerEncoder(intermediate_dim=24, num_heads=num_heads)
    expected = reference(x, padding_mask=mask)
    ours = EncoderBlock(num_heads=num_heads, intermediate_dim=24, activation="relu")
    ours.build(x.shape)
    copy_keras_hub_encoder(reference, ours)
    np.testing.assert_allclose(ours(x, mask=mask), expected, atol=1e-5)


def test_pre_norm_block_equals_keras_hub_normalize_first():
    x = random(2, 5, WIDTH)
    reference = keras_hub.layers.TransformerEncoder(24, 2, normalize_first=True)
    expected = reference(x)
    ours = EncoderBlock(num_heads=2, intermediate_dim=24, activation="relu", norm="pre")
    ours.build(x.shape)
    copy_keras_hub_encoder(reference, ours)
    np.testing.assert_allclose(ours(x), expected, atol=1e-5)


def test_parallel_layout_sums_both_branches_of_one_normalised_input():
    x = random(2, 5, WIDTH)
    block = EncoderBlock(num_heads=2, layout="parallel", norm="pre")
    outputs = block(x)
    normalised = block._norms[0](x)
    expected = x + block.self_attention(normalised) + block.feedforward(normalised)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


@pytest.mark.parametrize("norm,layout,residual", LAYOUTS)
def test_every_layout_ignores_padding_and_trains_every_weight(norm, layout, residual):
    x = random(2, 6, WIDTH)
    changed = x.copy()
    changed[:, 4:] = random(2, 2, WIDTH, seed=1) * 10
    mask = np.arange(6)[None, :] < 4
    mask = np.repeat(mask, 2, axis=0)
    block = EncoderBlock(**block_kwargs(norm, layout, residual))
    block.build(x.shape)
    open_rezero_gates(block)
    np.testing.assert_allclose(
        block(x, mask=mask)[:, :4], block(changed, mask=mask)[:, :4], atol=1e-5
    )
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(block(x, mask=mask) ** 2)
    gradients = tape.gradient(loss, block.trainable_weights)
    assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)


def test_rezero_block_starts_as_identity():
    x = random(2, 5, WIDTH)
    block = EncoderBlock(residual="rezero", norm="none")
    np.testing.assert_allclose(block(x), x)


def test_decoder_block_is_causal_and_ignores_source_padding():
    target, source = random(2, 6, WIDTH), random(2, 4, WIDTH)
    source_mask = np.array([[True] * 4, [True, True, False, False]])
    block = DecoderBlock(num_heads=2, num_kv_heads=1)
    before = keras.ops.convert_to_numpy(
        block(target, encoder_outputs=source, encoder_mask=source_mask)
    )
    changed_target = target.copy()
    changed_target[:, 3:] += 5.0
    changed_source = source.copy()
    changed_source[1, 2:] += 5.0
    after = keras.ops.convert_to_numpy(
        block(changed_target, encoder_outputs=changed_source, encoder_mask=source_mask)
    )
    np.testing.assert_allclose(before[:, :3], after[:, :3], atol=1e-5)


@pytest.mark.parametrize("norm,layout,residual", LAYOUTS)
def test_decoder_block_trains_every_weight(norm, layout, residual):
    target, source = random(2, 5, WIDTH), random(2, 3, 8)
    block = DecoderBlock(**block_kwargs(norm, layout, residual))
    block.build(target.shape, source.shape)
    open_rezero_gates(block)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(block(target, encoder_outputs=source) ** 2)
    gradients = tape.gradient(loss, block.trainable_weights)
    assert len(gradients) > 0
    assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)


def test_decoder_only_block_has_no_cross_attention():
    block = DecoderBlock()
    outputs, (self_weights, cross_weights) = block(
        random(1, 4, WIDTH), return_attention_scores=True
    )
    assert outputs.shape == (1, 4, WIDTH) and cross_weights is None
    np.testing.assert_allclose(np.triu(self_weights[0, 0], k=1), 0.0)
    with pytest.raises(ValueError, match="without `encoder_outputs`"):
        block(random(1, 4, WIDTH), encoder_outputs=random(1, 2, WIDTH))


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        (dict(norm="middle"), "norm"),
        (dict(layout="diagonal"), "layout"),
        (dict(residual="gated"), "residual"),
        (dict(residual="scaled"), "residual_scale"),
        (dict(num_heads=4, num_kv_heads=3), "num_kv_heads"),
        (dict(dropout=-0.1), "dropout"),
    ],
)
def test_bad_configuration_fails_at_construction_naming_the_argument(kwargs, argument):
    for block_class in (EncoderBlock, DecoderBlock):
        with pytest.raises(ValueError, match=f"`{argument}`"):
            block_class(**kwargs)


def test_num_heads_not_dividing_the_width_fails_at_build():
    with pytest.raises(ValueError, match="`num_heads`=3 must divide"):
        EncoderBlock(num_heads=3).build((None, None, WIDTH))


@pytest.mark.parametrize("block_class", [EncoderBlock, DecoderBlock])
def test_config_round_trip(block_class):
    block = block_class(
        num_heads=4,
        intermediate_dim=32,
        num_kv_heads=2,
        value_free=True,
        activation="relu",
        dropout=0.1,
        norm="pre",
        layout="parallel",
        residual="scaled",
        residual_scale=0.3,
        layer_norm_epsilon=1e-6,
        use_bias=False,
    )
    config = block.get_config()
    assert block_class.from_config(config).get_config() == config


def nested_shapes(structure):
    """The nesting of `structure` with each tensor's rank in its place (None stays None)."""
    if structure is None:
        return None
    if isinstance(structure, (tuple, list)):
        return type(structure)(nested_shapes(item) for item in structure)
    if isinstance(structure, dict):
        return {key: nested_shapes(value) for key, value in structure.items()}
    return len(structure.shape)


def tensors_of(structure):
    """The tensors in `structure`, in order, skipping None."""
    return [tensor for tensor in keras.tree.flatten(structure) if tensor is not None]


@pytest.mark.parametrize(
    "block_class,cross_attends",
    [(EncoderBlock, False), (DecoderBlock, False), (DecoderBlock, True)],
    ids=["encoder", "decoder_only", "decoder"],
)
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_a_functional_model_returns_the_attention_scores_the_eager_block_returns(
    block_class, cross_attends, dtype
):
    block = block_class(num_heads=2, intermediate_dim=24, dtype=dtype)
    x, source = random(2, 5, WIDTH), random(2, 3, 8, seed=1)
    context = dict(encoder_outputs=source) if cross_attends else {}
    eager = block(x, return_attention_scores=True, **context)

    inputs = {"x": keras.Input((None, WIDTH), name="x")}
    if cross_attends:
        inputs["source"] = keras.Input((None, 8), name="source")
        context = dict(encoder_outputs=inputs["source"])
    symbolic = block(inputs["x"], return_attention_scores=True, **context)
    assert nested_shapes(symbolic) == nested_shapes(eager)
    assert [t.dtype for t in tensors_of(symbolic)] == [
        keras.backend.standardize_dtype(t.dtype) for t in tensors_of(eager)
    ]
    model = keras.Model(inputs, tensors_of(symbolic))
    outputs = model({"x": x, "source": source} if cross_attends else {"x": x})
    for got, expected in zip(outputs, tensors_of(eager), strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(keras.ops.cast(got, "float32")),
            keras.ops.convert_to_numpy(keras.ops.cast(expected, "float32")),
            atol=1e-5,
        )
