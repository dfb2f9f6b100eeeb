"""Tests for keras_simpletf/models/classifier.py."""

import keras
import numpy as np

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier

TOKENS = np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32")


def classifier():
    encoder = TransformerEncoder(vocabulary_size=10, num_layers=1, hidden_dim=8, num_heads=2)
    return TextClassifier(encoder, num_classes=3, dropout=0.1)


def test_logits_are_float32_even_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    logits = classifier()(TOKENS)
    assert logits.shape == (2, 3) and logits.dtype == "float32"


def test_padding_does_not_change_logits():
    model = classifier()
    padded = np.pad(TOKENS, [(0, 0), (0, 5)])
    np.testing.assert_allclose(model(padded), model(TOKENS), atol=1e-5)


def test_keras_file_round_trip(tmp_path):
    model = classifier()
    model.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    assert isinstance(restored, TextClassifier) and restored.num_classes == 3
    np.testing.assert_allclose(restored(TOKENS), model(TOKENS), atol=1e-6)


def test_learns_a_token_rule_with_fit():
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, 10, size=(256, 6)).astype("int32")
    labels = (tokens == 9).any(axis=1).astype("int32")
    model = TextClassifier(
        TransformerEncoder(vocabulary_size=10, num_layers=1, hidden_dim=16), num_classes=2
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(tokens, labels, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
