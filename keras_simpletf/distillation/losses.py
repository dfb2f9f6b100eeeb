"""Distillation losses Keras lacks: masked soft targets, projected hidden states, attention
relations."""

import math

import keras
import keras_hub
import tensorflow as tf
from keras import ops

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models.task import FEATURE_NAMES


def _masked_mean(values, mask):
    """Mean of `values` over the `True` entries of `mask` (all if `None`),
    divided by the replicas in sync as Keras' own losses are, so gradients
    summed across replicas average over the global batch."""
    values = ops.cast(values, "float32")
    if mask is None:
        mean = ops.mean(values)
    else:
        mask = ops.cast(mask, "float32")
        mean = ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return mean / replicas if replicas > 1 else mean


@keras.saving.register_keras_serializable(package="keras_simpletf")
class SoftTargetDistillation(keras.distillation.LogitsDistillation):
    """Hinton et al.'s soft-target loss at a temperature, scaled by T^2, masked.

    `KL(softmax(teacher / T) || softmax(student / T)) * T^2`, averaged over
    the examples, or over the positions of a token classifier that carry a
    label. `keras.distillation.LogitsDistillation` computes the same sum for
    a softmax but averages over every position, padding and the ignored
    (-1) pieces included, computes it from clipped probabilities, and has no
    form for multi-label (sigmoid) outputs; this subclass adds those.

    Args:
        temperature: float > 0, softens both distributions.
        multi_label: bool, the logits are independent sigmoids (one binary
            KL per label, averaged over labels) rather than one softmax.

    Example:

    ```python
    loss = SoftTargetDistillation(temperature=2.0)
    teacher_logits = np.array([[2.0, -1.0], [0.0, 3.0]], "float32")
    student_logits = np.array([[0.5, 0.0], [0.0, 1.0]], "float32")
    loss.compute_loss(teacher_logits, student_logits)  # 0.47
    ```

    References:
        - [Hinton et al., 2015](https://arxiv.org/abs/1503.02531)
    """

    def __init__(self, temperature=2.0, multi_label=False):
        super().__init__(temperature=temperature, loss="kl_divergence")
        self.multi_label = multi_label

    def compute_loss(self, teacher_outputs, student_outputs, label_mask=None, **kwargs):
        """The loss of one batch.

        Args:
            teacher_outputs: teacher logits, `(batch, labels)`,
                `(batch, length, labels)` or a span model's `(batch, 2, length)`
                (a softmax over the last axis in each case).
            student_outputs: student logits of the same shape.
            label_mask: boolean, what counts: `(batch, length)` positions of
                a token classifier, `(batch, 2)` start and end distributions
                of a span model, or `(batch,)` examples; a mask of another
                rank is ignored.
            **kwargs: other masks the distiller passes, unused.

        Returns:
            A float32 scalar.
        """
        teacher = ops.cast(teacher_outputs, "float32") / self.temperature
        student = ops.cast(student_outputs, "float32") / self.temperature
        if self.multi_label:
            teacher_log_p = ops.stack([ops.log_sigmoid(teacher), ops.log_sigmoid(-teacher)], -1)
            student_log_p = ops.stack([ops.log_sigmoid(student), ops.log_sigmoid(-student)], -1)
            divergence = ops.mean(
                ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1),
                axis=-1,
            )
        else:
            teacher_log_p = ops.log_softmax(teacher, axis=-1)
            student_log_p = ops.log_softmax(student, axis=-1)
            divergence = ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
        if label_mask is not None and len(label_mask.shape) != len(divergence.shape):
            label_mask = None
        return _masked_mean(divergence, label_mask) * (self.temperature**2)

    def get_config(self):
        return {"temperature": self.temperature, "multi_label": self.multi_label}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class HiddenStateDistillation(keras.distillation.FeatureDistillation):
    """Mean squared error between hidden states, through a learned projection.

    Compares the sequence outputs of two layers (by default the task models'
    backbones) at the real tokens only. Where the student is narrower than
    the teacher, a linear projection (trained with the student, as TinyBERT's
    `W_h`) maps the student's states to the teacher's width.
    `keras.distillation.FeatureDistillation` needs equal widths, averages
    over padding too and cannot read a keras-hub backbone's dict output.

    Args:
        teacher_layer_name: name of the teacher layer whose output is matched
            (a keras-hub backbone's `"sequence_output"` is taken from its dict).
        student_layer_name: name of the student layer.

    Example:

    ```python
    teacher = TextClassifier(
        TransformerEncoder(vocabulary_size=100, num_layers=2, hidden_dim=32), labels=["no", "yes"])
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16})
    loss = HiddenStateDistillation(teacher.backbone.name, student.backbone.name)
    distiller = TaskDistiller(teacher, student, [SoftTargetDistillation(), loss])
    loss.projection.kernel.shape  # (16, 32), trained with the student
    ```

    References:
        - [Jiao et al., 2020](https://arxiv.org/abs/1909.10351) (TinyBERT)
    """

    def __init__(self, teacher_layer_name, student_layer_name):
        super().__init__(
            loss="mse",
            teacher_layer_name=teacher_layer_name,
            student_layer_name=student_layer_name,
        )
        self.projection = None

    def validate_model_compatibility(self, teacher, student):
        """Checks both layers exist and builds the projection if widths differ."""
        super().validate_model_compatibility(teacher, student)
        teacher_width = self._width(teacher.get_layer(self.teacher_layer_name))
        student_width = self._width(student.get_layer(self.student_layer_name))
        if teacher_width != student_width:
            self.projection = keras.layers.Dense(
                teacher_width, dtype="float32", name=f"project_{self.student_layer_name}"
            )
            self.projection.build((None, None, student_width))

    @staticmethod
    def _width(layer):
        output = layer.output
        if isinstance(output, dict):
            output = output["sequence_output"]
        return output.shape[-1]

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Both outputs are `(batch, length, width)` states (dicts allowed)."""

    def compute_loss(self, teacher_outputs, student_outputs, padding_mask=None, **kwargs):
        """The loss of one batch.

        Args:
            teacher_outputs: `(batch, length, teacher width)` or a dict with
                `"sequence_output"`.
            student_outputs: `(batch, length, student width)` or such a dict.
            padding_mask: boolean `(batch, length)`, the real tokens.
            **kwargs: other masks the distiller passes, unused.

        Returns:
            A float32 scalar.
        """
        if isinstance(teacher_outputs, dict):
            teacher_outputs = teacher_outputs["sequence_output"]
        if isinstance(student_outputs, dict):
            student_outputs = student_outputs["sequence_output"]
        student = ops.cast(student_outputs, "float32")
        if self.projection is not None:
            student = self.projection(student)
        error = ops.mean(ops.square(student - ops.cast(teacher_outputs, "float32")), axis=-1)
        return _masked_mean(error, padding_mask)

    def get_config(self):
        return {
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


RELATIONS = ("query", "key", "value")


@keras.saving.register_keras_serializable(package="keras_simpletf")
class AttentionRelationDistillation(keras.distillation.DistillationLoss):
    """MiniLM's self-attention relation transfer, between any widths and head counts.

    For one block of the teacher and one of the student (the last of each
    by default), the queries, keys and values of the self-attention are each
    split into the same number of relation heads; the scaled dot products of
    each with itself, softmaxed over the real tokens, are the relations
    (query-query, key-key, value-value). The loss is the KL divergence from
    the teacher's relations to the student's, averaged over relations, heads
    and real query tokens (Wang et al. 2021, MiniLMv2). No projection is
    learned: a relation is `length x length` whatever the width, so a
    student of fewer heads, multi-query (its keys are its one key head) or
    value-free (its values are its attention inputs) is compared as it is.

    Reads our `TransformerEncoder` and keras-hub BERT backbones; the
    `TaskDistiller` computes both sides from the features (the teacher in
    inference mode), so it cannot run on cached teacher logits.

    Args:
        relation_heads: int, heads every query, key and value width is split
            into; each width must be a multiple of it.
        relations: which of `"query"`, `"key"` and `"value"` are compared.
        teacher_block: int, the teacher block (negative counts from the last).
        student_block: int, the student block.

    Example:

    ```python
    teacher = TextClassifier(
        TransformerEncoder(vocabulary_size=100, num_layers=2, hidden_dim=32), labels=["no", "yes"])
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16}, num_kv_heads=1)
    losses = [SoftTargetDistillation(), AttentionRelationDistillation(relation_heads=4)]
    distiller = TaskDistiller(teacher, student, losses)
    ```

    References:
        - [Wang et al., 2021](https://arxiv.org/abs/2012.15828) (MiniLMv2)
        - [Wang et al., 2020](https://arxiv.org/abs/2002.10957) (MiniLM)
    """

    def __init__(self, relation_heads=16, relations=RELATIONS, teacher_block=-1, student_block=-1):
        unknown = sorted(set(relations) - set(RELATIONS))
        if unknown or not relations:
            raise ValueError(f"`relations` must be some of {RELATIONS}, got {relations!r}.")
        self.relation_heads = relation_heads
        self.relations = tuple(relations)
        self.teacher_block = teacher_block
        self.student_block = student_block
        self._teacher_states = self._student_states = None

    def validate_model_compatibility(self, teacher, student):
        """Finds the compared block in each model's backbone and checks that every
        query, key and value width there is a multiple of `relation_heads`."""
        self._teacher_states = _self_attention_states(teacher, self.teacher_block)
        self._student_states = _self_attention_states(student, self.student_block)
        probe = {
            "token_ids": ops.ones((1, 2), "int32"),
            "segment_ids": ops.zeros((1, 2), "int32"),
            "padding_mask": ops.ones((1, 2), "bool"),
        }
        for model, states in zip(("teacher", "student"), self.states(probe, training=False)):
            for relation in self.relations:
                width = states[relation].shape[2] * states[relation].shape[3]
                if width % self.relation_heads:
                    raise ValueError(
                        f"The {model}'s {relation} width {width} is not a multiple of "
                        f"relation_heads={self.relation_heads}."
                    )

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Both sides are dicts of query, key and value heads."""

    def states(self, features, training):
        """`(teacher, student)` dicts of the compared blocks' query, key and value heads."""
        return self._teacher_states(features, False), self._student_states(features, training)

    def compute_loss(self, teacher_outputs, student_outputs, padding_mask=None, **kwargs):
        """The loss of one batch.

        Args:
            teacher_outputs: dict of `(batch, length, heads, head_dim)`
                query, key and value heads (`states()`).
            student_outputs: the student's, of any heads and widths.
            padding_mask: boolean `(batch, length)`, the real tokens.
            **kwargs: other masks the distiller passes, unused.

        Returns:
            A float32 scalar.
        """
        divergences = []
        for relation in self.relations:
            teacher = self._relation_log_probs(teacher_outputs[relation], padding_mask)
            student = self._relation_log_probs(student_outputs[relation], padding_mask)
            per_query = ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
            divergences.append(ops.mean(per_query, axis=1))  # (batch, length)
        mask = None if padding_mask is None else ops.cast(padding_mask, "bool")
        return _masked_mean(ops.mean(ops.stack(divergences), axis=0), mask)

    def _relation_log_probs(self, heads, padding_mask):
        """`(batch, relation_heads, length, length)` log-softmaxed scaled dot products."""
        head_dim = heads.shape[2] * heads.shape[3] // self.relation_heads
        batch, length = ops.shape(heads)[0], ops.shape(heads)[1]
        states = ops.reshape(
            ops.cast(heads, "float32"), (batch, length, self.relation_heads, head_dim)
        )
        states = ops.transpose(states, (0, 2, 1, 3))
        logits = ops.einsum("bhqd,bhkd->bhqk", states, states) / math.sqrt(head_dim)
        if padding_mask is not None:
            keys = ops.cast(padding_mask, "bool")[:, None, None, :]
            logits = ops.where(keys, logits, -1e9)
        return ops.log_softmax(logits, axis=-1)

    def get_config(self):
        return {
            "relation_heads": self.relation_heads,
            "relations": list(self.relations),
            "teacher_block": self.teacher_block,
            "student_block": self.student_block,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _self_attention_states(task_model, block):
    """A function `(features, training)` -> the query, key and value heads of one
    self-attention block of `task_model`'s backbone (ours or a keras-hub BERT)."""
    backbone = task_model.backbone
    if isinstance(backbone, TransformerEncoder):
        return lambda features, training: backbone.self_attention_projections(
            features["token_ids"], features["padding_mask"], block, training=training
        )
    if not isinstance(backbone, keras_hub.models.BertBackbone):
        raise ValueError(
            "Attention relations are read from our TransformerEncoder or a keras-hub "
            f"BertBackbone, not a {type(backbone).__name__}."
        )
    layers = backbone.transformer_layers
    index = range(len(layers))[block]
    source = layers[index - 1] if index else backbone.get_layer("embeddings_dropout")
    block_inputs = keras.Model(backbone.input, source.output)
    chosen = layers[index]
    attention = chosen._self_attention_layer

    def states(features, training):
        inputs = block_inputs({name: features[name] for name in FEATURE_NAMES}, training=training)
        if chosen.normalize_first:
            inputs = chosen._self_attention_layer_norm(inputs)
        return {
            "query": attention._query_dense(inputs),
            "key": attention._key_dense(inputs),
            "value": attention._value_dense(inputs),
        }

    return states
