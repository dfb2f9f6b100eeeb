"""Encoder and decoder blocks: attention and feed-forward sub-blocks in a chosen layout."""

import inspect

import keras

from keras_simpletf.layers.attention import SimpleAttention
from keras_simpletf.layers.feedforward import FeedForward
from keras_simpletf.layers.initializers import clone_initializer
from keras_simpletf.layers.masks import padding_mask_of
from keras_simpletf.layers.residual import Residual, check_residual
from keras_simpletf.layers.validation import (
    check_choice,
    check_positive_int,
    check_rate,
)

NORM_PLACEMENTS = ("post", "pre", "none")
LAYOUTS = ("sequential", "parallel")


class _Block(keras.layers.Layer):
    """What encoder and decoder blocks share: options, sublayers and layouts.

    A block is a list of sub-blocks (attention, feed-forward, ...), each a
    function of the stream. `"sequential"` applies them one after another,
    each with its own residual and norm; `"parallel"` feeds all of them the
    same (normalised) input and adds all their outputs to the stream.
    """

    def __init__(
        self,
        num_heads=1,
        intermediate_dim=None,
        num_kv_heads=None,
        value_free=False,
        relative_position_range=None,
        activation="gelu",
        dropout=0.0,
        norm="post",
        layout="sequential",
        residual="add",
        residual_scale=None,
        layer_norm_epsilon=1e-5,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int(
            "intermediate_dim", intermediate_dim, allow_none=True
        )
        self.activation = keras.activations.get(activation)
        self.dropout = check_rate("dropout", dropout)
        self.norm = check_choice("norm", norm, NORM_PLACEMENTS)
        self.layout = check_choice("layout", layout, LAYOUTS)
        check_residual(residual, residual_scale, "residual", "residual_scale")
        self.residual = residual
        self.residual_scale = residual_scale
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self.self_attention = self._new_attention(
            "self_attention", num_heads, num_kv_heads, value_free, relative_position_range
        )
        self.feedforward = FeedForward(
            hidden_dim=self.intermediate_dim,
            activation=self.activation,
            use_bias=use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward",
        )

    @property
    def num_heads(self):
        return self.self_attention.num_heads

    @property
    def num_kv_heads(self):
        return self.self_attention.num_kv_heads

    @property
    def value_free(self):
        return self.self_attention.value_free

    @property
    def relative_position_range(self):
        return self.self_attention.relative_position_range

    def _new_attention(
        self, name, num_heads, num_kv_heads, value_free, relative_position_range=None
    ):
        return SimpleAttention(
            num_heads=num_heads,
            num_kv_heads=num_kv_heads,
            value_free=value_free,
            relative_position_range=relative_position_range,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def _build_sub_blocks(self, names, inputs_shape):
        """Residuals and norms for the named sub-blocks, in this layout."""
        self._residuals = []
        for name in names:
            residual = Residual(
                self.residual,
                scale=self.residual_scale,
                dropout=self.dropout,
                dtype=self.dtype_policy,
                name=f"{name}_residual",
            )
            residual.build(inputs_shape, inputs_shape)
            self._residuals.append(residual)
        self._norms = []
        if self.norm != "none":
            norm_names = (
                [f"{name}_norm" for name in names]
                if self.layout == "sequential"
                else ["norm"]
            )
            for name in norm_names:
                norm = keras.layers.LayerNormalization(
                    epsilon=self.layer_norm_epsilon,
                    dtype=self.dtype_policy,
                    name=name,
                )
                norm.build(inputs_shape)
                self._norms.append(norm)

    def _run_sub_blocks(self, stream, sub_blocks, training):
        """Applies `sub_blocks` (functions of the stream) in this layout."""
        if self.layout == "parallel":
            shared = self._norms[0](stream) if self.norm == "pre" else stream
            for residual, sub_block in zip(self._residuals, sub_blocks):
                stream = residual(stream, sub_block(shared), training=training)
            return self._norms[0](stream) if self.norm == "post" else stream
        for index, (residual, sub_block) in enumerate(
            zip(self._residuals, sub_blocks)
        ):
            norm = self._norms[index] if self._norms else None
            branch_input = norm(stream) if self.norm == "pre" else stream
            stream = residual(stream, sub_block(branch_input), training=training)
            if self.norm == "post":
                stream = norm(stream)
        return stream

    def compute_output_shape(self, inputs_shape, *context_shapes):
        """The shape of the block's outputs: the first result of a call that
        also returns attention scores or a cache (`compute_output_spec` gives
        the whole structure)."""
        return inputs_shape

    def compute_output_spec(self, *args, **kwargs):
        """What a call returns, as `KerasTensor`s, without tracing the block.

        The same structure as an eager call: the outputs, then the attention
        scores and the updated cache when the call asks for them.
        """
        arguments = inspect.signature(self.call).bind(*args, **kwargs).arguments
        return self._output_spec(arguments)

    def _spec(self, shape, dtype=None):
        return keras.KerasTensor(tuple(shape), dtype=dtype or self.compute_dtype)

    def _scores_spec(self, inputs, key_length):
        """`(batch, num_heads, length, key_length)` attention weights over `inputs`."""
        return self._spec((inputs.shape[0], self.num_heads, inputs.shape[1], key_length))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            num_kv_heads=self.num_kv_heads,
            value_free=self.value_free,
            relative_position_range=self.relative_position_range,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            norm=self.norm,
            layout=self.layout,
            residual=self.residual,
            residual_scale=self.residual_scale,
            layer_norm_epsilon=self.layer_norm_epsilon,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


_BLOCK_ARGS = """
    Args:
        num_heads: int, attention heads. Defaults to 1.
        intermediate_dim: int, hidden width of the feed-forward. Defaults to
            four times the model width.
        num_kv_heads: int, key/value heads (grouped-query; 1 is multi-query).
            Must divide `num_heads`. Defaults to `num_heads`.
        value_free: bool, attention without value and output projections.
        relative_position_range: int, learned self-attention biases for
            query-to-key offsets up to this far (`SimpleAttention`); the
            cross-attention has none. `None`: no relative biases.
        activation: activation of the feed-forward hidden layer.
        dropout: float, dropout on attention weights and on each sub-block's
            output before it joins the residual stream.
        norm: where layer norms go: `"post"` (after each residual, as BERT),
            `"pre"` (before each sub-block, as GPT-2) or `"none"`.
        layout: `"sequential"` (sub-blocks one after another) or `"parallel"`
            (all sub-blocks read the same input and their outputs are summed).
        residual: `"add"`, `"rezero"` (learned scalar gates from 0) or
            `"scaled"` (branches multiplied by `residual_scale`).
        residual_scale: float, the branch scale with `residual="scaled"`.
        layer_norm_epsilon: float, epsilon of the layer norms.
        use_bias: bool, whether projections and the feed-forward have biases.
        kernel_initializer: initializer of all kernels.
        bias_initializer: initializer of all biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).
"""


@keras.saving.register_keras_serializable(package="keras_simpletf")
class EncoderBlock(_Block):
    __doc__ = (
        """Self-attention and a one-hidden-layer feed-forward, each residual.

    With `norm="post"`, `layout="sequential"`, `residual="add"` and
    `num_heads=H` this is exactly `keras_hub.layers.TransformerEncoder` with
    `H` heads (the tests copy weights across and compare outputs); every other
    setting simplifies that block.
"""
        + _BLOCK_ARGS
        + """
    Call arguments:
        inputs: `(batch, length, width)`.
        mask: boolean `(batch, length)` padding mask, `True` for real tokens;
            taken from the Keras mask `inputs` carry when not given.
        attention_mask: boolean `(batch, length, length)`, combined with it.
        return_attention_scores: bool, also return the attention weights.
        training: bool, whether dropout is active.

    Example:

    ```python
    tokens = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(1000, 64, mask_zero=True)(tokens)
    x = EncoderBlock(layout="parallel", residual="rezero")(x)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Xiong et al., 2020](https://arxiv.org/abs/2002.04745) (pre-norm)
        - [Wang & Komatsuzaki, 2021](https://github.com/kingoflolz/mesh-transformer-jax)
          (parallel layout, GPT-J)
        - [He & Hofmann, 2023](https://arxiv.org/abs/2311.01906)
    """
    )

    def build(self, inputs_shape):
        self.self_attention.build(inputs_shape)
        self.feedforward.build(inputs_shape)
        self._build_sub_blocks(("self_attention", "feedforward"), inputs_shape)

    def attention_inputs(self, inputs):
        """What the self-attention reads of the block's `inputs`: their layer
        norm under pre-norm (the parallel layout's shared one), else `inputs`."""
        return self._norms[0](inputs) if self.norm == "pre" else inputs

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        padding_mask = padding_mask_of(inputs, mask)
        scores = []

        def attend(stream):
            outputs, weights = self.self_attention(
                stream,
                mask=padding_mask,
                attention_mask=attention_mask,
                return_attention_scores=True,
                training=training,
            )
            scores.append(weights)
            return outputs

        def feed_forward(stream):
            return self.feedforward(stream, training=training)

        outputs = self._run_sub_blocks(inputs, (attend, feed_forward), training)
        if return_attention_scores:
            return outputs, scores[0]
        return outputs

    def _output_spec(self, arguments):
        inputs = arguments["inputs"]
        outputs = self._spec(inputs.shape)
        if arguments.get("return_attention_scores"):
            return outputs, self._scores_spec(inputs, inputs.shape[1])
        return outputs


@keras.saving.register_keras_serializable(package="keras_simpletf")
class DecoderBlock(_Block):
    __doc__ = (
        """Causal self-attention, cross-attention over encoder outputs, feed-forward.

    Called without `encoder_outputs` when first built, the block has no
    cross-attention (a decoder-only block). Cross-attention uses the same
    head settings as self-attention.
"""
        + _BLOCK_ARGS
        + """
    Call arguments:
        inputs: `(batch, target_length, width)`.
        encoder_outputs: `(batch, source_length, encoder_width)` or `None`.
        mask: boolean `(batch, target_length)` padding mask of `inputs`; taken
            from their Keras mask when not given.
        encoder_mask: boolean `(batch, source_length)` padding mask of
            `encoder_outputs`; taken from their Keras mask when not given.
        attention_mask: boolean `(batch, target_length, target_length)` for
            self-attention, combined with the causal mask.
        use_causal_mask: bool, defaults to `True`.
        return_attention_scores: bool, also return
            `(self_attention_weights, cross_attention_weights or None)`.
        training: bool, whether dropout is active.
        cache: the block's decoding cache (`initial_cache()`, then what the
            previous step returned), or `None`. With a cache, `inputs` are
            the tokens from position `cache_index` on, `encoder_outputs` may
            be `None` (their keys and values are in the cache), the source
            padding mask comes from `encoder_mask`, and the updated cache is
            returned last.
        cache_index: int scalar, the position of the first of `inputs`.

    Example:

    ```python
    source = keras.Input(shape=(None, 64))
    target = keras.Input(shape=(None, 64))
    y = DecoderBlock(num_heads=2, num_kv_heads=1)(target, encoder_outputs=source)

    block = DecoderBlock(num_heads=2)                 # cached decoding, a step at a time
    encoded = np.ones((1, 5, 64), "float32")
    block(np.ones((1, 1, 64), "float32"), encoder_outputs=encoded)   # builds it
    cache = block.initial_cache(1, max_length=8, encoder_outputs=encoded)
    step, cache = block(np.ones((1, 1, 64), "float32"), cache=cache, cache_index=0)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Shazeer, 2019](https://arxiv.org/abs/1911.02150) (multi-query)
    """
    )

    def build(self, inputs_shape, encoder_outputs_shape=None):
        self.self_attention.build(inputs_shape)
        names = ["self_attention", "feedforward"]
        self.cross_attention = None
        if encoder_outputs_shape is not None:
            self.cross_attention = self._new_attention(
                "cross_attention", self.num_heads, self.num_kv_heads, self.value_free
            )
            self.cross_attention.build(inputs_shape, encoder_outputs_shape)
            names.insert(1, "cross_attention")
        self.feedforward.build(inputs_shape)
        self._build_sub_blocks(names, inputs_shape)

    def initial_cache(self, batch_size, max_length, encoder_outputs=None):
        """The decoding cache of this block: `{"self": ..., "cross": ...}`.

        `"self"` is an empty fixed-size self-attention cache of `max_length`
        positions; `"cross"` (when the block cross-attends) the keys and
        values of `encoder_outputs`, computed here once per source.
        """
        cache = {"self": self.self_attention.initial_cache(batch_size, max_length)}
        if self.cross_attention is not None:
            cache["cross"] = self.cross_attention.key_values(encoder_outputs)
        return cache

    def _check_cross_attends(self, encoder_outputs, cache):
        """Whether a call with these arguments cross-attends; raises unless
        the block was built that way."""
        cross_attends = encoder_outputs is not None or (
            cache is not None and "cross" in cache
        )
        if cross_attends != (self.cross_attention is not None):
            raise ValueError(
                "This DecoderBlock was built "
                + ("without" if self.cross_attention is None else "with")
                + " `encoder_outputs`; call it the same way every time."
            )
        return cross_attends

    def call(
        self,
        inputs,
        encoder_outputs=None,
        mask=None,
        encoder_mask=None,
        attention_mask=None,
        use_causal_mask=True,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_index=None,
    ):
        cross_attends = self._check_cross_attends(encoder_outputs, cache)
        padding_mask = padding_mask_of(inputs, mask)
        scores = {}
        new_cache = {}

        def attend(name, attention, stream, **kwargs):
            if cache is not None:
                kwargs.update(cache=cache[name], cache_index=cache_index)
            outputs = attention(
                stream,
                mask=padding_mask,
                return_attention_scores=True,
                training=training,
                **kwargs,
            )
            scores[name] = outputs[1]
            if cache is not None:
                new_cache[name] = outputs[2]
            return outputs[0]

        def self_attend(stream):
            return attend(
                "self",
                self.self_attention,
                stream,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
            )

        def cross_attend(stream):
            return attend(
                "cross",
                self.cross_attention,
                stream,
                context=encoder_outputs,
                context_mask=padding_mask_of(encoder_outputs, encoder_mask),
            )

        def feed_forward(stream):
            return self.feedforward(stream, training=training)

        sub_blocks = [self_attend, feed_forward]
        if cross_attends:
            sub_blocks.insert(1, cross_attend)
        outputs = self._run_sub_blocks(inputs, sub_blocks, training)
        results = (outputs,)
        if return_attention_scores:
            results += ((scores["self"], scores.get("cross")),)
        if cache is not None:
            results += (new_cache,)
        return results if len(results) > 1 else outputs

    def _output_spec(self, arguments):
        inputs = arguments["inputs"]
        encoder_outputs = arguments.get("encoder_outputs")
        cache = arguments.get("cache")
        cross_attends = self._check_cross_attends(encoder_outputs, cache)
        outputs = self._spec(inputs.shape)
        results = (outputs,)
        if arguments.get("return_attention_scores"):
            keys = inputs if cache is None else cache["self"][0]
            cross_scores = None
            if cross_attends:
                source = encoder_outputs if cache is None else cache["cross"][0]
                cross_scores = self._scores_spec(inputs, source.shape[1])
            results += ((self._scores_spec(inputs, keys.shape[1]), cross_scores),)
        if cache is not None:
            # The self-attention cache is written at `cache_index`, keeping its
            # shape; the cross-attention's keys and values come back as given.
            new_cache = {
                "self": tuple(
                    self._spec(
                        tensor.shape,
                        keras.backend.result_type(tensor.dtype, self.compute_dtype),
                    )
                    for tensor in cache["self"]
                )
            }
            if cross_attends:
                new_cache["cross"] = tuple(
                    self._spec(tensor.shape, tensor.dtype) for tensor in cache["cross"]
                )
            results += (new_cache,)
        return results if len(results) > 1 else outputs

    def symbolic_call(self, *args, **kwargs):
        # The scores of a block without cross-attention end in `None`, as in
        # an eager call, but the node Keras records for a symbolic call holds
        # tensors only: it gets an empty stand-in there, which `__call__`
        # turns back into `None`. Running the graph, the eager call returns
        # `None` in its place, and nothing can be connected to it.
        return _with_stand_ins(self.compute_output_spec(*args, **kwargs))

    def __call__(self, *args, **kwargs):
        outputs = super().__call__(*args, **kwargs)
        return _without_stand_ins(outputs) if isinstance(outputs, tuple) else outputs


class _StandIn(keras.KerasTensor):
    """An empty tensor where a symbolic call's results hold `None`."""


def _with_stand_ins(structure):
    """`structure` with each `None` replaced by a `_StandIn`."""
    if structure is None:
        return _StandIn((0,))
    if isinstance(structure, (tuple, list)):
        return type(structure)(_with_stand_ins(item) for item in structure)
    if isinstance(structure, dict):
        return {key: _with_stand_ins(value) for key, value in structure.items()}
    return structure


def _without_stand_ins(structure):
    """`structure` with each `_StandIn` replaced by `None`."""
    if isinstance(structure, _StandIn):
        return None
    if isinstance(structure, (tuple, list)):
        return type(structure)(_without_stand_ins(item) for item in structure)
    if isinstance(structure, dict):
        return {key: _without_stand_ins(value) for key, value in structure.items()}
    return structure
