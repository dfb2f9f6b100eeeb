"""Models built from keras_simpletf.layers survive `.keras` files and SavedModel export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import layers

TOKENS = np.array([[5, 6, 7, 8, 0, 0], [9, 3, 2, 0, 0, 0]], "int32")


def classifier(**encoder_kwargs):
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    encoded = layers.TransformerEncoder(
        vocabulary_size=20, num_layers=2, hidden_dim=8, **encoder_kwargs
    )(token_ids)
    pooled = keras.layers.GlobalAveragePooling1D()(encoded)
    return keras.Model(token_ids, keras.layers.Dense(3)(pooled))


def seq2seq():
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target = keras.Input(shape=(None,), dtype="int32", name="target")
    encoded = layers.TransformerEncoder(20, num_layers=1, hidden_dim=8, num_heads=2)(source)
    decoded = layers.TransformerDecoder(20, num_layers=1, hidden_dim=8, num_heads=2)(
        target, encoder_outputs=encoded
    )
    return keras.Model([source, target], keras.layers.Dense(20)(decoded))


def with_relative_biases(model):
    """`model` with random relative-position biases (they start at zero)."""
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if "relative_position_bias" in weight.path:
            weight.assign(rng.normal(size=weight.shape))
    return model


MODELS = {
    "single_head": lambda: classifier(),
    "parallel_rezero_value_free": lambda: classifier(
        layout="parallel", residual="rezero", value_free=True, num_heads=2
    ),
    "multi_query_pre_norm_learned_positions": lambda: classifier(
        num_heads=4, num_kv_heads=1, norm="pre", learned_position_mix=True
    ),
    "relative_positions": lambda: with_relative_biases(
        classifier(num_heads=2, relative_position_range=3)
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_loads_back_without_custom_objects(name, tmp_path):
    model = MODELS[name]()
    expected = model(TOKENS)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(TOKENS), expected, atol=1e-6)


def test_seq2seq_keras_file_loads_back(tmp_path):
    model = seq2seq()
    inputs = [TOKENS, TOKENS[:, :4]]
    expected = model(inputs)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(restored(inputs), expected, atol=1e-6)


def test_exported_saved_model_reloads_with_the_same_outputs(tmp_path):
    model = with_relative_biases(
        classifier(num_heads=2, layout="parallel", relative_position_range=3)
    )
    expected = model(TOKENS)
    model.export(str(tmp_path / "export"))
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(reloaded.serve(tf.constant(TOKENS)), expected, atol=1e-6)
    longer = np.pad(TOKENS, [(0, 0), (0, 4)])
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(longer)), model(longer), atol=1e-6
    )
