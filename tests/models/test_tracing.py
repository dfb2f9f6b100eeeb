"""Tests for keras_simpletf/models/tracing.py: `fit` traces its train step once."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.distillation import TaskDistiller, make_student
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier

TOKENS = np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]] * 8, "int32")
FEATURES = {"token_ids": TOKENS, "segment_ids": np.zeros_like(TOKENS), "padding_mask": TOKENS != 0}
LABELS = np.array([0, 1] * 8, "int32")


class CountingTraces:
    """Counts the traces of `train_step` and `test_step`: Python runs only while tracing."""

    def train_step(self, data):
        self.traces["train"] += 1
        return super().train_step(data)

    def test_step(self, data):
        self.traces["test"] += 1
        return super().test_step(data)


class Counted(CountingTraces, TextClassifier):
    pass


class CountedKerasDefault(CountingTraces, TextClassifier):
    _maybe_symbolic_build = keras.Model._maybe_symbolic_build


def trained(model_class):
    keras.utils.set_random_seed(3)
    model = model_class(
        TransformerEncoder(vocabulary_size=10, num_layers=1, hidden_dim=8), labels=["a", "b"]
    )
    model.traces = {"train": 0, "test": 0}
    model.compile(model.default_optimizer(total_steps=8), model.default_loss(), metrics=["accuracy"])
    # Shuffled anew each epoch: a batch drawn to build would shift every epoch's order.
    batches = tf.data.Dataset.from_tensor_slices((FEATURES, LABELS)).shuffle(16, seed=1).batch(4)
    model.fit(batches, epochs=2, validation_data=batches, verbose=0)
    return model


def test_fit_traces_each_step_once_and_trains_the_weights_keras_default_does():
    model, default = trained(Counted), trained(CountedKerasDefault)
    assert model.traces == {"train": 1, "test": 1}
    assert default.traces == {"train": 2, "test": 1}  # What the mixin spares.
    for weight, default_weight in zip(model.weights, default.weights):
        np.testing.assert_allclose(weight.numpy(), default_weight.numpy(), atol=1e-6)
    assert model.optimizer.iterations.numpy() == default.optimizer.iterations.numpy() == 8


def test_a_model_compiled_again_builds_its_new_metrics_before_tracing():
    model = trained(Counted)
    model.compile(model.default_optimizer(total_steps=4), model.default_loss(),
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1)])
    model.traces = {"train": 0, "test": 0}
    batches = tf.data.Dataset.from_tensor_slices((FEATURES, LABELS)).batch(4)
    results = model.evaluate(batches, return_dict=True, verbose=0)
    assert model.traces["test"] == 1
    assert results["accuracy"] == pytest.approx(results["sparse_top_k_categorical_accuracy"])


def test_under_a_strategy_keras_builds_as_before():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = trained(Counted)
    assert model.traces == {"train": 1, "test": 1}
    assert model.distribute_strategy is strategy


class CountedDistiller(CountingTraces, TaskDistiller):
    pass


def test_a_distiller_traces_its_step_once():
    teacher = trained(Counted)
    distiller = CountedDistiller(teacher, make_student(teacher, "tiny"))
    distiller.traces = {"train": 0, "test": 0}
    distiller.compile(keras.optimizers.Adam(1e-3), teacher.default_loss())
    batches = tf.data.Dataset.from_tensor_slices((FEATURES, LABELS)).batch(4)
    distiller.fit(batches, epochs=2, verbose=0)
    assert distiller.traces["train"] == 1
