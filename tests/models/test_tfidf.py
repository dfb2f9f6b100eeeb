"""Tests for keras_simpletf/models/tfidf.py: TF-IDF + logistic regression over the words of a
classifier's pieces, fitted by scikit-learn, run in the graph."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from keras_simpletf import data
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier, TfidfLogits, fit_tfidf_logits
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary
from serving import export

TEXTS, SENTIMENTS = data.demo_sentiment(240, seed=0)
HELD_OUT, _ = data.demo_sentiment(40, seed=1)
# Held-out n-grams the fit never saw, and texts with no n-gram at all.
HELD_OUT = HELD_OUT + ["zzz qqq xylophone", "", "!"]
LABELS = sorted(set(SENTIMENTS))


@pytest.fixture(scope="module")
def preprocessor():
    return ClassificationPreprocessor(learn_vocabulary(TEXTS, 100), sequence_length=24)


def word_documents(preprocessor, texts, pairs=None):
    """Each text's words, rebuilt here from its pieces' strings: scikit-learn's own input."""
    features = preprocessor(texts, pairs)
    special = [preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id]
    documents = []
    for row, mask in zip(features["token_ids"].numpy(), features["padding_mask"].numpy()):
        words = []
        for piece in row[mask & ~np.isin(row, special)]:
            if preprocessor.vocabulary[piece].startswith("##") and words:
                words[-1] += f",{piece}"
            else:
                words.append(str(piece))
        documents.append(" ".join(words))
    return documents


def scikit_learn_probabilities(preprocessor, label_ids, max_n, pairs=None, held_out_pairs=None):
    pipeline = make_pipeline(
        TfidfVectorizer(
            token_pattern=r"\S+", lowercase=False, ngram_range=(1, max_n), sublinear_tf=True
        ),
        LogisticRegression(C=4.0, max_iter=2000),
    ).fit(word_documents(preprocessor, TEXTS, pairs), label_ids)
    return pipeline.predict_proba(word_documents(preprocessor, HELD_OUT, held_out_pairs))


def probabilities(layer, features, **kwargs):
    return keras.ops.convert_to_numpy(keras.ops.softmax(layer(features, **kwargs)))


def test_binary_logits_are_scikit_learns(preprocessor):
    label_ids = np.array([LABELS.index(label) for label in SENTIMENTS])
    fitted = fit_tfidf_logits(preprocessor, TEXTS, label_ids, num_labels=2)
    ours = probabilities(fitted.layer(), preprocessor(HELD_OUT))
    reference = scikit_learn_probabilities(preprocessor, label_ids, max_n=2)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # Words of several pieces are features of their own.
    assert fitted.max_n == 2 and any("," in ngram for ngram in fitted.ngrams)
    assert 0.9 <= fitted.train_accuracy <= 1.0


def test_multi_class_pair_logits_are_scikit_learns(preprocessor):
    label_ids = np.arange(len(TEXTS)) % 3
    pairs, held_out_pairs = TEXTS[1:] + TEXTS[:1], HELD_OUT[::-1]
    fitted = fit_tfidf_logits(
        preprocessor, TEXTS, label_ids, num_labels=3, text_pairs=pairs, max_n=3
    )
    ours = probabilities(fitted.layer(), preprocessor(HELD_OUT, held_out_pairs))
    reference = scikit_learn_probabilities(preprocessor, label_ids, 3, pairs, held_out_pairs)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_a_label_without_examples_is_named(preprocessor):
    with pytest.raises(ValueError, match=r"label ids \[2\] of 3 have none"):
        fit_tfidf_logits(preprocessor, TEXTS, np.arange(len(TEXTS)) % 2, num_labels=3)


@pytest.fixture(scope="module")
def fitted(preprocessor):
    return fit_tfidf_logits(
        preprocessor, TEXTS, [LABELS.index(label) for label in SENTIMENTS], num_labels=2
    )


def classifier(fitted, **kwargs):
    keras.utils.set_random_seed(0)
    encoder = TransformerEncoder(vocabulary_size=100, num_layers=1, hidden_dim=8)
    return TextClassifier(encoder, LABELS, tfidf=fitted.layer(), **kwargs)


def test_the_classifier_averages_probabilities_at_inference_and_trains_alone(fitted, preprocessor):
    model = classifier(fitted)
    features = preprocessor(HELD_OUT)
    encoder_logits = keras.Model(model.inputs, model.get_layer(model.head_layer).output)(features)
    np.testing.assert_allclose(model(features, training=True), encoder_logits, atol=1e-6)
    average = 0.5 * probabilities(keras.layers.Identity(), encoder_logits) + 0.5 * probabilities(
        model.tfidf, features
    )
    np.testing.assert_allclose(probabilities(model, features), average, atol=1e-6)
    assert model.tfidf(features, training=True).numpy().tolist() == [[0.0, 0.0]] * len(HELD_OUT)
    assert not model.tfidf.trainable_weights


def test_keras_file_and_saved_model_give_the_same_scores(fitted, preprocessor, tmp_path):
    model = classifier(fitted, pooling="max")
    features = preprocessor(HELD_OUT)
    expected = probabilities(model, features)
    model.save(tmp_path / "classifier.keras")
    restored = keras.saving.load_model(tmp_path / "classifier.keras")
    assert isinstance(restored.tfidf, TfidfLogits)
    np.testing.assert_allclose(probabilities(restored, features), expected, atol=1e-6)
    served = tf.saved_model.load(export.export(model, preprocessor, str(tmp_path / "export")))
    outputs = served.signatures["serving_default"](text=tf.constant(HELD_OUT))
    np.testing.assert_allclose(outputs["scores"].numpy(), expected, atol=1e-6)
    assert outputs["labels"].numpy().astype(str).tolist() == [
        LABELS[index] for index in expected.argmax(axis=-1)
    ]


def test_outputs_are_float32_under_mixed_precision(fitted, preprocessor):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = classifier(fitted)
    logits = model(preprocessor(HELD_OUT))
    assert logits.dtype == "float32" and model.tfidf(preprocessor(HELD_OUT)).dtype == "float32"
    np.testing.assert_allclose(keras.ops.sum(keras.ops.exp(logits), axis=-1), 1.0, atol=1e-5)


def test_a_multi_label_classifier_or_other_labels_are_refused(fitted):
    with pytest.raises(ValueError, match="2 labels of a single-label classifier; got 2 labels "
                                         "with multi_label=True"):
        classifier(fitted, multi_label=True)
    encoder = TransformerEncoder(vocabulary_size=100, num_layers=1, hidden_dim=8)
    with pytest.raises(ValueError, match="3 labels of a single-label classifier; got 2"):
        TextClassifier(encoder, ["a", "b", "c"], tfidf=fitted.layer())
