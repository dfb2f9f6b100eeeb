"""Tests for keras_simpletf/models/classifier.py."""

import keras
import numpy as np
import pytest

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier
from keras_simpletf.text import SPECIAL_TOKENS, ClassificationPreprocessor

TOKENS = np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32")
FEATURES = {
    "token_ids": TOKENS,
    "segment_ids": np.zeros_like(TOKENS),
    "padding_mask": TOKENS != 0,
}


def classifier(labels=("a", "b", "c"), **kwargs):
    encoder = TransformerEncoder(vocabulary_size=10, num_layers=1, hidden_dim=8, num_heads=2)
    return TextClassifier(encoder, labels=list(labels), dropout=0.1, **kwargs)


def test_logits_are_float32_even_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    logits = classifier()(FEATURES)
    assert logits.shape == (2, 3) and logits.dtype == "float32"


def test_padding_does_not_change_logits():
    model = classifier()
    padded = {name: np.pad(value, [(0, 0), (0, 5)]) for name, value in FEATURES.items()}
    np.testing.assert_allclose(model(padded), model(FEATURES), atol=1e-5)


def test_keras_file_round_trip_keeps_labels(tmp_path):
    model = classifier(multi_label=True)
    model.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    assert isinstance(restored, TextClassifier)
    assert restored.labels == ["a", "b", "c"] and restored.multi_label
    np.testing.assert_allclose(restored(FEATURES), model(FEATURES), atol=1e-6)


def test_max_pooling_ignores_padding_and_survives_a_round_trip(tmp_path):
    model = classifier(pooling="max")
    padded = {name: np.pad(value, [(0, 0), (0, 5)]) for name, value in FEATURES.items()}
    np.testing.assert_allclose(model(padded), model(FEATURES), atol=1e-5)
    model.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    assert restored.pooling == "max"
    np.testing.assert_allclose(restored(FEATURES), model(FEATURES), atol=1e-6)
    mean = classifier()
    mean.set_weights(model.get_weights())
    assert not np.allclose(mean(FEATURES), model(FEATURES))


def test_an_unknown_pooling_is_named():
    with pytest.raises(ValueError, match=r"`pooling` must be one of \['mean', 'max'\], got 'cls'"):
        classifier(pooling="cls")


def test_multi_label_learns_independent_labels():
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, 10, size=(256, 6)).astype("int32")
    targets = np.stack([(tokens == 8).any(1), (tokens == 9).any(1)], axis=1).astype("float32")
    features = {"token_ids": tokens, "segment_ids": np.zeros_like(tokens), "padding_mask": tokens != 0}
    model = TextClassifier(
        TransformerEncoder(vocabulary_size=10, num_layers=1, hidden_dim=16),
        labels=["has_8", "has_9"],
        multi_label=True,
    )
    model.compile(keras.optimizers.Adam(1e-2), model.default_loss(), metrics=["binary_accuracy"])
    history = model.fit(features, targets, epochs=15, batch_size=32, verbose=0)
    assert history.history["binary_accuracy"][-1] > 0.9


def test_predict_text_gives_the_models_own_scores_through_one_traced_function():
    model = classifier()
    preprocessor = ClassificationPreprocessor([*SPECIAL_TOKENS, "good", "bad", "film", "plot", "dull"], 8)
    texts, pairs = ["good film", "bad plot", "dull", ""] * 10, ["film", "plot"] * 20
    for text_pairs in (None, pairs):
        labels, scores = model.predict_text(texts, preprocessor, text_pairs, batch_size=16)
        expected = keras.ops.convert_to_numpy(
            keras.ops.softmax(model(preprocessor(texts, text_pairs), training=False))
        )
        np.testing.assert_allclose(scores, expected, atol=1e-6)
        assert labels == [model.labels[i] for i in expected.argmax(axis=-1)]
    traces = model.predict_function.experimental_get_tracing_count()
    model.predict_text(texts, preprocessor, batch_size=16)
    assert model.predict_function.experimental_get_tracing_count() == traces
    labels, scores = model.predict_text([], preprocessor)
    assert labels == [] and scores.shape == (0, 3)
    with pytest.raises(ValueError, match="`text_pairs` must have one text per text: got 2 for 40"):
        model.predict_text(texts, preprocessor, text_pairs=["a", "b"])


def test_predict_text_under_a_mirrored_strategy_gives_one_row_per_text(two_cpu_strategy):
    with two_cpu_strategy.scope():
        model = classifier()
    preprocessor = ClassificationPreprocessor([*SPECIAL_TOKENS, "good", "bad", "film", "plot", "dull"], 8)
    texts = ["good film", "bad plot", "dull"] * 11 + ["film"]  # 34: batches of 16, 16 and 2.
    labels, scores = model.predict_text(texts, preprocessor, batch_size=16)
    assert len(labels) == 34 and scores.shape == (34, 3)
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(model(preprocessor(texts), training=False))
    )
    np.testing.assert_allclose(scores, expected, atol=1e-6)
