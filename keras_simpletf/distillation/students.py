"""Student task models: our simplified encoders sized by a preset, optionally started from the teacher."""

import keras
import keras_hub
import numpy as np

from keras_simpletf.layers import TransformerEncoder

# Sizes of the student encoder. One head, a 4x feed-forward; MiniLM-L6-H384
# (the usual teacher) is 6 layers of width 384 with 12 heads.
STUDENT_SIZES = {
    "tiny": {"num_layers": 2, "hidden_dim": 128},
    "small": {"num_layers": 4, "hidden_dim": 256},
    "base": {"num_layers": 6, "hidden_dim": 384},
}
INITIALIZATIONS = (None, "embeddings", "every_other")


def make_student(teacher, size="small", initialize=None, dropout=0.0, **encoder_kwargs):
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
            DistilBERT), which needs a teacher over our encoder with the
            student's width and block settings.
        dropout: float, dropout in the encoder's blocks and before the head.
        **encoder_kwargs: other `TransformerEncoder` arguments: the
            simplifications (`num_heads`, `num_kv_heads=1` for multi-query,
            `value_free`, `layout="parallel"`, `norm`, `residual`, ...).

    Returns:
        The student, built, with fresh (or copied) weights.

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
        if key not in ("backbone", "name", "trainable")
    }
    student = type(teacher)(encoder, **{**task_config, "dropout": dropout})
    if initialize is not None:
        _copy_from_teacher(student, teacher, initialize)
    return student


def _table_width(backbone):
    return backbone.token_embedding.embeddings.shape[-1]


def _copy_from_teacher(student, teacher, initialize):
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
    target.token_embedding.set_weights([table])
    if isinstance(source, keras_hub.models.Backbone):
        raise ValueError(
            "initialize='every_other' copies blocks of our TransformerEncoder; a keras-hub "
            "teacher gives its embeddings only (initialize='embeddings')."
        )
    _check_same_blocks(source, target)
    depths = np.linspace(0, source.num_layers - 1, target.num_layers).round().astype(int)
    for block, depth in zip(target.blocks, depths):
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
    stack_keys = ("hidden_dim", "embedding_dim", "norm", "residual", "learned_position_mix")
    different += [key for key in stack_keys if getattr(source, key) != getattr(target, key)]
    if different:
        raise ValueError(
            "initialize='every_other' copies the teacher's blocks, so the student's must be "
            f"configured alike; they differ in {different}."
        )
