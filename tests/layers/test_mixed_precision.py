"""The layers under `mixed_bfloat16` and `mixed_float16` policies."""

import keras
import numpy as np
import pytest

from keras_simpletf import layers

TOKENS = np.array([[5, 6, 7, 8, 0, 0], [9, 3, 2, 0, 0, 0]], "int32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("stack_class", [layers.TransformerEncoder, layers.TransformerDecoder])
def test_variables_stay_float32_and_outputs_use_the_compute_dtype(policy, stack_class):
    keras.mixed_precision.set_global_policy(policy)
    stack = stack_class(
        vocabulary_size=20,
        num_layers=2,
        hidden_dim=8,
        num_heads=2,
        residual="rezero",
        learned_position_mix=True,
        relative_position_range=3,
    )
    outputs = stack(TOKENS)
    compute_dtype = policy.split("_")[1]
    assert outputs.dtype == compute_dtype
    assert {w.dtype for w in stack.weights} == {"float32"}
    assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32"))).all()


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_attention_softmax_and_norms_run_in_float32(policy):
    x = np.random.default_rng(0).normal(size=(2, 64, 16)).astype("float32")
    reference = layers.EncoderBlock(num_heads=2)
    expected, expected_weights = reference(x, return_attention_scores=True)
    keras.mixed_precision.set_global_policy(policy)
    block = layers.EncoderBlock(num_heads=2)
    block.build(x.shape)
    block.set_weights(reference.get_weights())
    outputs, weights = block(x, return_attention_scores=True)
    weights = keras.ops.convert_to_numpy(keras.ops.cast(weights, "float32"))
    # Rows of weights still sum to one to the precision of the compute dtype.
    tolerance = 2e-2 if policy == "mixed_bfloat16" else 2e-3
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=tolerance)
    np.testing.assert_allclose(weights, expected_weights, atol=tolerance)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32")),
        expected,
        atol=10 * tolerance,
    )
