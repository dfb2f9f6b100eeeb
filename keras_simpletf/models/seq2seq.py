"""Sequence to sequence: an encoder (ours or a pretrained BERT) and our cross-attending decoder, trained with label smoothing, decoded in-graph."""

import keras
import keras_hub
import tensorflow as tf
from keras import ops

from keras_simpletf import generation
from keras_simpletf.layers import TransformerDecoder, TransformerEncoder
from keras_simpletf.models.fine_tuning import averaging_momentum, transformer_optimizer
from keras_simpletf.models.task import freeze_pooler, sequence_output
from keras_simpletf.models.tracing import BuildsBeforeTracing

# Logit of the tokens a decoder must never produce (padding, the start token).
_NEVER_LOGIT = -1e9
# Vaswani et al. (2017), section 6.1: outputs up to the input length + 50.
EXTRA_OUTPUT_LENGTH = 50
# The peak learning rate of a pretrained encoder under a fresh decoder; see
# `Seq2SeqTransformer.default_optimizer`.
PRETRAINED_ENCODER_LEARNING_RATE = 1e-4


@keras.saving.register_keras_serializable(package="keras_simpletf")
class LabelSmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of logits against label-smoothed one-hot targets, averaged over real tokens.

    Keras' `categorical_crossentropy(label_smoothing=...)` over one-hot rows
    of the integer targets; positions whose target is `padding_id` weigh 0,
    and the loss of a batch is the mean over its other tokens.

    Args:
        label_smoothing: float in [0, 1), the probability mass spread evenly
            over the vocabulary (0.1 in Vaswani et al., 2017).
        padding_id: int, the target id that marks padding.
        **kwargs: `keras.losses.Loss` arguments (`name`, ...).

    Example:

    ```python
    loss = LabelSmoothedCrossEntropy(0.1)
    logits = np.zeros((1, 3, 5), "float32")
    float(loss(np.array([[3, 4, 0]]), logits))   # log(5): two real tokens, uniform logits
    ```

    References:
        - [Szegedy et al., 2016](https://arxiv.org/abs/1512.00567) (label smoothing)
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(self, label_smoothing=0.1, padding_id=0, name="label_smoothed_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = label_smoothing
        self.padding_id = padding_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        losses = keras.losses.categorical_crossentropy(
            ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype),
            y_pred,
            from_logits=True,
            label_smoothing=self.label_smoothing,
        )
        real = ops.cast(ops.not_equal(y_true, self.padding_id), losses.dtype)
        # Keras averages over all positions; rescale so that is the mean over real tokens.
        share = ops.cast(ops.size(real), losses.dtype) / ops.maximum(ops.sum(real), 1.0)
        return losses * real * share

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "padding_id": self.padding_id,
        }


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TokenAccuracy(keras.metrics.Mean):
    """The share of real (non-padding) target tokens whose logit is the largest.

    Args:
        padding_id: int, the target id that marks padding.
        name: str, the metric's name.
        **kwargs: `keras.metrics.Mean` arguments (`dtype`).

    Example:

    ```python
    accuracy = TokenAccuracy()
    accuracy.update_state(np.array([[1, 2, 0]]), np.eye(3)[None, [1, 0, 0]])
    float(accuracy.result())   # 0.5: the padding position does not count
    ```
    """

    def __init__(self, padding_id=0, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.padding_id = padding_id

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        correct = ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true)
        weights = ops.cast(ops.not_equal(y_true, self.padding_id), "float32")
        if sample_weight is not None:
            weights = weights * ops.cast(sample_weight, "float32")
        super().update_state(ops.cast(correct, "float32"), sample_weight=weights)

    def get_config(self):
        return {**super().get_config(), "padding_id": self.padding_id}


@keras.saving.register_keras_serializable(package="keras_simpletf")
class Seq2SeqTransformer(BuildsBeforeTracing, keras.Model):
    """An encoder-decoder Transformer of our blocks, with in-graph greedy, beam and sampled decoding.

    A `TransformerEncoder` reads `source_ids`; a `TransformerDecoder`
    reads `target_in_ids` (the target after a start token), attending
    causally to itself and across to the encoder's outputs; a projection
    onto the target vocabulary gives float32 logits for `target_out_ids`
    (the target then an end token). Id 0 is padding on both sides: it is
    masked in attention and ignored by `default_loss()`. Every block option
    of our layers is an argument (heads, grouped or multi-query keys and
    values, value-free attention, parallel layout, norm position, residual).

    The encoder may instead be any backbone the task models take, given as
    `encoder`: a pretrained keras-hub BERT (`load_bert_backbone`) is warm
    started under a randomly initialised decoder as wide as it (Rothe et
    al., 2020, "BERT2RND"; Liu & Lapata, 2019). `source_ids` are then its
    token ids as `keras_simpletf.text.ClassificationPreprocessor` makes them
    (`[CLS] ... [SEP]`, padding id 0: `Seq2SeqPreprocessor` takes one as its
    source side), read as one segment with the padding mask of id 0. The
    targets keep their own vocabulary (`target_vocabulary_size`); the
    encoder keeps its embeddings, and `tie_embeddings` ties the decoder's
    input and output embeddings only. The block arguments and `num_layers`
    shape the decoder alone.

    The defaults are the base Transformer of Vaswani et al. (2017): 6 + 6
    layers, width 512, 8 heads, feed-forward 2048 with ReLU, post-norm,
    dropout 0.1 (also on embeddings + positions), embeddings shared by the
    encoder, the decoder and the output projection (`tie_embeddings`; the
    encoder's only with a shared vocabulary), label smoothing 0.1, Adam with
    beta_2 0.98 and warm-up then inverse-square-root decay
    (`default_optimizer`), beam 4 with length penalty 0.6 (Wu et al., 2016)
    and outputs up to the input length + 50 (`generate`).

    Decoding runs in one `tf.while_loop` over a key/value cache: the
    decoder's self-attention keys and values are written a step at a time
    into caches of `max_length` positions (static shapes), the
    cross-attention keys and values computed once per source. It traces
    into a `tf.function` and a SavedModel.

    Args:
        vocabulary_size: int, source token ids (and target ones when
            `target_vocabulary_size` is `None`: a shared vocabulary). With
            `encoder`, `None` (or the encoder's own size).
        target_vocabulary_size: int, target token ids of a separate
            target vocabulary, or `None`.
        num_layers: int, encoder blocks (ours; a given encoder has its own).
        num_decoder_layers: int, decoder blocks. Defaults to `num_layers`.
        hidden_dim: int, model width. Defaults to 512, or the width of
            `encoder`, which the decoder must match.
        intermediate_dim: int, hidden width of the feed-forward layers.
            Defaults to `4 * hidden_dim`.
        num_heads: int, attention heads.
        num_kv_heads: int, key/value heads (grouped-query; 1 is multi-query).
        value_free: bool, attention without value and output projections.
        relative_position_range: int, learned self-attention biases for
            query-to-key offsets up to this far, in both stacks
            (`SimpleAttention`). `None`: none.
        activation: activation of the feed-forward hidden layers.
        dropout: float, dropout in the blocks and after the embeddings.
        norm: `"post"`, `"pre"` or `"none"`.
        layout: `"sequential"` or `"parallel"`.
        residual: `"add"`, `"rezero"` or `"scaled"`.
        residual_scale: float, the branch scale with `residual="scaled"`.
        layer_norm_epsilon: float, epsilon of the layer norms.
        use_bias: bool, whether projections and feed-forward layers have biases.
        max_length: int, the longest source or target sequence.
        learned_position_mix: bool, learn a linear mix of the sinusoids.
        tie_embeddings: bool, project onto the target vocabulary with the
            decoder's token embeddings (transposed), and, with a shared
            vocabulary and our encoder, let the encoder use them too.
        label_smoothing: float, of `default_loss()`.
        start_id: int, the token that starts every target.
        end_id: int, the token that ends every target.
        encoder: `None` to build our `TransformerEncoder` from the arguments,
            or a built backbone to encode with: a keras-hub backbone such as
            `keras_hub.models.BertBackbone` (its pooler is frozen: nothing
            reads it), or our `TransformerEncoder`.
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...). The dtype
            policy (by default the global one) is also that of the layers
            the model builds: the encoder (a given `encoder` keeps its own),
            the decoder and the output projection. It is saved with the
            model, so a reloaded model computes as the saved one did.

    Call arguments:
        inputs: dict of int `(batch, length)` tensors `"source_ids"` and
            `"target_in_ids"`.
        training: bool, whether dropout is active.

    Example:

    ```python
    model = Seq2SeqTransformer(vocabulary_size=23, num_layers=1, hidden_dim=32,
                               intermediate_dim=64, num_heads=2, num_kv_heads=1)
    features, labels = demo_translation_features(*demo_translation(64), sequence_length=10)
    model.compile(model.default_optimizer(total_steps=8), model.default_loss(),
                  metrics=model.default_metrics())
    model.fit(features, labels, batch_size=16, epochs=2, verbose=0)
    outputs = model.generate(features["source_ids"][:2])   # beam 4
    outputs["token_ids"].shape                              # (2, 10)

    # A BERT encoder (e.g. `load_bert_backbone(minilm_preset())`) under a fresh decoder as wide:
    import keras_hub
    bert = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=2, num_heads=2,
                                         hidden_dim=32, intermediate_dim=64)
    bert2rnd = Seq2SeqTransformer(target_vocabulary_size=23, num_layers=1, num_heads=2,
                                  encoder=bert)
    bert2rnd.generate(np.array([[2, 7, 9, 3, 0]]), "greedy", max_length=8)["token_ids"].shape   # (1, 8)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Wu et al., 2016](https://arxiv.org/abs/1609.08144) (length penalty)
        - [Press & Wolf, 2017](https://arxiv.org/abs/1608.05859) (tied embeddings)
        - [Liu & Lapata, 2019](https://arxiv.org/abs/1908.08345) (a pretrained
          encoder under a fresh decoder)
        - [Rothe et al., 2020](https://arxiv.org/abs/1907.12461) (warm-started
          encoder-decoders)
    """

    def __init__(
        self,
        vocabulary_size=None,
        target_vocabulary_size=None,
        num_layers=6,
        num_decoder_layers=None,
        hidden_dim=None,
        intermediate_dim=None,
        num_heads=8,
        num_kv_heads=None,
        value_free=False,
        relative_position_range=None,
        activation="relu",
        dropout=0.1,
        norm="post",
        layout="sequential",
        residual="add",
        residual_scale=None,
        layer_norm_epsilon=1e-5,
        use_bias=True,
        max_length=512,
        learned_position_mix=False,
        tie_embeddings=True,
        label_smoothing=0.1,
        start_id=1,
        end_id=2,
        encoder=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if encoder is None:
            if vocabulary_size is None:
                raise ValueError("`vocabulary_size` is needed to build our encoder (no `encoder`).")
            hidden_dim = hidden_dim or 512
        else:
            for name, value, own in (("vocabulary_size", vocabulary_size, encoder.vocabulary_size),
                                     ("hidden_dim", hidden_dim, encoder.hidden_dim)):
                if value not in (None, own):
                    raise ValueError(
                        f"`{name}` is {own} with this `encoder` (the decoder is as wide as the "
                        f"encoder and reads its vocabulary), got {value!r}."
                    )
            vocabulary_size, hidden_dim = encoder.vocabulary_size, encoder.hidden_dim
        intermediate_dim = intermediate_dim or 4 * hidden_dim
        block_options = dict(
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            num_kv_heads=num_kv_heads,
            value_free=value_free,
            relative_position_range=relative_position_range,
            activation=activation,
            dropout=dropout,
            embedding_dropout=dropout,
            norm=norm,
            layout=layout,
            residual=residual,
            residual_scale=residual_scale,
            layer_norm_epsilon=layer_norm_epsilon,
            use_bias=use_bias,
            max_length=max_length,
            learned_position_mix=learned_position_mix,
        )
        self._encoder_given = encoder is not None
        if encoder is None:
            encoder = TransformerEncoder(
                vocabulary_size,
                num_layers,
                dtype=self.dtype_policy,
                name="encoder",
                **block_options,
            )
        elif isinstance(encoder, keras_hub.models.Backbone):
            freeze_pooler(encoder)
        self.encoder = encoder
        self.decoder = TransformerDecoder(
            target_vocabulary_size or vocabulary_size,
            num_decoder_layers or num_layers,
            dtype=self.dtype_policy,
            name="decoder",
            **block_options,
        )
        if tie_embeddings and target_vocabulary_size is None and not self._encoder_given:
            # One embedding for both stacks: swap the decoder's before it is built.
            del self.decoder.token_embedding
            self.decoder.token_embedding = self.encoder.token_embedding
        self.output_projection = None
        if not tie_embeddings:
            self.output_projection = keras.layers.Dense(
                self.decoder.vocabulary_size,
                dtype=self.dtype_policy,
                name="output_projection",
            )
            self.output_projection.build((None, None, hidden_dim))
        if not self.encoder.built:
            self.encoder.build((None, None))
        self.decoder.build((None, None), (None, None, hidden_dim))
        self.built = True
        self.vocabulary_size = vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.num_layers = num_layers
        self.num_decoder_layers = num_decoder_layers
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.value_free = value_free
        self.relative_position_range = relative_position_range
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.layout = layout
        self.residual = residual
        self.residual_scale = residual_scale
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_bias = use_bias
        self.max_length = max_length
        self.learned_position_mix = learned_position_mix
        self.tie_embeddings = tie_embeddings
        self.label_smoothing = label_smoothing
        self.start_id = start_id
        self.end_id = end_id

    def logits(self, decoded):
        """float32 `(..., target_vocabulary_size)` logits of decoder outputs."""
        if self.output_projection is not None:
            return ops.cast(self.output_projection(decoded), "float32")
        embeddings = ops.cast(self.decoder.token_embedding.embeddings, decoded.dtype)
        return ops.cast(ops.matmul(decoded, ops.transpose(embeddings)), "float32")

    def encode(self, source_ids):
        """The encoder's `(batch, source_length, hidden_dim)` outputs; id 0 is padding.

        A keras-hub backbone reads `source_ids` as one segment (segment ids
        0) with the padding mask of id 0, as a task model feeds it.
        """
        return sequence_output(self.encoder, {
            "token_ids": source_ids,
            "segment_ids": ops.zeros_like(source_ids),
            "padding_mask": ops.not_equal(source_ids, 0),
        })

    def call(self, inputs, training=None):
        source_ids = inputs["source_ids"]
        # Keras hands `training` on to the encoder's layers through the call context.
        encoded = self.encode(source_ids)
        decoded = self.decoder(
            inputs["target_in_ids"],
            encoder_outputs=encoded,
            encoder_mask=ops.not_equal(source_ids, 0),
            training=training,
        )
        logits = self.logits(decoded)
        # The loss finds the real tokens itself; Keras would average over the mask a second time.
        logits._keras_mask = None
        return logits

    def default_loss(self):
        """`LabelSmoothedCrossEntropy(label_smoothing)`, padding ignored."""
        return LabelSmoothedCrossEntropy(self.label_smoothing)

    def default_metrics(self):
        """Token accuracy and perplexity over real target tokens (keras-hub's `Perplexity`)."""
        return [TokenAccuracy(), keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=0)]

    def default_optimizer(self, total_steps, learning_rate=None, ema_momentum=None):
        """The Transformer's Adam, schedule and averaging (`transformer_optimizer`) for this width.

        The peak is the paper's, or over a pretrained keras-hub encoder
        `PRETRAINED_ENCODER_LEARNING_RATE` (1e-4). Liu & Lapata (2019,
        BertSumAbs) train a pretrained BERT encoder and a fresh decoder with
        two Adam optimizers on this schedule, peaking at 1.4e-5 and 2e-3
        (2e-3 x 20,000 ** -0.5 and 0.2 x 10,000 ** -0.5): the encoder
        tolerates the rates of BERT fine-tuning (the task models take 5e-5),
        a decoder learning from scratch needs far more. One optimizer takes
        one rate between them: on the DEMO translation task (620 steps,
        BENCHMARKS.md) 5e-5 left the decoder behind (BLEU 13.5), 1e-4 and
        3e-4 learned it (99.7, 99.1), 1e-3 broke the encoder (1.8).

        Args:
            total_steps: int, planned optimizer steps (epochs x steps per epoch).
            learning_rate: float, the peak learning rate, or `None` for the default.
            ema_momentum: float, the momentum of the moving average of the
                weights that training ends on (`transformer_optimizer`); 0 for
                none; `None` for the default, the paper's checkpoint averaging
                as a moving average over about the last eighth of
                `total_steps` (`averaging_momentum`): 0.7 BLEU on Multi30k.
        """
        if learning_rate is None and isinstance(self.encoder, keras_hub.models.Backbone):
            learning_rate = PRETRAINED_ENCODER_LEARNING_RATE
        if ema_momentum is None:
            ema_momentum = averaging_momentum(total_steps)
        return transformer_optimizer(self.hidden_dim, total_steps, learning_rate, ema_momentum)

    def _allowed_logits(self, logits):
        """Logits where padding and the start token can never be chosen."""
        ids = ops.arange(ops.shape(logits)[-1])
        never = ops.logical_or(ops.equal(ids, 0), ops.equal(ids, self.start_id))
        return ops.where(never, _NEVER_LOGIT, logits)

    def decoding_step(self, source_ids, max_length, use_cache=True, copies=1):
        """The step function and initial cache that `generation` decodes with.

        What is fixed per source (the encoder's outputs, the cross-attention
        keys and values, the source mask) is computed here once, repeated
        `copies` times and read by the step function from its closure; the
        cache holds only what changes (the self-attention keys and values),
        so a beam search reorders no source-sized tensor at any step.

        Args:
            source_ids: int `(batch, source_length)`.
            max_length: int, the most target tokens decoded.
            use_cache: bool; `False` reruns the decoder over the whole prefix
                at every step (for tests and benchmarks of the cache).
            copies: int, sequences decoded per source, side by side (the
                beam width of `generation.beam_search`, which repeats the
                cache the same way, each source's copies adjacent).

        Returns:
            `(step, cache)`, see `keras_simpletf.generation`; `cache` is for
            one copy of each source.
        """
        encoded = self.encode(source_ids)
        source_mask = ops.repeat(ops.not_equal(source_ids, 0), copies, axis=0)
        if not use_cache:
            encoded = ops.repeat(encoded, copies, axis=0)

            def step(token_ids, index, cache):
                # The buffer's last slot is never read, and would need one position past max_length.
                prefix = token_ids[:, :-1]
                decoded = self.decoder(
                    prefix,
                    encoder_outputs=encoded,
                    mask=ops.ones_like(prefix, "bool"),
                    encoder_mask=source_mask,
                )
                logits = self.logits(ops.take(decoded, index, axis=1))
                return self._allowed_logits(logits), cache

            return step, {}

        blocks = self.decoder.initial_cache(ops.shape(source_ids)[0], max_length, encoded)
        cross = [
            tuple(ops.repeat(tensor, copies, axis=0) for tensor in block["cross"])
            for block in blocks
        ]

        def cached_step(token_ids, index, cache):
            token = ops.expand_dims(ops.take(token_ids, index, axis=1), 1)
            decoded, blocks = self.decoder(
                token,
                cache=[{"self": own, "cross": fixed} for own, fixed in zip(cache, cross)],
                cache_index=index,
                encoder_mask=source_mask,
            )
            logits = self._allowed_logits(self.logits(decoded[:, 0]))
            return logits, [block["self"] for block in blocks]

        return cached_step, [block["self"] for block in blocks]

    @tf.autograph.experimental.do_not_convert
    def generate(
        self,
        source_ids,
        method="beam",
        max_length=None,
        beam_width=4,
        length_penalty=0.6,
        top_k=None,
        top_p=None,
        temperature=1.0,
        seed=0,
        use_cache=True,
    ):
        """Decodes target token ids for `source_ids`, in graph (one `tf.while_loop`).

        Args:
            source_ids: int `(batch, source_length)`, padded with 0.
            method: `"beam"`, `"greedy"` or `"sample"`.
            max_length: int, the most tokens decoded. Defaults to the source
                length + 50 (Vaswani et al., 2017), at most `max_length` of the
                model; the model's `max_length` when the source length is not
                static.
            beam_width: int, beams of `"beam"`.
            length_penalty: float, GNMT's alpha for `"beam"`.
            top_k: int or `None`, for `"sample"`.
            top_p: float or `None`, for `"sample"`.
            temperature: float, for `"sample"`.
            seed: int, for `"sample"`.
            use_cache: bool, decode over the key/value cache (`False` reruns
                the decoder over the prefix at every step).

        Returns:
            dict of `"token_ids"`, int32 `(batch, max_length)`, the decoded
            tokens with the end token and padding (0) after it, and
            `"scores"`, float32 `(batch,)`: the length-penalised
            log-probability of the best beam, or the log-probability.
        """
        source_ids = tf.convert_to_tensor(source_ids)
        if max_length is None:
            source_length = source_ids.shape[1]
            max_length = (
                self.max_length
                if source_length is None
                else min(self.max_length, source_length + EXTRA_OUTPUT_LENGTH)
            )
        copies = beam_width if method == "beam" else 1
        step, cache = self.decoding_step(source_ids, max_length, use_cache, copies)
        start_ids = tf.fill([tf.shape(source_ids)[0]], self.start_id)
        if method == "beam":
            token_ids, scores = generation.beam_search(
                step, cache, start_ids, self.end_id, max_length, beam_width, length_penalty
            )
            return {"token_ids": token_ids[:, 0], "scores": scores[:, 0]}
        if method == "greedy":
            token_ids, scores = generation.greedy_search(step, cache, start_ids, self.end_id, max_length)
        elif method == "sample":
            token_ids, scores = generation.sample(
                step, cache, start_ids, self.end_id, max_length, top_k, top_p, temperature, seed
            )
        else:
            raise ValueError(f'`method` must be "beam", "greedy" or "sample", got {method!r}.')
        return {"token_ids": token_ids, "scores": scores}

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "num_layers": self.num_layers,
            "num_decoder_layers": self.num_decoder_layers,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "value_free": self.value_free,
            "relative_position_range": self.relative_position_range,
            "activation": self.activation,
            "dropout": self.dropout,
            "norm": self.norm,
            "layout": self.layout,
            "residual": self.residual,
            "residual_scale": self.residual_scale,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "use_bias": self.use_bias,
            "max_length": self.max_length,
            "learned_position_mix": self.learned_position_mix,
            "tie_embeddings": self.tie_embeddings,
            "label_smoothing": self.label_smoothing,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "encoder": keras.layers.serialize(self.encoder) if self._encoder_given else None,
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        if config.get("encoder") is not None:
            config = dict(config, encoder=keras.layers.deserialize(config["encoder"]))
        return cls(**config)
