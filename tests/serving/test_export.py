"""Tests for serving/export.py: SavedModels reloaded and compared with the Keras models."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import NER_TAGS, demo_ner, demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import SequentialRetrieval, TextClassifier, TextTwoTowerRetrieval, TokenClassifier
from keras_simpletf.text import (
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    learn_vocabulary,
    split_words,
)
from serving.export import CLASSIFY_METHOD, export, next_version

TEXTS = ["the movie was great.", "", "a dull, tedious plot and the cast was not moving.", "Ünïcode ünïcode " * 40]


@pytest.fixture(scope="module")
def classifier():
    texts, _ = demo_sentiment(200)
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 115), sequence_length=16)
    encoder = TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=16)
    return TextClassifier(encoder, labels=["negative", "neutral", "positive"]), preprocessor


@pytest.fixture(scope="module")
def tagger():
    sentences, _ = demo_ner(200)
    vocabulary = learn_vocabulary([" ".join(words) for words in sentences], 129)
    preprocessor = TokenClassificationPreprocessor(vocabulary, sequence_length=12)
    encoder = TransformerEncoder(len(vocabulary), num_layers=1, hidden_dim=16, max_length=12)
    return TokenClassifier(encoder, labels=list(NER_TAGS)), preprocessor


def example(text):
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
    return tf.train.Example(features=tf.train.Features(feature={"text": feature})).SerializeToString()


def test_versions_are_numbered_and_written_whole(classifier, tmp_path):
    model, preprocessor = classifier
    assert next_version(str(tmp_path / "missing")) == 1
    assert export(model, preprocessor, str(tmp_path)).endswith("/1")
    assert export(model, preprocessor, str(tmp_path)).endswith("/2")
    assert export(model, preprocessor, str(tmp_path), version=7).endswith("/7")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "7"]
    with pytest.raises(FileExistsError, match="Version 7"):
        export(model, preprocessor, str(tmp_path), version=7)


def test_classifier_signatures_answer_raw_text_like_the_keras_model(classifier, tmp_path):
    model, preprocessor = classifier
    reloaded = tf.saved_model.load(export(model, preprocessor, str(tmp_path)))
    expected_labels, expected_scores = model.predict_text(TEXTS, preprocessor)

    predicted = reloaded.signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(predicted["scores"], expected_scores, atol=1e-5)
    assert [label.decode() for label in predicted["labels"].numpy()] == expected_labels

    classified = reloaded.signatures["classify"](inputs=tf.constant([example(t) for t in TEXTS]))
    np.testing.assert_allclose(classified["scores"], expected_scores, atol=1e-5)
    assert classified["classes"].numpy()[0].tolist() == [b"negative", b"neutral", b"positive"]

    features = preprocessor(TEXTS)
    by_ids = reloaded.signatures["predict_token_ids"](**features)
    np.testing.assert_allclose(by_ids["scores"], expected_scores, atol=1e-5)


def test_multi_label_classifier_returns_each_label_above_one_half(classifier, tmp_path):
    _, preprocessor = classifier
    model = TextClassifier(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=16),
        labels=["a", "b", "c"],
        multi_label=True,
    )
    reloaded = tf.saved_model.load(export(model, preprocessor, str(tmp_path)))
    predicted = reloaded.signatures["serving_default"](text=tf.constant(TEXTS))
    expected, scores = model.predict_text(TEXTS, preprocessor)
    np.testing.assert_allclose(predicted["scores"], scores, atol=1e-5)
    for row, labels in zip(predicted["labels"].numpy(), expected):
        assert [label.decode() for label in row if label] == labels


def test_token_classifier_returns_words_tags_and_character_offsets(tagger, tmp_path):
    model, preprocessor = tagger
    texts = ["Anna Schmidt lives in Berlin .", "Zoë met Wei Chen in Tokyo ,  yesterday .", ""]
    reloaded = tf.saved_model.load(export(model, preprocessor, str(tmp_path)))
    outputs = {k: v.numpy() for k, v in reloaded.signatures["serving_default"](text=tf.constant(texts)).items()}
    assert outputs["words"].shape == (3, 10)
    words = [[w.decode() for w in row] for row in split_words(texts)[0].to_list()]
    expected_tags = model.predict_word_tags(words, preprocessor)
    for row, text in enumerate(texts):
        count = outputs["num_words"][row]
        assert count == min(len(words[row]), 10)
        assert [w.decode() for w in outputs["words"][row][:count]] == words[row][:count]
        assert [t.decode() for t in outputs["tags"][row][:count]] == expected_tags[row][:count]
        for start, end, word in zip(outputs["starts"][row], outputs["ends"][row], words[row][:count]):
            assert text[start:end] == word
        assert (outputs["starts"][row][count:] == -1).all() and not any(outputs["tags"][row][count:])


def test_saved_model_cli_shows_the_signatures(classifier, tmp_path):
    model, preprocessor = classifier
    path = export(model, preprocessor, str(tmp_path))
    shown = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['classify']" in shown
    assert f"Method name is: {CLASSIFY_METHOD}" in shown
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING" in shown
    assert "outputs['scores'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)" in shown


def test_other_models_are_rejected(classifier, tmp_path):
    _, preprocessor = classifier
    with pytest.raises(
        TypeError,
        match="Seq2SeqTransformer, TextClassifier, TokenClassifier, SpanQuestionAnswerer, "
        "TextTwoTowerRetrieval or SequentialRetrieval",
    ):
        export(keras.Sequential([keras.layers.Dense(1)]), preprocessor, str(tmp_path))


RECOMMENDER_TEXTS = ["a rocket to the moon", "a bread recipe", "the moon and the stars", "sourdough bread"]


def recommender_model(kind):
    item_ids = ["i1", "i2", "i3", "i4"]
    preprocessor = ClassificationPreprocessor(learn_vocabulary(RECOMMENDER_TEXTS, 40), sequence_length=8)
    encoder = TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=8)
    token_ids = preprocessor(RECOMMENDER_TEXTS)["token_ids"]
    if kind == "two_tower":
        model = TextTwoTowerRetrieval(
            encoder, item_ids, token_ids, user_ids=["u1", "u2"], item_counts=[3, 1, 2, 0], embedding_dim=8
        )
    else:
        model = SequentialRetrieval(
            encoder, item_ids, token_ids, item_counts=[3, 1, 2, 0], embedding_dim=8, num_layers=1, max_history=4
        )
    return model, preprocessor, RECOMMENDER_TEXTS


@pytest.fixture(scope="module")
def recommender():
    return recommender_model("two_tower")


@pytest.mark.parametrize("kind", ["two_tower", "sequential"])
def test_recommender_signatures_recommend_rank_and_embed_like_the_model(kind, tmp_path):
    model, preprocessor, texts = recommender_model(kind)
    reloaded = tf.saved_model.load(export(model, preprocessor, str(tmp_path), k=3, item_texts=texts))
    # A known user, an unknown user with a history, and no usable query (popularity).
    user_id = tf.constant(["u1", "stranger", "stranger"])
    history = tf.constant([["i3", ""], ["i2", "i4"], ["", ""]])
    served = reloaded.signatures["serving_default"](user_id=user_id, history=history)
    expected = model.recommend({"user_id": user_id, "history": history}, 3)
    np.testing.assert_array_equal(served["item_ids"], expected["item_ids"])
    np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-5)
    titles = dict(zip(model.item_ids, texts))
    assert [[t.decode() for t in row] for row in served["titles"].numpy()] == [
        [titles[i.decode()] for i in row] for row in served["item_ids"].numpy()
    ]
    assert b"i3" not in served["item_ids"].numpy()[0]  # history items are not recommended

    # `recommend` also leaves out the items the client names, e.g. everything the user rated.
    excluded = tf.constant([["i1", ""], ["i1", "i3"], ["i2", "no such item"]])
    served = reloaded.signatures["recommend"](user_id=user_id, history=history, exclude_item_ids=excluded)
    expected = model.recommend({"user_id": user_id, "history": history, "exclude_item_ids": excluded}, 3)
    np.testing.assert_array_equal(served["item_ids"], expected["item_ids"])
    np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-5)
    # Left to recommend: i2 and i4; nothing (the -inf rest); i1, i3 and i4.
    for row, kept in zip(served["item_ids"].numpy().astype(str), [{"i2", "i4"}, set(), {"i1", "i3", "i4"}]):
        assert set(row[: len(kept)]) == kept
    assert np.isneginf(served["scores"].numpy()[1]).all()

    new_texts = tf.constant(["a brand-new space book"])
    embeddings = reloaded.signatures["embed_items"](text=new_texts)["embeddings"]
    np.testing.assert_allclose(embeddings, model.encode_items(preprocessor(new_texts)), atol=1e-5)

    candidates = tf.constant([["a brand-new space book", "sourdough bread"]] * 3)
    ranked = reloaded.signatures["rank"](user_id=user_id, history=history, candidate_texts=candidates)
    queries = model.encode_queries({"user_id": user_id, "history": history}).numpy()
    vectors = model.encode_items(preprocessor(candidates.numpy().reshape(-1))).numpy().reshape(3, 2, -1)
    np.testing.assert_allclose(ranked["scores"], np.einsum("bd,bcd->bc", queries, vectors), atol=1e-5)


def test_recommender_export_needs_k_within_the_catalogue_and_every_title(recommender, tmp_path):
    model, preprocessor, texts = recommender
    with pytest.raises(ValueError, match=r"`k` must be an int in \[1, 4\]"):
        export(model, preprocessor, str(tmp_path), k=5, item_texts=texts)
    with pytest.raises(ValueError, match="`item_texts`"):
        export(model, preprocessor, str(tmp_path), k=2, item_texts=texts[:3])
    assert not any(tmp_path.iterdir())


def test_new_items_are_served_by_a_new_version_without_retraining(recommender, tmp_path):
    model, preprocessor, texts = recommender
    export(model, preprocessor, str(tmp_path), k=4, item_texts=texts)
    new_texts = [*texts, "a galaxy far away"]
    reindexed = model.with_catalogue(
        [*model.item_ids, "i5"], preprocessor(new_texts)["token_ids"], item_counts=[3, 1, 2, 0, 0]
    )
    path = export(reindexed, preprocessor, str(tmp_path), k=5, item_texts=new_texts)
    assert path.endswith("/2")
    query = {"user_id": tf.constant(["u1"]), "history": tf.constant([[""]])}
    served = tf.saved_model.load(path).signatures["serving_default"](**query)
    assert b"i5" in served["item_ids"].numpy()[0]
    np.testing.assert_allclose(served["scores"], reindexed.recommend(query, 5)["scores"], atol=1e-5)
    # The old items keep the vectors the trained model gave them.
    np.testing.assert_allclose(
        reindexed.catalogue_embeddings()[:4], model.catalogue_embeddings(), atol=1e-6
    )
