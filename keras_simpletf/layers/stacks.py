"""Encoder and decoder stacks: token embedding, position encoding, blocks."""

import math

import keras
from keras import ops

from keras_simpletf.layers.blocks import DecoderBlock, EncoderBlock
from keras_simpletf.layers.position import SinusoidalPositionEncoding
from keras_simpletf.layers.validation import check_positive_int, check_rate


class _Stack(keras.layers.Layer):
    """Token ids -> scaled embedding + sinusoids -> blocks -> (final norm if pre-norm)."""

    block_class = None

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        hidden_dim,
        max_length=512,
        learned_position_mix=False,
        learned_position_offsets=False,
        embedding_dropout=0.0,
        embedding_dim=None,
        residual="add",
        residual_scale=None,
        norm="post",
        **block_kwargs,
    ):
        layer_kwargs = {
            key: block_kwargs.pop(key)
            for key in ("name", "dtype", "trainable")
            if key in block_kwargs
        }
        super().__init__(**layer_kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.max_length = max_length
        self.learned_position_mix = learned_position_mix
        self.learned_position_offsets = learned_position_offsets
        self.embedding_dropout = check_rate("embedding_dropout", embedding_dropout)
        if residual == "scaled" and residual_scale is None:
            residual_scale = 1.0 / math.sqrt(2 * num_layers)
        self.residual = residual
        self.residual_scale = residual_scale
        self.norm = norm
        # Token vectors start with entries of standard deviation 1, as long
        # as the sinusoids they are added to (Vaswani et al. 2017: weights
        # drawn at hidden_dim ** -0.5, multiplied by sqrt(hidden_dim)). At
        # BERT's 0.02 the position signal was 35x longer at width 128 and a
        # classifier trained on SST-2 stayed at chance.
        self.embedding_dim = embedding_dim
        self.embedding_scale = math.sqrt(embedding_dim or hidden_dim)
        self.embedding_projection = None
        if embedding_dim is not None:
            # ALBERT's factorisation: a table embedding_dim wide, scaled as
            # above and projected to the width by a Glorot kernel, which keeps
            # the stream's entries at about unit variance.
            check_positive_int("embedding_dim", embedding_dim)
            self.embedding_projection = keras.layers.Dense(
                hidden_dim, use_bias=False, dtype=self.dtype_policy, name="embedding_projection"
            )
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim or hidden_dim,
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=1.0 / self.embedding_scale
            ),
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.position_encoding = SinusoidalPositionEncoding(
            max_length=max_length,
            learned_mix=learned_position_mix,
            learned_offsets=learned_position_offsets,
            dtype=self.dtype_policy,
            name="position_encoding",
        )
        self.embedding_dropout_layer = keras.layers.Dropout(
            embedding_dropout, dtype=self.dtype_policy, name="embedding_dropout"
        )
        self.blocks = [
            self.block_class(
                residual=residual,
                residual_scale=residual_scale,
                norm=norm,
                dtype=self.dtype_policy,
                name=f"block_{index}",
                **block_kwargs,
            )
            for index in range(num_layers)
        ]
        self._block_kwargs = block_kwargs
        self.final_norm = None
        if norm == "pre":
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=self.blocks[0].layer_norm_epsilon,
                dtype=self.dtype_policy,
                name="final_norm",
            )
        self.supports_masking = True

    def _build_embeddings(self, token_ids_shape):
        stream_shape = (*token_ids_shape, self.hidden_dim)
        self.token_embedding.build(token_ids_shape)
        if self.embedding_projection is not None:
            self.embedding_projection.build((*token_ids_shape, self.embedding_dim))
        self.position_encoding.build(stream_shape)
        if self.final_norm is not None:
            self.final_norm.build(stream_shape)
        return stream_shape

    def _embed(self, token_ids, training, start_index=0):
        stream = self.token_embedding(token_ids)
        stream = stream * ops.cast(self.embedding_scale, stream.dtype)
        if self.embedding_projection is not None:
            stream = self.embedding_projection(stream)
        stream = stream + self.position_encoding(stream, start_index=start_index)
        return self.embedding_dropout_layer(stream, training=training)

    def _finish(self, stream):
        return stream if self.final_norm is None else self.final_norm(stream)

    def compute_mask(self, token_ids, mask=None):
        if mask is not None:
            return ops.cast(mask, "bool")
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, token_ids_shape, *context_shapes):
        """The shape of the stack's outputs: the first result of a cached
        decoder's call (`compute_output_spec` gives the whole structure)."""
        return (*token_ids_shape, self.hidden_dim)

    def compute_output_spec(self, token_ids, *args, **kwargs):
        """The outputs of a call, as a `KerasTensor`, without tracing the stack."""
        return keras.KerasTensor(
            self.compute_output_shape(token_ids.shape), dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            num_layers=self.num_layers,
            hidden_dim=self.hidden_dim,
            max_length=self.max_length,
            learned_position_mix=self.learned_position_mix,
            learned_position_offsets=self.learned_position_offsets,
            embedding_dropout=self.embedding_dropout,
            embedding_dim=self.embedding_dim,
            residual=self.residual,
            residual_scale=self.residual_scale,
            norm=self.norm,
        )
        block_config = self.blocks[0].get_config()
        config.update(
            {key: block_config[key] for key in self._block_kwargs}
        )
        return config


_STACK_ARGS = """
    Args:
        vocabulary_size: int, number of token ids; id 0 is padding.
        num_layers: int, number of blocks.
        hidden_dim: int, model width.
        max_length: int, longest sequence the position encoding accepts.
        learned_position_mix: bool, learn a linear mix of the sinusoids.
        learned_position_offsets: bool, learn an offset for each position
            (BERT's learned positions, over the sinusoids).
        embedding_dropout: float, dropout after embedding + position encoding.
        embedding_dim: int, the token table's width when it differs from
            `hidden_dim`: the table is projected to `hidden_dim` (ALBERT's
            factorised embeddings, Lan et al. 2019). Lets a narrow student
            start from a wide teacher's table. `None`: `hidden_dim`.
        residual: `"add"`, `"rezero"` or `"scaled"`.
        residual_scale: float; with `residual="scaled"` it defaults to
            `1 / sqrt(2 * num_layers)`.
        norm: `"post"`, `"pre"` (adds a final layer norm) or `"none"`.
        **block_kwargs: any other argument of the blocks (`num_heads`,
            `num_kv_heads`, `intermediate_dim`, `value_free`, `layout`,
            `activation`, `dropout`, ...) and base layer arguments.
"""


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TransformerEncoder(_Stack):
    __doc__ = (
        """A stack of `EncoderBlock`s over token ids, masking id 0 unless told.

    Note that `keras_hub.layers.TransformerEncoder` is one block; this is the
    whole stack with its embeddings. The output carries the padding mask, so
    masked pooling layers downstream ignore padded positions.
"""
        + _STACK_ARGS
        + """
    Call arguments:
        token_ids: int `(batch, length)`.
        mask: boolean `(batch, length)`; defaults to `token_ids != 0`.
        training: bool, whether dropout is active.

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    encoder = TransformerEncoder(vocabulary_size=1000, num_layers=2, hidden_dim=64)
    pooled = keras.layers.GlobalAveragePooling1D()(encoder(token_ids))
    model = keras.Model(token_ids, keras.layers.Dense(2)(pooled))
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """
    )

    block_class = EncoderBlock

    def build(self, token_ids_shape):
        stream_shape = self._build_embeddings(token_ids_shape)
        for block in self.blocks:
            block.build(stream_shape)

    def call(self, token_ids, mask=None, training=None):
        padding_mask = self.compute_mask(token_ids, mask)
        stream = self._embed(token_ids, training)
        for block in self.blocks:
            stream = block(stream, mask=padding_mask, training=training)
        return self._finish(stream)

    def self_attention_projections(self, token_ids, mask=None, block=-1, training=None):
        """The query, key and value heads of one block's self-attention over `token_ids`.

        Runs the embeddings and the blocks before `block`, then that block's
        `SimpleAttention.projections`: what MiniLM's relation transfer
        compares (`keras_simpletf.distillation.AttentionRelationDistillation`).

        Args:
            token_ids: int `(batch, length)`.
            mask: boolean `(batch, length)`; defaults to `token_ids != 0`.
            block: int, the block's index (negative counts from the last).
            training: bool, whether dropout is active.

        Returns:
            A dict of `"query"`, `"key"` and `"value"` heads, each
            `(batch, length, heads, head_dim)`.
        """
        padding_mask = self.compute_mask(token_ids, mask)
        stream = self._embed(token_ids, training)
        index = range(self.num_layers)[block]
        for earlier in self.blocks[:index]:
            stream = earlier(stream, mask=padding_mask, training=training)
        chosen = self.blocks[index]
        query, key, value = chosen.self_attention.projections(chosen.attention_inputs(stream))
        return {"query": query, "key": key, "value": value}


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TransformerDecoder(_Stack):
    __doc__ = (
        """A stack of causal `DecoderBlock`s over token ids.

    With `encoder_outputs` each block cross-attends to them (sequence to
    sequence); without, it is a decoder-only language-model stack.
"""
        + _STACK_ARGS
        + """
    Call arguments:
        token_ids: int `(batch, target_length)`.
        encoder_outputs: `(batch, source_length, width)` or `None`; their Keras
            mask (as `TransformerEncoder` sets it) marks source padding.
        mask: boolean `(batch, target_length)`; defaults to `token_ids != 0`.
        encoder_mask: boolean `(batch, source_length)`, overriding the mask
            `encoder_outputs` carry.
        training: bool, whether dropout is active.
        cache: the decoding cache (`initial_cache()`, then what the previous
            step returned), or `None`. With a cache, `token_ids` are the
            tokens from position `cache_index` on (usually one), the source
            comes from the cache and its padding from `encoder_mask`, and
            the call returns `(outputs, cache)`.
        cache_index: int scalar, the position of the first of `token_ids`.

    Example:

    ```python
    source = keras.Input(shape=(None,), dtype="int32")
    target = keras.Input(shape=(None,), dtype="int32")
    encoded = TransformerEncoder(1000, num_layers=2, hidden_dim=64)(source)
    decoded = TransformerDecoder(1000, num_layers=2, hidden_dim=64)(
        target, encoder_outputs=encoded)

    decoder = TransformerDecoder(100, num_layers=2, hidden_dim=16)   # cached decoding
    encoded = np.ones((1, 5, 16), "float32")
    decoder(np.array([[1]]), encoder_outputs=encoded)                # builds it
    cache = decoder.initial_cache(1, max_length=8, encoder_outputs=encoded)
    tokens = np.array([[1]])
    for index in range(3):
        outputs, cache = decoder(tokens, cache=cache, cache_index=index)
        tokens = np.argmax(outputs[:, -1:] @ decoder.token_embedding.embeddings.numpy().T, -1)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """
    )

    block_class = DecoderBlock

    def build(self, token_ids_shape, encoder_outputs_shape=None):
        stream_shape = self._build_embeddings(token_ids_shape)
        for block in self.blocks:
            block.build(stream_shape, encoder_outputs_shape)

    def initial_cache(self, batch_size, max_length, encoder_outputs=None):
        """The decoding cache: one `DecoderBlock.initial_cache()` per block.

        Args:
            batch_size: int, sequences decoded together.
            max_length: int, positions of the fixed-size self-attention
                caches (the longest sequence decoded, start token included).
            encoder_outputs: `(batch_size, source_length, width)`, whose
                keys and values each block computes here, once; `None` for
                a decoder-only stack.
        """
        return [
            block.initial_cache(batch_size, max_length, encoder_outputs)
            for block in self.blocks
        ]

    def call(
        self,
        token_ids,
        encoder_outputs=None,
        mask=None,
        encoder_mask=None,
        training=None,
        cache=None,
        cache_index=None,
    ):
        padding_mask = self.compute_mask(token_ids, mask)
        stream = self._embed(
            token_ids, training, start_index=0 if cache is None else cache_index
        )
        new_cache = []
        for index, block in enumerate(self.blocks):
            outputs = block(
                stream,
                encoder_outputs=encoder_outputs,
                mask=padding_mask,
                encoder_mask=encoder_mask,
                training=training,
                cache=None if cache is None else cache[index],
                cache_index=cache_index,
            )
            if cache is None:
                stream = outputs
            else:
                stream, block_cache = outputs
                new_cache.append(block_cache)
        if cache is None:
            return self._finish(stream)
        return self._finish(stream), new_cache

    def compute_output_spec(
        self,
        token_ids,
        encoder_outputs=None,
        mask=None,
        encoder_mask=None,
        training=None,
        cache=None,
        cache_index=None,
    ):
        """What a call returns, as `KerasTensor`s, without tracing the stack:
        the outputs, and with a `cache` the updated cache, as an eager call."""
        outputs = super().compute_output_spec(token_ids)
        if cache is None:
            return outputs
        stream = keras.KerasTensor(outputs.shape, dtype=self.compute_dtype)
        return outputs, [
            block.compute_output_spec(
                stream,
                encoder_outputs=encoder_outputs,
                cache=block_cache,
                cache_index=cache_index,
            )[1]
            for block, block_cache in zip(self.blocks, cache)
        ]
