"""Tests for keras_simpletf/distillation/ under tf.distribute and mixed precision."""

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.data import demo_sentiment
from keras_simpletf.distillation import (
    TEACHER_LOGITS,
    TaskDistiller,
    cache_teacher_logits,
    make_student,
)
from tests.distillation.demo_models import (
    int32_masks,
    sentiment_batches,
    sentiment_classifier,
    sentiment_preprocessor,
)


def test_a_mirrored_step_equals_a_single_device_step_on_the_global_batch(two_cpu_strategy):
    """Same start, one SGD step on one batch of 32: the replicas (16 each)
    must average their gradients to the single device's."""
    preprocessor = sentiment_preprocessor()
    keras.utils.set_random_seed(3)
    teacher = sentiment_classifier(preprocessor)
    data = int32_masks(sentiment_batches(preprocessor, *demo_sentiment(32, seed=6)))

    def stepped(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(2)
            student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16})
            distiller = TaskDistiller(teacher, student)
            distiller.compile(keras.optimizers.SGD(1.0), student.default_loss())
        start = [weight.numpy() for weight in student.weights]
        distiller.fit(data, epochs=1, verbose=0)
        return [weight.numpy() - value for weight, value in zip(student.weights, start)]

    single, mirrored = stepped(tf.distribute.get_strategy()), stepped(two_cpu_strategy)
    assert max(np.abs(update).max() for update in single) > 1e-3
    for single_update, mirrored_update in zip(single, mirrored):
        np.testing.assert_allclose(mirrored_update, single_update, atol=1e-5)


def test_trains_under_mirrored_strategy_in_mixed_bfloat16(two_cpu_strategy):
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    with two_cpu_strategy.scope():
        student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16})
        distiller = TaskDistiller(teacher, student)
        distiller.compile(keras.optimizers.AdamW(1e-2), student.default_loss())
    assert student.backbone.compute_dtype == "bfloat16"
    data = int32_masks(sentiment_batches(preprocessor, *demo_sentiment(128, seed=7)))
    history = distiller.fit(data, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]


def test_logits_cached_from_a_teacher_built_under_a_mirrored_strategy_are_one_row_per_example(
    two_cpu_strategy, tmp_path
):
    preprocessor = sentiment_preprocessor()
    with two_cpu_strategy.scope():
        keras.utils.set_random_seed(3)
        teacher = sentiment_classifier(preprocessor)
    data = sentiment_batches(preprocessor, demo_sentiment(40, seed=6)[0], batch_size=16)
    for features in cache_teacher_logits(teacher, data, str(tmp_path)):
        logits = features.pop(TEACHER_LOGITS)
        np.testing.assert_allclose(logits, teacher(features, training=False), atol=1e-5)
