"""Single-head (or few-head, grouped/multi-query) dot-product attention."""

import math

import keras
from keras import ops

from keras_simpletf.layers.initializers import clone_initializer
from keras_simpletf.layers.masks import merge_attention_masks, padding_mask_of
from keras_simpletf.layers.validation import (
    check_divides,
    check_positive_int,
    check_rate,
)

# Logit given to disallowed positions; softmax runs in float32, so this is safe.
_MASKED_LOGIT = -1e9


def write_cache(cache, update, index):
    """`cache` with positions `index, index + 1, ...` replaced by `update`.

    `cache` is `(batch, max_length, heads, dim)` and keeps its static shape;
    `update` is `(batch, length, heads, dim)`. Written with a gather and a
    select (no XLA-only ops), so a decoding loop exports to plain TensorFlow.
    """
    offsets = ops.arange(ops.shape(cache)[1]) - index
    length = ops.shape(update)[1]
    inside = ops.logical_and(offsets >= 0, offsets < length)
    spread = ops.take(update, ops.clip(offsets, 0, length - 1), axis=1)
    return ops.where(inside[None, :, None, None], spread, cache)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class SimpleAttention(keras.layers.Layer):
    """Scaled dot-product self- or cross-attention with few heads.

    Self-attention (`context=None`) projects queries, keys and values with one
    fused matrix; cross-attention projects the query from `query` and keys and
    values with one fused matrix from `context`. Which of the two a layer does
    is fixed when it is built. `num_kv_heads < num_heads` shares each key/value
    head among `num_heads // num_kv_heads` query heads (grouped-query;
    `num_kv_heads=1` is multi-query attention). `value_free=True` drops the
    value and output projections: heads attend over slices of the input itself
    (He & Hofmann, 2023). `relative_position_range=R` adds to each head's
    self-attention logits a learned bias for the offset from query to key,
    offsets beyond `R` sharing the bias of `R` (Shaw et al., 2018's clipping,
    a scalar per head and offset as in T5): a head can then look at the next
    or previous token without learning to read it from absolute positions.

    Softmax runs in float32 under mixed precision; the output is in the compute
    dtype and has the width of `query` (of `context` when value-free).

    Args:
        num_heads: int, number of query heads. Defaults to 1.
        key_dim: int, size of each query/key head. Defaults to
            `width // num_heads`, which then requires `num_heads` to divide the
            query width.
        num_kv_heads: int, number of key/value heads; must divide `num_heads`.
            Defaults to `num_heads`.
        value_free: bool, drop the value and output projections.
        relative_position_range: int, the largest query-to-key offset with a
            bias of its own (each head learns `2 * R + 1` biases, starting at
            0); self-attention only. `None`: no relative biases.
        dropout: float, dropout rate on the attention weights.
        use_bias: bool, whether the projections have biases.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, query_length, width)`.
        context: `(batch, key_length, context_width)` for cross-attention, or
            `None` for self-attention.
        mask: boolean `(batch, query_length)` padding mask of `query`; taken
            from the Keras mask `query` carries when not given. It masks keys
            in self-attention and travels on with the output.
        context_mask: boolean `(batch, key_length)` padding mask of `context`;
            taken from the Keras mask `context` carries when not given.
        attention_mask: boolean `(batch, query_length, key_length)`, `True`
            where attention is allowed; combined with the padding masks.
        use_causal_mask: bool, let position `i` attend only to keys `<= i`.
        return_attention_scores: bool, also return the attention weights,
            `(batch, num_heads, query_length, key_length)`.
        training: bool, whether dropout is active.
        cache: `(keys, values)` for incremental decoding, or `None`. In
            self-attention, a fixed-size cache from `initial_cache()`: the
            keys and values of `query` are written into it at `cache_index`
            and the query attends to the cache, causally. In
            cross-attention, `key_values(context)` computed once; `context`
            may then be `None`. With a cache, the call returns the updated
            cache last: `(outputs, cache)` or `(outputs, weights, cache)`.
        cache_index: int scalar, position of the first query token (the
            number of tokens already in a self-attention cache).

    Example:

    ```python
    x = keras.Input(shape=(None, 64))
    y = SimpleAttention()(x)                           # single-head self-attention
    z = SimpleAttention(num_heads=4, num_kv_heads=1)(y, context=x)  # multi-query cross

    step = SimpleAttention()                          # cached decoding, a step at a time
    step.build((None, None, 64))
    cache = step.initial_cache(batch_size=2, max_length=8)
    for index in range(3):
        outputs, cache = step(
            np.ones((2, 1, 64), "float32"), cache=cache, cache_index=index,
            use_causal_mask=True)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Shazeer, 2019](https://arxiv.org/abs/1911.02150) (multi-query)
        - [Ainslie et al., 2023](https://arxiv.org/abs/2305.13245) (grouped-query)
        - [He & Hofmann, 2023](https://arxiv.org/abs/2311.01906) (value-free)
        - [Shaw et al., 2018](https://arxiv.org/abs/1803.02155) and
          [Raffel et al., 2020](https://arxiv.org/abs/1910.10683) (relative
          positions)
    """

    def __init__(
        self,
        num_heads=1,
        key_dim=None,
        num_kv_heads=None,
        value_free=False,
        relative_position_range=None,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.num_kv_heads = check_positive_int(
            "num_kv_heads", num_kv_heads, allow_none=True
        )
        if num_kv_heads is not None:
            check_divides("num_kv_heads", num_kv_heads, "num_heads", num_heads)
        self.value_free = value_free
        self.relative_position_range = check_positive_int(
            "relative_position_range", relative_position_range, allow_none=True
        )
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    @property
    def _kv_heads(self):
        return self.num_kv_heads or self.num_heads

    def _dense(self, units, name, input_width):
        dense = keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )
        dense.build((None, None, input_width))
        return dense

    def build(self, query_shape, context_shape=None):
        width = query_shape[-1]
        self._is_cross_attention = context_shape is not None
        if self._is_cross_attention and self.relative_position_range is not None:
            raise ValueError(
                "`relative_position_range` biases self-attention; a query and a "
                "`context` have no offsets between them. Leave it unset for cross-attention."
            )
        source_width = context_shape[-1] if self._is_cross_attention else width
        if self.key_dim is None:
            check_divides("num_heads", self.num_heads, "the query width", width)
        key_dim = self.key_dim or width // self.num_heads
        if self.value_free:
            check_divides(
                "num_heads", self.num_heads, "the value width", source_width
            )
            value_dim = source_width // self.num_heads
            value_units = 0
        else:
            value_dim = key_dim
            value_units = self._kv_heads * value_dim
        self._head_dims = (key_dim, value_dim)
        kv_units = self._kv_heads * key_dim + value_units
        if self._is_cross_attention:
            self.query_dense = self._dense(
                self.num_heads * key_dim, "query", width
            )
            self.key_value_dense = self._dense(
                kv_units, "key_value", source_width
            )
        else:
            self.query_key_value_dense = self._dense(
                self.num_heads * key_dim + kv_units, "query_key_value", width
            )
        self.output_dense = None
        if not self.value_free:
            self.output_dense = self._dense(
                width, "output", self.num_heads * value_dim
            )
        self.relative_position_bias = None
        if self.relative_position_range is not None:
            self.relative_position_bias = self.add_weight(
                name="relative_position_bias",
                shape=(self.num_heads, 2 * self.relative_position_range + 1),
                initializer="zeros",
            )
        self.weights_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="weights_dropout"
        )

    def _heads(self, tensor, heads, dim):
        batch, length = ops.shape(tensor)[0], ops.shape(tensor)[1]
        return ops.reshape(tensor, (batch, length, heads, dim))

    def _key_value_heads(self, keys, values):
        key_dim, value_dim = self._head_dims
        value_heads = self.num_heads if self.value_free else self._kv_heads
        return (
            self._heads(keys, self._kv_heads, key_dim),
            self._heads(values, value_heads, value_dim),
        )

    def key_values(self, context):
        """The `(keys, values)` heads of `context`: a cross-attention cache.

        Keys are `(batch, key_length, num_kv_heads, key_dim)`; values have
        `num_kv_heads` heads (`num_heads` slices of `context` when value-free).
        Computed once per source, they are passed back as `cache` at every
        decoding step.
        """
        key_units = self._kv_heads * self._head_dims[0]
        kv = self.key_value_dense(context)
        values = context if self.value_free else kv[..., key_units:]
        return self._key_value_heads(kv[..., :key_units], values)

    def initial_cache(self, batch_size, max_length):
        """An empty self-attention cache of `max_length` positions.

        Returns `(keys, values)` of zeros, shaped as `key_values()` returns
        them with `key_length=max_length`, in the compute dtype.
        """
        key_dim, value_dim = self._head_dims
        value_heads = self.num_heads if self.value_free else self._kv_heads
        return (
            ops.zeros((batch_size, max_length, self._kv_heads, key_dim), self.compute_dtype),
            ops.zeros((batch_size, max_length, value_heads, value_dim), self.compute_dtype),
        )

    def _project(self, query, context, cache, cache_index):
        """Query heads, and key and value heads (from `cache` when given)."""
        key_dim = self._head_dims[0]
        query_units = self.num_heads * key_dim
        key_units = self._kv_heads * key_dim
        if self._is_cross_attention:
            q = self.query_dense(query)
            k, v = self.key_values(context) if cache is None else cache
        else:
            qkv = self.query_key_value_dense(query)
            q = qkv[..., :query_units]
            k, v = self._key_value_heads(
                qkv[..., query_units : query_units + key_units],
                query if self.value_free else qkv[..., query_units + key_units :],
            )
            if cache is not None:
                k = write_cache(cache[0], k, cache_index)
                v = write_cache(cache[1], v, cache_index)
        return self._heads(q, self.num_heads, key_dim), k, v

    def projections(self, inputs):
        """The query, key and value heads this self-attention computes from `inputs`.

        What MiniLM's self-attention relation transfer compares
        (`keras_simpletf.distillation.AttentionRelationDistillation`).

        Args:
            inputs: `(batch, length, width)`, what the layer attends over.

        Returns:
            `(queries, keys, values)`: `(batch, length, num_heads, key_dim)`,
            `(batch, length, num_kv_heads, key_dim)` (before they are
            repeated for each query head of their group), and the value heads
            (slices of `inputs` when value-free); queries are not yet scaled.
        """
        if self._is_cross_attention:
            raise ValueError("`projections` are a self-attention's; this layer cross-attends.")
        return self._project(inputs, None, None, None)

    def _relative_bias(self, query_length, key_length, query_offset):
        """`(num_heads, query_length, key_length)` biases for the clipped offsets."""
        span = self.relative_position_range
        queries = ops.arange(query_length) + query_offset
        offsets = ops.arange(key_length)[None, :] - queries[:, None]
        return ops.take(
            ops.cast(self.relative_position_bias, "float32"),
            ops.clip(offsets, -span, span) + span,
            axis=1,
        )

    def _repeat_groups(self, k, v):
        """Keys and values repeated for each query head of their group."""
        group = self.num_heads // self._kv_heads
        if group > 1:
            k = ops.repeat(k, group, axis=2)
            if not self.value_free:
                v = ops.repeat(v, group, axis=2)
        return k, v

    def call(
        self,
        query,
        context=None,
        mask=None,
        context_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_index=None,
    ):
        has_context = context is not None or (
            cache is not None and self._is_cross_attention
        )
        if has_context != self._is_cross_attention:
            built_as = "cross" if self._is_cross_attention else "self"
            raise ValueError(
                f"This SimpleAttention was built for {built_as}-attention; "
                "call it with `context` for cross-attention and without it "
                "for self-attention, consistently."
            )
        self_cache = cache is not None and not self._is_cross_attention
        if self_cache and (cache_index is None or not use_causal_mask):
            raise ValueError(
                "A self-attention cache needs `cache_index` and "
                "`use_causal_mask=True`: it holds the keys of earlier positions."
            )
        if self._is_cross_attention:
            key_mask = padding_mask_of(context, context_mask)
        else:
            # Cached keys are the decoded prefix: no padding among them.
            key_mask = None if self_cache else padding_mask_of(query, mask)
        q, new_k, new_v = self._project(query, context, cache, cache_index)
        k, v = self._repeat_groups(new_k, new_v)
        q = q * ops.cast(1.0 / math.sqrt(self._head_dims[0]), q.dtype)
        logits = ops.cast(ops.einsum("bqhd,bkhd->bhqk", q, k), "float32")
        if self.relative_position_bias is not None:
            logits = logits + self._relative_bias(
                ops.shape(q)[1], ops.shape(k)[1], cache_index if self_cache else 0
            )
        allowed = merge_attention_masks(
            ops.shape(q)[1],
            ops.shape(k)[1],
            key_mask=key_mask,
            attention_mask=attention_mask,
            causal=use_causal_mask,
            query_offset=cache_index if self_cache else 0,
        )
        if allowed is not None:
            logits = ops.where(ops.expand_dims(allowed, axis=1), logits, _MASKED_LOGIT)
        weights = ops.cast(ops.softmax(logits, axis=-1), self.compute_dtype)
        dropped_weights = self.weights_dropout(weights, training=training)
        heads = ops.einsum("bhqk,bkhd->bqhd", dropped_weights, v)
        batch, query_length = ops.shape(heads)[0], ops.shape(heads)[1]
        outputs = ops.reshape(
            heads, (batch, query_length, self.num_heads * self._head_dims[1])
        )
        if self.output_dense is not None:
            outputs = self.output_dense(outputs)
        results = (outputs, weights) if return_attention_scores else (outputs,)
        if cache is not None:
            results += ((new_k, new_v),)
        return results if len(results) > 1 else outputs

    def compute_mask(self, query, previous_mask=None):
        return previous_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            num_kv_heads=self.num_kv_heads,
            value_free=self.value_free,
            relative_position_range=self.relative_position_range,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
