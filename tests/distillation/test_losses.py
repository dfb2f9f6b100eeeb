"""Tests for keras_simpletf/distillation/losses.py, through TaskDistiller.compute_loss."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_simpletf.data import demo_ner, demo_sentiment
from keras_simpletf.distillation import (
    TEACHER_LOGITS,
    HiddenStateDistillation,
    SoftTargetDistillation,
    TaskDistiller,
    make_student,
)
from keras_simpletf.models import TextClassifier
from tests.distillation.demo_models import (
    ner_batches,
    ner_preprocessor,
    ner_tagger,
    sentiment_batches,
    sentiment_classifier,
    sentiment_preprocessor,
)


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def soft_target_loss(teacher_logits, student_logits, temperature):
    """Hinton et al.'s loss per row, by hand: T^2 KL(p_teacher || p_student) at T."""
    teacher = log_softmax(teacher_logits / temperature)
    student = log_softmax(student_logits / temperature)
    return temperature**2 * (np.exp(teacher) * (teacher - student)).sum(axis=-1)


def test_loss_at_temperature_equals_a_hand_computation_with_the_teacher_in_inference_mode():
    preprocessor = sentiment_preprocessor()
    # Dropout 0.9 before the head: a teacher run with training=True gives other logits.
    teacher = sentiment_classifier(preprocessor, dropout=0.9)
    student = sentiment_classifier(preprocessor, num_layers=1, hidden_dim=16)
    distiller = TaskDistiller(
        teacher, student, SoftTargetDistillation(temperature=3.0), student_loss_weight=0.3
    )
    distiller.compile("adamw", student.default_loss())
    features, labels = next(iter(sentiment_batches(preprocessor, *demo_sentiment(32, seed=5))))
    student_logits = student(features).numpy()
    loss = distiller.compute_loss(features, labels, student(features), training=True)
    teacher_logits = teacher(features, training=False).numpy()
    hard = -log_softmax(student_logits)[np.arange(32), labels.numpy()].mean()
    soft = soft_target_loss(teacher_logits, student_logits, 3.0).mean()
    np.testing.assert_allclose(loss.numpy(), 0.3 * hard + 0.7 * soft, rtol=1e-5)


def test_multi_label_soft_targets_are_a_binary_kl_per_label():
    teacher_logits = np.array([[2.0, -1.0, 0.5]], "float32")
    student_logits = np.array([[0.0, 1.0, -0.5]], "float32")
    loss = SoftTargetDistillation(temperature=2.0, multi_label=True).compute_loss(
        tf.constant(teacher_logits), tf.constant(student_logits)
    )
    p, q = 1 / (1 + np.exp(-teacher_logits / 2)), 1 / (1 + np.exp(-student_logits / 2))
    expected = 4 * (p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))).mean()
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_ignored_token_positions_do_not_contribute():
    preprocessor = ner_preprocessor()
    teacher, student = ner_tagger(preprocessor), ner_tagger(preprocessor, hidden_dim=16)
    distiller = TaskDistiller(teacher, student, SoftTargetDistillation(temperature=2.0), student_loss_weight=0.0)
    distiller.compile("adamw", student.default_loss())
    features, tags = next(iter(ner_batches(preprocessor, *demo_ner(16, seed=3))))
    student_logits = student(features).numpy()
    teacher_logits = teacher(features, training=False).numpy()
    ignored = tags.numpy() == -1
    assert ignored.any() and (~ignored).any()

    def loss(teacher_logits, logits):
        cached = {**features, TEACHER_LOGITS: tf.constant(teacher_logits)}
        return distiller.compute_loss(cached, tags, tf.constant(logits)).numpy()

    noise = np.random.default_rng(0).normal(0, 5, student_logits.shape).astype("float32")
    expected = soft_target_loss(teacher_logits, student_logits, 2.0)[~ignored].mean()
    np.testing.assert_allclose(loss(teacher_logits, student_logits), expected, rtol=1e-5)
    at_ignored = np.where(ignored[..., None], noise, 0.0)
    np.testing.assert_allclose(
        loss(teacher_logits + at_ignored, student_logits - at_ignored), expected, rtol=1e-5
    )
    at_tagged = np.where(ignored[..., None], 0.0, noise)
    assert abs(loss(teacher_logits + at_tagged, student_logits) - expected) > 1e-2


def test_hidden_states_are_compared_at_real_tokens_through_a_projection():
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    student = sentiment_classifier(preprocessor, num_layers=1, hidden_dim=16)
    hidden = HiddenStateDistillation(teacher.backbone.name, student.backbone.name)
    distiller = TaskDistiller(teacher, student, [SoftTargetDistillation(), hidden], [0.0, 1.0])
    assert hidden.projection.kernel.shape == (16, 32)
    assert any(weight is hidden.projection.kernel for weight in distiller.trainable_weights)
    distiller.compile("adamw", student.default_loss())
    features = next(iter(sentiment_batches(preprocessor, demo_sentiment(8, seed=2)[0])))
    mask = features["padding_mask"].numpy()
    assert not mask.all()
    projected = hidden.projection(student.backbone(features["token_ids"], mask=features["padding_mask"]))
    target = teacher.backbone(features["token_ids"], mask=features["padding_mask"])
    expected = ((projected.numpy() - target.numpy()) ** 2).mean(-1)[mask].mean()
    loss = distiller.compute_loss(features, None, student(features), training=False)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_losses_and_the_distiller_round_trip_through_their_configs():
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    student = sentiment_classifier(preprocessor, num_layers=1, hidden_dim=16)
    distiller = TaskDistiller(
        teacher,
        student,
        [
            SoftTargetDistillation(temperature=4.0, multi_label=True),
            HiddenStateDistillation(teacher.backbone.name, student.backbone.name),
        ],
        [1.0, 0.5],
        student_loss_weight=0.2,
    )
    restored = TaskDistiller.from_config(distiller.get_config())
    soft, hidden = restored.distillation_losses
    assert (soft.temperature, soft.multi_label) == (4.0, True)
    assert hidden.student_layer_name == student.backbone.name
    assert hidden.projection.kernel.shape == (16, 32)
    assert (restored.distillation_loss_weights, restored.student_loss_weight) == ([1.0, 0.5], 0.2)
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(SoftTargetDistillation(3.0))
    ).temperature == 3.0


def test_examples_of_sample_weight_zero_do_not_count():
    """The job pads evaluation batches with copies of weight 0."""
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    student = sentiment_classifier(preprocessor, num_layers=1, hidden_dim=16)
    distiller = TaskDistiller(teacher, student, student_loss_weight=0.0)
    distiller.compile("adamw", student.default_loss())
    features, labels = next(iter(sentiment_batches(preprocessor, *demo_sentiment(16, seed=9))))
    weights = np.array([1.0, 0.0] * 8, "float32")
    student_logits = student(features)
    loss = distiller.compute_loss(features, labels, student_logits, tf.constant(weights))
    teacher_logits = teacher(features, training=False).numpy()
    expected = soft_target_loss(teacher_logits, student_logits.numpy(), 2.0)[weights > 0].mean()
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_hidden_states_of_a_keras_hub_bert_teacher_are_its_sequence_output():
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=24,
    )
    teacher = TextClassifier(bert, labels=["no", "yes"])
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16})
    hidden = HiddenStateDistillation(bert.name, student.backbone.name)
    distiller = TaskDistiller(teacher, student, [SoftTargetDistillation(), hidden], [0.0, 1.0])
    features = {
        "token_ids": np.random.default_rng(0).integers(1, 100, (4, 10)).astype("int32"),
        "segment_ids": np.zeros((4, 10), "int32"),
        "padding_mask": np.arange(10) < np.array([[10], [7], [5], [3]]),
    }
    mask = features["padding_mask"]
    projected = hidden.projection(student.backbone(features["token_ids"], mask=mask)).numpy()
    target = bert(features, training=False)["sequence_output"].numpy()
    expected = ((projected - target) ** 2).mean(-1)[mask].mean()
    loss = distiller.compute_loss(features, None, student(features), training=False)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
