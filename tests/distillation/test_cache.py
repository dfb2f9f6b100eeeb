"""Tests for keras_simpletf/distillation/cache.py: the teacher runs once, not each epoch."""

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.data import demo_sentiment
from keras_simpletf.distillation import TEACHER_LOGITS, TaskDistiller, cache_teacher_logits, make_student
from tests.distillation.demo_models import sentiment_batches


class CountCalls(keras.layers.Layer):
    """Passes its input through and counts the batches it sees, also in graphs.

    The count is a plain `tf.Variable`, not a Keras weight of the model, so
    counting does not change the teacher's weights (the cache's key).
    """

    def __init__(self, calls, **kwargs):
        super().__init__(**kwargs)
        self.calls = calls

    def call(self, logits):
        self.calls.assign_add(1)
        return logits


def counted(teacher):
    """The teacher's own graph with a call counter on its logits."""
    calls = tf.Variable(0)
    counter = CountCalls(calls, dtype="float32")
    model = keras.Model(teacher.inputs, counter(teacher.outputs[0]))
    assert len(model.weights) == len(teacher.weights)
    return model, calls


def test_epochs_over_cached_logits_do_not_call_the_teacher(sentiment_teacher, tmp_path):
    trained, preprocessor = sentiment_teacher
    teacher, calls = counted(trained)
    unlabelled = sentiment_batches(preprocessor, demo_sentiment(128, seed=21)[0])  # 4 batches
    student = make_student(trained, {"num_layers": 1, "hidden_dim": 16})
    distiller = TaskDistiller(teacher, student, student_loss_weight=0.0)
    distiller.compile(keras.optimizers.AdamW(1e-2), student.default_loss())

    distiller.fit(unlabelled, epochs=1, verbose=0)
    assert int(calls.numpy()) == 4  # uncached, every step runs the teacher

    cached = cache_teacher_logits(teacher, unlabelled, str(tmp_path))
    assert int(calls.numpy()) == 8
    history = distiller.fit(cached, epochs=2, verbose=0)
    assert int(calls.numpy()) == 8
    assert history.history["distillation_loss"][1] < history.history["distillation_loss"][0]

    again = cache_teacher_logits(teacher, unlabelled, str(tmp_path))
    assert int(calls.numpy()) == 8
    for features, stored in zip(unlabelled, again):
        np.testing.assert_allclose(
            stored[TEACHER_LOGITS], teacher(features, training=False), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_array_equal(stored["token_ids"], features["token_ids"])


def test_other_data_or_another_teacher_gets_its_own_cache(sentiment_teacher, tmp_path):
    teacher, preprocessor = sentiment_teacher
    texts, labels = demo_sentiment(64, seed=22)
    labelled = sentiment_batches(preprocessor, texts, labels)
    cache_teacher_logits(teacher, labelled, str(tmp_path))
    features, stored_labels = next(iter(cache_teacher_logits(teacher, labelled, str(tmp_path))))
    np.testing.assert_array_equal(stored_labels, next(iter(labelled))[1])
    cache_teacher_logits(teacher, sentiment_batches(preprocessor, texts[:32], labels[:32]), str(tmp_path))
    other = keras.models.clone_model(teacher)
    cache_teacher_logits(other, labelled, str(tmp_path))
    assert len(tf.io.gfile.listdir(str(tmp_path))) == 3
