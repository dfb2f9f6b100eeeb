"""`model.fit` with the layers inside `tf.distribute.MirroredStrategy` over two CPUs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import layers


def dataset(batch_size):
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, size=(64, 8)).astype("int32")
    tokens[::2, 5:] = 0
    labels = (tokens[:, 0] > 10).astype("int32")
    return tf.data.Dataset.from_tensor_slices((tokens, labels)).batch(
        batch_size, drop_remainder=True
    )


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fit_under_mirrored_strategy_on_two_logical_cpus(policy, two_cpu_strategy):
    keras.mixed_precision.set_global_policy(policy)
    strategy = two_cpu_strategy
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        token_ids = keras.Input(shape=(8,), dtype="int32")
        encoded = layers.TransformerEncoder(
            vocabulary_size=20, num_layers=2, hidden_dim=16, num_heads=2, layout="parallel"
        )(token_ids)
        pooled = keras.layers.GlobalAveragePooling1D()(encoded)
        logits = keras.layers.Dense(2, dtype="float32")(pooled)
        model = keras.Model(token_ids, logits)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    history = model.fit(dataset(16), epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    for weight in model.weights:
        assert len(weight.value.values) == 2, f"{weight.path} is not mirrored"
