"""Tests for keras_simpletf/text/preprocessing.py and wordpiece.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.text import (
    SPECIAL_TOKENS,
    ClassificationPreprocessor,
    learn_vocabulary,
)

CORPUS = ["The film was great.", "The plot was dull and far too long."] * 20


def preprocessor(sequence_length=8):
    vocabulary = learn_vocabulary(CORPUS, vocabulary_size=100)
    return ClassificationPreprocessor(vocabulary, sequence_length)


def test_learned_vocabulary_starts_with_the_special_tokens_padding_first():
    vocabulary = learn_vocabulary(CORPUS, vocabulary_size=100)
    assert tuple(vocabulary[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert "film" in vocabulary and len(vocabulary) <= 100


def test_vocab_txt_is_read_and_missing_special_tokens_are_named(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join([*SPECIAL_TOKENS, "film", "great"]) + "\n")
    layer = ClassificationPreprocessor(str(path), sequence_length=4)
    np.testing.assert_array_equal(layer(tf.constant(["great film"])), [[2, 6, 5, 3]])
    with pytest.raises(ValueError, match=r"\['\[CLS\]'\]"):
        ClassificationPreprocessor(["[PAD]", "[UNK]", "[SEP]", "film"])


def test_packs_cls_tokens_sep_and_pads_with_zero():
    layer = preprocessor()
    ids = keras.ops.convert_to_numpy(layer(tf.constant(["the film was great", ""])))
    tokenizer = layer.tokenizer
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert ids.shape == (2, 8) and ids.dtype == np.int32
    assert ids[0, 0] == cls and ids[0, 5] == sep and (ids[0, 6:] == 0).all()
    np.testing.assert_array_equal(ids[1], [cls, sep, 0, 0, 0, 0, 0, 0])


def test_long_texts_are_truncated_keeping_sep():
    layer = preprocessor(sequence_length=6)
    ids = keras.ops.convert_to_numpy(layer(tf.constant([" ".join(["film"] * 500)])))
    assert ids.shape == (1, 6) and ids[0, -1] == layer.tokenizer.token_to_id("[SEP]")


def test_unknown_words_map_to_unk_and_case_is_folded():
    layer = preprocessor()
    ids = keras.ops.convert_to_numpy(layer(tf.constant(["FILM zzzz"])))
    tokenizer = layer.tokenizer
    assert ids[0, 1] == tokenizer.token_to_id("film")
    assert tokenizer.token_to_id("[UNK]") in ids[0]


def test_keras_file_round_trip_keeps_the_vocabulary(tmp_path):
    layer = preprocessor()
    texts = keras.Input(shape=(), dtype="string")
    keras.Model(texts, layer(texts)).save(tmp_path / "preprocessor.keras")
    restored = keras.saving.load_model(tmp_path / "preprocessor.keras")
    batch = tf.constant(["the plot was great", "dull"])
    np.testing.assert_array_equal(restored(batch), layer(batch))
