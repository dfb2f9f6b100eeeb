"""Copies weights from Keras and keras-hub reference layers into ours."""

import numpy as np


def flat_kernel(einsum_dense):
    """An `(input, heads, dim)` EinsumDense kernel as `(input, heads * dim)`."""
    kernel = einsum_dense.kernel.numpy()
    return kernel.reshape(kernel.shape[0], -1)


def flat_bias(einsum_dense):
    return einsum_dense.bias.numpy().reshape(-1)


def copy_attention(reference, ours):
    """Copies a `MultiHeadAttention` or `GroupedQueryAttention` into `SimpleAttention`."""
    query = reference._query_dense
    key = reference._key_dense
    value = reference._value_dense
    output = reference._output_dense
    if ours._is_cross_attention:
        ours.query_dense.set_weights([flat_kernel(query), flat_bias(query)])
        ours.key_value_dense.set_weights(
            [
                np.concatenate([flat_kernel(key), flat_kernel(value)], axis=1),
                np.concatenate([flat_bias(key), flat_bias(value)]),
            ]
        )
    else:
        ours.query_key_value_dense.set_weights(
            [
                np.concatenate([flat_kernel(d) for d in (query, key, value)], axis=1),
                np.concatenate([flat_bias(d) for d in (query, key, value)]),
            ]
        )
    out_kernel = output.kernel.numpy()
    ours.output_dense.set_weights(
        [out_kernel.reshape(-1, out_kernel.shape[-1]), output.bias.numpy()]
    )


def copy_keras_hub_encoder(reference, ours):
    """Copies a `keras_hub.layers.TransformerEncoder` into a post-norm `EncoderBlock`."""
    copy_attention(reference._self_attention_layer, ours.self_attention)
    ours.feedforward.hidden_dense.set_weights(
        reference._feedforward_intermediate_dense.get_weights()
    )
    ours.feedforward.output_dense.set_weights(
        reference._feedforward_output_dense.get_weights()
    )
    attention_norm, feedforward_norm = ours._norms
    attention_norm.set_weights(reference._self_attention_layer_norm.get_weights())
    feedforward_norm.set_weights(reference._feedforward_layer_norm.get_weights())
