"""Student task models: our simplified encoders sized by a preset, optionally started from the teacher."""

import keras
import keras_hub
import numpy as np
from keras_hub.src.layers.modeling.transformer_layer_utils import merge_padding_and_attention_mask

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.layers.position import sinusoid_table

# Sizes of the student encoder. One head, a 4x feed-forward; MiniLM-L6-H384
# (the usual teacher) is 6 layers of width 384 with 12 heads. "one_layer",
# "shallow" and "three_layer" are MiniLM's width at a sixth, a third and half
# of its depth: sizes that can start from MiniLM's own layers
# (initialize="every_other").
STUDENT_SIZES = {
    "tiny": {"num_layers": 2, "hidden_dim": 128},
    "one_layer": {"num_layers": 1, "hidden_dim": 384},
    "shallow": {"num_layers": 2, "hidden_dim": 384},
    "three_layer": {"num_layers": 3, "hidden_dim": 384},
    "small": {"num_layers": 4, "hidden_dim": 256},
    "base": {"num_layers": 6, "hidden_dim": 384},
}
INITIALIZATIONS = (None, "embeddings", "every_other")


def make_student(
    teacher, size="small", initialize=None, dropout=0.0, pruning_features=None, **encoder_kwargs
):
    """A task model of the teacher's kind and labels over our `TransformerEncoder`.

    The student reads the teacher's token ids (same vocabulary size and
    longest sequence), so the teacher's preprocessor serves it too and an
    export embeds one tokenizer.

    Args:
        teacher: a `TextClassifier`, `TokenClassifier` or
            `SpanQuestionAnswerer` over our encoder or a keras-hub BERT.
        size: a key of `STUDENT_SIZES`, or a dict with `num_layers` and
            `hidden_dim`.
        initialize: `None` (from scratch), `"embeddings"` (the teacher's
            token embedding table, rescaled to the student's starting spread;
            a student narrower than the table projects it to its width, as
            `TransformerEncoder(embedding_dim=...)`) or `"every_other"` (the
            embeddings, the blocks at evenly spaced depths of the teacher,
            every other one for a student half as deep, and the head, as
            DistilBERT). From a teacher over our encoder, the student needs
            its width and block settings. From a keras-hub BERT (MiniLM), it
            needs its width and takes its block shape (heads, feed-forward
            width, post-norm, activation, no relative-position biases;
            `num_kv_heads` may group its heads, each group's keys and values
            their mean, and a smaller `intermediate_dim` keeps the most
            active neurons of each feed-forward, see `pruning_features`);
            the BERT's embedding layer norm is folded into the token table
            and its learned positions become the position encoding's
            learned offsets (`_copy_from_bert`).
        dropout: float, dropout in the encoder's blocks and before the head.
        pruning_features: for a student of a BERT's layers with a smaller
            `intermediate_dim`, a batch of the teacher's input features
            (`token_ids`, `segment_ids`, `padding_mask`; a few hundred
            examples of the training data): each feed-forward keeps the
            neurons whose mean absolute activation on their tokens, times
            the norm of their output weights, is largest. Without it, the
            norm of their input weights stands in for the activation, a
            choice no better than chance in BENCHMARKS.md.
        **encoder_kwargs: other `TransformerEncoder` arguments: the
            simplifications (`num_heads`, `num_kv_heads=1` for multi-query,
            `value_free`, `layout="parallel"`, `norm`, `residual`, ...).

    Returns:
        The student, built, with fresh (or copied) weights. One that holds a
        BERT's layers has `from_pretrained_layers` true: its
        `default_optimizer` fine-tunes at 1e-4 (the rate of the students of
        MiniLM in BENCHMARKS.md) rather than the 2e-3 of a fresh encoder.

    Example:

    ```python
    teacher = TextClassifier(
        TransformerEncoder(vocabulary_size=100, num_layers=4, hidden_dim=64), labels=["no", "yes"])
    student = make_student(teacher, "tiny", num_kv_heads=1, layout="parallel")
    half = make_student(teacher, {"num_layers": 2, "hidden_dim": 64}, initialize="every_other")
    ```

    References:
        - [Sanh et al., 2019](https://arxiv.org/abs/1910.01108) (DistilBERT's
          every-other-layer initialisation)
    """
    if initialize not in INITIALIZATIONS:
        raise ValueError(f"`initialize` must be one of {INITIALIZATIONS}, got {initialize!r}.")
    if isinstance(size, str):
        if size not in STUDENT_SIZES:
            raise ValueError(f"Unknown student size {size!r}; sizes: {sorted(STUDENT_SIZES)}.")
        size = STUDENT_SIZES[size]
    source = teacher.backbone
    pretrained = isinstance(source, keras_hub.models.Backbone)
    if initialize == "every_other" and pretrained:
        encoder_kwargs = _bert_block_settings(source, size, encoder_kwargs)
    if initialize == "embeddings" and size["hidden_dim"] != _table_width(source):
        # A narrower student takes the teacher's table through a projection.
        encoder_kwargs = {"embedding_dim": _table_width(source), **encoder_kwargs}
    encoder = TransformerEncoder(
        vocabulary_size=source.vocabulary_size,
        max_length=source.max_sequence_length if pretrained else source.max_length,
        dropout=dropout,
        **size,
        **encoder_kwargs,
    )
    # The teacher's task settings (labels, multi_label, max_answer_length, ...), a new encoder.
    task_config = {
        key: value
        for key, value in teacher.get_config().items()
        if key not in ("backbone", "name", "trainable", "from_pretrained_layers")
    }
    student = type(teacher)(encoder, **{**task_config, "dropout": dropout})
    if initialize is not None:
        _copy_from_teacher(student, teacher, initialize, pruning_features)
    # Its layers fine-tune at a pretrained model's rate (`TaskModel.default_optimizer`).
    student.from_pretrained_layers = initialize == "every_other" and pretrained
    return student


def _table_width(backbone):
    return backbone.token_embedding.embeddings.shape[-1]


def _copy_from_teacher(student, teacher, initialize, pruning_features):
    source, target = teacher.backbone, student.backbone
    if _table_width(source) != _table_width(target):
        raise ValueError(
            f"initialize={initialize!r} needs a token table as wide as the teacher's: the "
            f"teacher's is {_table_width(source)} wide, the student's {_table_width(target)} "
            "(pass embedding_dim to project a wider table to the student's width)."
        )
    table = keras.ops.convert_to_numpy(source.token_embedding.embeddings)
    if initialize == "embeddings":
        # The teacher's vectors, rescaled to the spread the student's table
        # starts with: a pretrained BERT's (standard deviation about 0.05)
        # would leave the tokens far shorter than the sinusoids added to them.
        start_stddev = 1.0 / target.embedding_scale
        target.token_embedding.set_weights([table * (start_stddev / table.std())])
        return
    if isinstance(source, keras_hub.models.Backbone):
        _copy_from_bert(student, teacher, pruning_features)
        return
    target.token_embedding.set_weights([table])
    _check_same_blocks(source, target)
    for block, depth in zip(target.blocks, _depths(source, target)):
        block.set_weights(source.blocks[depth].get_weights())
    if source.embedding_projection is not None:
        target.embedding_projection.set_weights(source.embedding_projection.get_weights())
    target.position_encoding.set_weights(source.position_encoding.get_weights())
    if source.final_norm is not None:
        target.final_norm.set_weights(source.final_norm.get_weights())
    student.get_layer(student.head_layer).set_weights(
        teacher.get_layer(teacher.head_layer).get_weights()
    )


def _check_same_blocks(source, target):
    source_config = {**source.blocks[0].get_config(), "name": None}
    target_config = {**target.blocks[0].get_config(), "name": None}
    different = sorted(
        key for key in source_config if source_config[key] != target_config.get(key)
    )
    stack_keys = ("hidden_dim", "embedding_dim", "norm", "residual", "learned_position_mix",
                  "learned_position_offsets")
    different += [key for key in stack_keys if getattr(source, key) != getattr(target, key)]
    if different:
        raise ValueError(
            "initialize='every_other' copies the teacher's blocks, so the student's must be "
            f"configured alike; they differ in {different}."
        )


def _depths(source, target):
    """The teacher's block each student block copies: evenly spaced, first and last included."""
    return np.linspace(0, source.num_layers - 1, target.num_layers).round().astype(int)


def _bert_block_settings(bert, size, encoder_kwargs):
    """`encoder_kwargs` with the block shape of a keras-hub BERT's layers, which the student copies."""
    if size["hidden_dim"] != bert.hidden_dim:
        raise ValueError(
            f"initialize='every_other' copies the teacher's layers, so the student must be as "
            f"wide as the teacher: the teacher is {bert.hidden_dim} wide, the student "
            f"{size['hidden_dim']} (the sizes 'one_layer' and 'shallow' are 1 and 2 layers of "
            "MiniLM's 384)."
        )
    kv_heads = encoder_kwargs.get("num_kv_heads") or bert.num_heads
    unlike = {
        "num_kv_heads": bert.num_heads % kv_heads != 0,
        "value_free": encoder_kwargs.get("value_free", False),
        "layout": encoder_kwargs.get("layout", "sequential") != "sequential",
        "embedding_dim": encoder_kwargs.get("embedding_dim") is not None,
    }
    if any(unlike.values()):
        raise ValueError(
            "initialize='every_other' copies a BERT's layers, whose attention has values and an "
            f"output projection and {bert.num_heads} key/value heads (a student may group them: "
            "num_kv_heads dividing them) and whose blocks run attention then feed-forward; the "
            f"student differs in {sorted(key for key, differs in unlike.items() if differs)}."
        )
    intermediate_dim = encoder_kwargs.get("intermediate_dim") or bert.intermediate_dim
    if intermediate_dim > bert.intermediate_dim:
        raise ValueError(
            f"initialize='every_other' copies the teacher's feed-forward neurons, so the student "
            f"can keep at most its {bert.intermediate_dim}; got intermediate_dim={intermediate_dim}."
        )
    layer = bert.get_layer("transformer_layer_0")
    return {
        **encoder_kwargs,
        "num_heads": bert.num_heads,
        "intermediate_dim": intermediate_dim,
        "norm": "post",
        "layer_norm_epsilon": layer.layer_norm_epsilon,
        "activation": layer.activation,
        "learned_position_offsets": True,
        # Its blocks never saw relative biases; at 2 layers they would cost 15% of the latency.
        "relative_position_range": None,
    }


def _copy_from_bert(student, teacher, pruning_features):
    """The student's embeddings, blocks and head from a keras-hub BERT teacher.

    BERT embeds a token as `LayerNorm(token + position + segment)`; our
    encoder adds a scaled token vector and the sinusoids, here with learned
    offsets. The layer norm is linear but for its division by the vector's
    spread, which varies by a few percent between tokens, so it is folded in
    with the median spread: the token table takes the normalised
    `token + segment 0` (gain and bias included), the offsets the normalised
    positions less the sinusoids. (Fitted by a learned mix of the sinusoids
    instead, the positions kept only half their energy, and MiniLM fine-tuned
    on SQuAD answered at F1 37 against its 69 once converted; with the
    offsets, 67.) On MiniLM-L6 the six converted blocks give sequence outputs
    of English text at a median cosine of 0.96 to MiniLM's (the tests
    measure it).
    """
    source, target = teacher.backbone, student.backbone
    tokens = keras.ops.convert_to_numpy(source.token_embedding.embeddings).astype(np.float64)
    positions = keras.ops.convert_to_numpy(source.position_embedding.position_embeddings)
    segment = keras.ops.convert_to_numpy(source.segment_embedding.embeddings)[0]
    norm = source.embeddings_layer_norm
    gamma, beta = (keras.ops.convert_to_numpy(weight) for weight in (norm.gamma, norm.beta))
    # Every token once, at a position that cycles through the table.
    summed = tokens + positions[np.arange(len(tokens)) % len(positions)] + segment
    spread = np.median(summed.std(axis=-1))

    def centred(vectors):
        return vectors - vectors.mean(axis=-1, keepdims=True)

    token_vectors = gamma * centred(tokens + segment) / spread + beta
    target.token_embedding.set_weights([token_vectors / target.embedding_scale])
    sinusoids = sinusoid_table(
        target.max_length, target.hidden_dim, target.position_encoding.max_wavelength
    )
    position_vectors = gamma * centred(positions[: target.max_length]) / spread
    target.position_encoding.set_weights([position_vectors - sinusoids])
    activity = [None] * source.num_layers
    if pruning_features is not None and target.blocks[0].intermediate_dim < source.intermediate_dim:
        activity = _feedforward_activity(source, pruning_features)
    for block, depth in zip(target.blocks, _depths(source, target)):
        _copy_bert_layer(source.get_layer(f"transformer_layer_{depth}"), block, activity[depth])
    student.get_layer(student.head_layer).set_weights(
        teacher.get_layer(teacher.head_layer).get_weights()
    )


def _feedforward_activity(bert, features):
    """Each layer's mean absolute feed-forward activation, per neuron, over the real tokens of `features`.

    Runs the BERT's layers on `features` as its `call` does (post-norm), and
    each layer's attention sub-block once more to reach its feed-forward's
    hidden layer.
    """
    streams = [bert.embeddings_dropout.output] + [layer.output for layer in bert.transformer_layers]
    # A dict, so that one layer's input still comes as a collection.
    layer_inputs = keras.Model(bert.inputs, dict(enumerate(streams[:-1])))(features)
    padding_mask = keras.ops.cast(features["padding_mask"], "bool")
    tokens = keras.ops.convert_to_numpy(padding_mask)
    activity = []
    for depth, layer in enumerate(bert.transformer_layers):
        stream = layer_inputs[depth]
        attended = layer._self_attention_layer(
            query=stream,
            value=stream,
            attention_mask=merge_padding_and_attention_mask(stream, padding_mask, None),
        )
        hidden = layer._feedforward_intermediate_dense(layer._self_attention_layer_norm(stream + attended))
        hidden = keras.ops.convert_to_numpy(keras.ops.cast(hidden, "float32"))
        activity.append(np.abs(hidden[tokens]).mean(axis=0))
    return activity


def _copy_bert_layer(layer, block, activity=None):
    """A keras-hub `TransformerEncoder` layer's weights into our `EncoderBlock` (fused QKV).

    A block with fewer key/value heads than the layer takes each group's
    mean (Ainslie et al. 2023's conversion of multi-head to grouped- or
    multi-query attention); query head `h` reads key/value head
    `h // (num_heads // num_kv_heads)`, as `SimpleAttention` repeats them.
    """
    attention = layer._self_attention_layer
    width = block.self_attention.output_dense.kernel.shape[-1]

    def numpy(weight, *shape):
        return keras.ops.convert_to_numpy(weight).reshape(shape)

    kv_heads = block.num_kv_heads or block.num_heads

    def grouped(weight):
        # (..., heads, head_dim) -> (..., kv_heads * head_dim), heads averaged within a group.
        shape = weight.shape
        per_group = (*shape[:-2], kv_heads, shape[-2] // kv_heads, shape[-1])
        return numpy(weight, *per_group).mean(axis=-2).reshape(*shape[:-2], -1)

    query, key, value = (attention._query_dense, attention._key_dense, attention._value_dense)
    values = {
        "self_attention/query_key_value/kernel": np.concatenate(
            [numpy(query.kernel, width, -1), grouped(key.kernel), grouped(value.kernel)], axis=1
        ),
        "self_attention/query_key_value/bias": np.concatenate(
            [numpy(query.bias, -1), grouped(key.bias), grouped(value.bias)]
        ),
        "self_attention/output/kernel": numpy(attention._output_dense.kernel, -1, width),
        "self_attention/output/bias": numpy(attention._output_dense.bias, width),
    }
    for ours, theirs in (
        ("feedforward/hidden", layer._feedforward_intermediate_dense),
        ("feedforward/output", layer._feedforward_output_dense),
        ("self_attention_norm", layer._self_attention_layer_norm),
        ("feedforward_norm", layer._feedforward_layer_norm),
    ):
        for weight in theirs.weights:
            values[f"{ours}/{weight.name}"] = keras.ops.convert_to_numpy(weight)
    kept = _strongest_neurons(
        values["feedforward/hidden/kernel"],
        values["feedforward/output/kernel"],
        block.feedforward.hidden_dense.kernel.shape[-1],
        activity,
    )
    values["feedforward/hidden/kernel"] = values["feedforward/hidden/kernel"][:, kept]
    values["feedforward/hidden/bias"] = values["feedforward/hidden/bias"][kept]
    values["feedforward/output/kernel"] = values["feedforward/output/kernel"][kept]
    for weight in block.weights:
        name = weight.path.split(f"{block.name}/", 1)[1]
        if name in values:
            weight.assign(values.pop(name))
    if values:
        raise ValueError(f"No weights of the student's {block.name} for the teacher's {sorted(values)}.")


def _strongest_neurons(hidden_kernel, output_kernel, count, activity=None):
    """The indices, in order, of the `count` feed-forward neurons that move the stream most.

    A neuron's strength is its mean absolute activation (`activity`, one
    value per neuron), or without it the norm of its input weights, times
    the norm of its output weights (all of them when `count` is the layer's
    width).
    """
    if activity is None:
        activity = np.linalg.norm(hidden_kernel, axis=0)
    strength = activity * np.linalg.norm(output_kernel, axis=1)
    return np.sort(np.argsort(-strength, kind="stable")[:count])
