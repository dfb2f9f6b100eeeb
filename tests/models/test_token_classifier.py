"""Tests for keras_simpletf/models/token_classifier.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from seqeval.metrics import f1_score

from keras_simpletf.data import NER_TAGS, demo_ner
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TokenClassifier
from keras_simpletf.text import LabelEncoder, TokenClassificationPreprocessor, learn_vocabulary


@pytest.fixture(scope="module")
def trained():
    """A tiny single-head NER model trained from scratch on DEMO sentences."""
    keras.utils.set_random_seed(0)
    sentences, tags = demo_ner(1200, seed=0)
    # 129: every token the DEMO sentences yield.
    vocabulary = learn_vocabulary([" ".join(words) for words in sentences], 129)
    preprocessor = TokenClassificationPreprocessor(vocabulary, sequence_length=32)
    encode_tags = LabelEncoder(NER_TAGS)
    train = (
        tf.data.Dataset.from_tensor_slices(
            (tf.ragged.constant(sentences), tf.ragged.constant(tags))
        )
        .shuffle(1200, seed=0)
        .ragged_batch(32)
        .map(lambda words, word_tags: preprocessor(words, encode_tags(word_tags)))
    )
    model = TokenClassifier(
        TransformerEncoder(len(vocabulary), num_layers=2, hidden_dim=48, max_length=32),
        labels=NER_TAGS,
    )
    model.compile(keras.optimizers.AdamW(3e-3), model.default_loss())
    model.fit(train, epochs=4, verbose=0)
    return model, preprocessor


def test_reaches_entity_f1_of_0_9_on_held_out_demo_sentences(trained):
    model, preprocessor = trained
    sentences, tags = demo_ner(300, seed=99)
    predicted = model.predict_word_tags(sentences, preprocessor)
    assert [len(p) for p in predicted] == [len(s) for s in sentences]
    assert f1_score(tags, predicted) >= 0.9


def test_predicts_entities_with_character_offsets_in_raw_text(trained):
    model, preprocessor = trained
    texts = ["Anna Schmidt works for Acme Corp in Buenos Aires.", "Ünïcode first: Wei Chen lives in Oslo ."]
    entities = model.predict_entities(texts, preprocessor)
    assert {(e["type"], e["text"]) for e in entities[0]} == {
        ("PER", "Anna Schmidt"), ("ORG", "Acme Corp"), ("LOC", "Buenos Aires")
    }
    for text, found in zip(texts, entities):
        for entity in found:
            assert text[entity["start"] : entity["end"]] == entity["text"]
    # Character offsets stay right after multi-byte characters.
    assert ("PER", "Wei Chen") in {(e["type"], e["text"]) for e in entities[1]}


def test_word_tags_are_the_models_own_through_one_traced_function(trained):
    model, preprocessor = trained
    sentences, _ = demo_ner(40, seed=5)
    tags = model.predict_word_tags(sentences, preprocessor, batch_size=16)
    features = preprocessor(sentences)
    word_index = keras.ops.convert_to_numpy(features.pop("word_index"))
    predicted = keras.ops.convert_to_numpy(model(features, training=False)).argmax(axis=-1)
    for row, sentence in enumerate(sentences):
        # Every DEMO sentence fits: its first pieces are its words, in order.
        best = [model.labels[i] for i in predicted[row][word_index[row] >= 0]]
        assert len(tags[row]) == len(sentence)
        assert _valid_iob2(tags[row])
        if _valid_iob2(best):  # the best sequence of all is then the best valid one
            assert tags[row] == best
    traces = model.predict_function.experimental_get_tracing_count()
    model.predict_word_tags(sentences, preprocessor, batch_size=16)
    assert model.predict_function.experimental_get_tracing_count() == traces


def _valid_iob2(tags):
    return all(
        not tag.startswith("I-") or previous in (f"B-{tag[2:]}", tag)
        for previous, tag in zip(["O"] + tags, tags)
    )


def test_words_beyond_the_sequence_length_are_tagged_o(trained):
    model, preprocessor = trained
    long_sentence = ["Paul", "lives", "in", "Oslo"] + ["and"] * 60 + ["Paris"]
    (tags,) = model.predict_word_tags([long_sentence], preprocessor)
    assert len(tags) == len(long_sentence) and tags[-1] == "O"


def test_empty_and_whitespace_texts_have_no_entities(trained):
    model, preprocessor = trained
    assert model.predict_entities(["", "   "], preprocessor) == [[], []]


def test_keras_file_round_trip(trained, tmp_path):
    model, preprocessor = trained
    model.save(tmp_path / "ner.keras")
    restored = keras.saving.load_model(tmp_path / "ner.keras")
    assert restored.labels == list(NER_TAGS)
    features = preprocessor([["Paul", "visited", "Tokyo"]])
    features.pop("word_index")
    np.testing.assert_allclose(restored(features), model(features), atol=1e-5)
