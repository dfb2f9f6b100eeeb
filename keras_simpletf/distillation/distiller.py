"""`TaskDistiller`: trains one of our task models from a teacher task model with `fit`."""

import keras
from keras import ops
from keras.src.ops.function import make_node_key

from keras_simpletf.distillation.losses import (
    AttentionRelationDistillation,
    SoftTargetDistillation,
)
from keras_simpletf.models.task import FEATURE_NAMES
from keras_simpletf.models.question_answering import SpanQuestionAnswerer
from keras_simpletf.models.token_classifier import IGNORED_TAG_ID, TokenClassifier
from keras_simpletf.models.tracing import BuildsBeforeTracing

TEACHER_LOGITS = "teacher_logits"


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TaskDistiller(BuildsBeforeTracing, keras.distillation.Distiller):
    """`keras.distillation.Distiller` for our classifiers, taggers and span models.

    The teacher is frozen and runs with `training=False`; the loss is
    `w * hard + (1 - w) * sum_i weight_i * distillation_i` with
    `w = student_loss_weight`. Keras' `Distiller` is kept for the teacher
    and student feature extraction, the loss weights, compile and config;
    its `compute_loss` is replaced because it cannot do five things our
    task models need:

    - masks: a token classifier's soft targets count only at the positions
      that carry a tag (not `-1`: padding, special tokens, later pieces of a
      word), or at the real tokens of unlabelled text; a span model's are
      its start and end distributions over each window's tokens; hidden
      states count at the real tokens; examples (or tags) of sample weight
      0 do not count. Each loss gets `label_mask=` and `padding_mask=`.
    - cached teacher outputs: a batch whose features hold `"teacher_logits"`
      (see `cache_teacher_logits`) is distilled from them, without the teacher.
    - unlabelled text: a batch without labels is trained on the
      distillation loss alone, at full weight, and updates no metric that
      needs labels.
    - learned projections: the `projection` layers of
      `HiddenStateDistillation` losses are trained with the student.
    - attention relations: `AttentionRelationDistillation` reads a block
      inside each backbone, which Keras' layer-output extraction cannot
      reach in our subclassed encoder.

    Under a `tf.distribute` strategy, build and compile it in the
    strategy's scope; the losses average over the global batch.

    Args:
        teacher: a trained `TextClassifier`, `TokenClassifier` or
            `SpanQuestionAnswerer` (any Keras model over the same features
            with logits of the same shape).
        student: the task model to train, of the teacher's kind and labels.
        distillation_losses: a distillation loss or a list of them; defaults
            to `SoftTargetDistillation(temperature=2.0)` (multi-label if the
            student is).
        distillation_loss_weights: a weight per distillation loss.
        student_loss_weight: float in [0, 1], the hard-label loss's share.
        **kwargs: `keras.distillation.Distiller` arguments (`name`).

    Example:

    ```python
    teacher = TextClassifier(
        TransformerEncoder(vocabulary_size=100, num_layers=2, hidden_dim=32), labels=["no", "yes"])
    student = make_student(teacher, "tiny", num_kv_heads=1, layout="parallel")
    features = {
        "token_ids": np.random.randint(1, 100, (8, 12)),
        "segment_ids": np.zeros((8, 12), "int32"),
        "padding_mask": np.ones((8, 12), bool),
    }
    distiller = TaskDistiller(teacher, student, student_loss_weight=0.5)
    distiller.compile(keras.optimizers.AdamW(1e-3), student.default_loss())
    distiller.fit(features, np.random.randint(0, 2, 8), epochs=1, verbose=0)
    distiller.student.save("student.keras")
    ```

    References:
        - [Hinton et al., 2015](https://arxiv.org/abs/1503.02531)
        - [Sanh et al., 2019](https://arxiv.org/abs/1910.01108) (DistilBERT)
    """

    def __init__(
        self,
        teacher,
        student,
        distillation_losses=None,
        distillation_loss_weights=None,
        student_loss_weight=0.5,
        **kwargs,
    ):
        if distillation_losses is None:
            distillation_losses = SoftTargetDistillation(
                temperature=2.0, multi_label=getattr(student, "multi_label", False)
            )
        super().__init__(
            teacher=teacher,
            student=student,
            distillation_losses=distillation_losses,
            distillation_loss_weights=distillation_loss_weights,
            student_loss_weight=student_loss_weight,
            **kwargs,
        )
        self.projections = [
            loss.projection
            for loss in self.distillation_losses
            if getattr(loss, "projection", None) is not None
        ]

    def default_loss(self):
        """The student's hard-label loss, for `compile`."""
        return self.student.default_loss()

    def default_optimizer(self, total_steps, learning_rate=None, ema_momentum=None):
        """The student's fine-tuning recipe (`TaskModel.default_optimizer`)."""
        return self.student.default_optimizer(total_steps, learning_rate, ema_momentum)

    def call(self, inputs, training=None):
        return self.student(_features(inputs), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The combined loss of one batch (see the class docstring)."""
        features = _features(x)
        if y_pred is None:
            y_pred = self(features, training=training)
        padding_mask = ops.cast(features["padding_mask"], "bool")
        per_token = isinstance(self.student, TokenClassifier)
        label_mask = padding_mask if per_token else None
        hard_loss = 0.0
        if y is not None:
            if per_token:
                label_mask = ops.logical_and(padding_mask, ops.not_equal(y, IGNORED_TAG_ID))
            hard_loss = self._student_loss(y, y_pred, sample_weight)
        if sample_weight is not None:
            weighted = ops.greater(sample_weight, 0)
            if per_token:
                label_mask = ops.logical_and(label_mask, weighted)
            elif isinstance(self.student, SpanQuestionAnswerer):
                # A soft target per window and end, (batch, 2), from weights of a
                # window (batch,) or of each end (batch, 2).
                per_window = ops.reshape(weighted, (ops.shape(y_pred)[0], -1))
                label_mask = ops.broadcast_to(per_window, ops.shape(y_pred)[:2])
            else:
                label_mask = weighted
        teacher_features, student_features = self._distillation_features(
            x, features, y_pred, training
        )
        distillation_loss = 0.0
        for loss, weight in zip(self.distillation_losses, self.distillation_loss_weights):
            if isinstance(loss, AttentionRelationDistillation):
                teacher_output, student_output = loss.states(features, training)
            else:
                teacher_output = teacher_features[_layer_name(loss, "teacher")]
                student_output = student_features[_layer_name(loss, "student")]
            distillation_loss += weight * loss.compute_loss(
                teacher_output, student_output, label_mask=label_mask, padding_mask=padding_mask
            )
        if y is None:
            total_loss = distillation_loss
        else:
            total_loss = (
                self.student_loss_weight * hard_loss
                + (1.0 - self.student_loss_weight) * distillation_loss
            )
        self.student_loss_tracker.update_state(hard_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total_loss)
        return total_loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' compiled metrics; a batch without labels updates the losses only."""
        if y is None:
            return self.get_metrics_result()
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_metrics_result(self):
        """The metrics' results, less the compiled metrics (accuracy, ...)
        while no labelled batch has built them: training on unlabelled text."""
        results = {}
        for metric in self.metrics:
            if getattr(metric, "built", True):  # Only the compiled metrics are built lazily.
                result = metric.result()
                results.update(result if isinstance(result, dict) else {metric.name: result})
        return results

    def _distillation_features(self, x, features, y_pred, training):
        """Teacher and student features by layer name (`"final_output"`: logits); the
        student's layers run with dropout only in training (Keras' own extractor always)."""
        if isinstance(x, dict) and TEACHER_LOGITS in x:
            reads_teacher = self._teacher_feature_extractor is not None or any(
                isinstance(loss, AttentionRelationDistillation) for loss in self.distillation_losses
            )
            if reads_teacher:
                raise ValueError(
                    "Cached teacher logits cannot feed hidden-state or attention-relation "
                    "losses: only the teacher's logits are cached. Distil without "
                    "`cache_teacher_logits`."
                )
            teacher_features = {"final_output": x[TEACHER_LOGITS]}
        else:
            teacher_features = self._extract_all_teacher_features(features)
        student_features = {"final_output": y_pred}
        if self._student_feature_extractor is not None:
            student_features = {
                **self._student_feature_extractor(features, training=training),
                "final_output": y_pred,
            }
        return teacher_features, student_features

    def _create_feature_extractor(self, model, layer_names):
        """Keras' feature extractor, reading each layer's output where `model`
        calls it: `layer.output` of a nested functional backbone (keras-hub's
        BERT) is the output of its own graph, which Keras' version takes."""
        if not layer_names:
            return None
        outputs = {"final_output": model.output}
        for name in layer_names:
            outputs[name] = _output_in(model, model.get_layer(name))
        return keras.Model(model.inputs, outputs, name=f"{model.name}_multi_feature_extractor")

    def compute_output_spec(self, inputs, training=None):
        return self.student.compute_output_spec(_features(inputs))


def _output_in(model, layer):
    """The symbolic output of `layer` at its call inside the functional `model`."""
    for index, node in enumerate(layer._inbound_nodes):
        if make_node_key(layer, index) in model._nodes:
            return keras.tree.pack_sequence_as(layer.output, node.outputs)
    raise ValueError(f"Layer {layer.name!r} is not called in model {model.name!r}.")


def _layer_name(loss, model):
    """The layer a loss reads in the teacher or student; `"final_output"` for logits."""
    return getattr(loss, f"{model}_layer_name", None) or "final_output"


def _features(inputs):
    """The task models' features of a batch, without cached teacher outputs or word indices."""
    return {name: inputs[name] for name in FEATURE_NAMES}
