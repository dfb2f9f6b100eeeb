"""Tests for keras_simpletf/text/preprocessing.py and wordpiece.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.text import (
    SPECIAL_TOKENS,
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    learn_vocabulary,
    split_words,
)

CORPUS = ["The film was great.", "The plot was dull and far too long."] * 20
# Ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then these.
VOCABULARY = [*SPECIAL_TOKENS, "john", "lives", "in", "berlin", "ber", "##lin", ".", "u", "s"]


def numpy(features):
    return {name: keras.ops.convert_to_numpy(value) for name, value in features.items()}


def test_learned_vocabulary_starts_with_the_special_tokens_padding_first():
    vocabulary = learn_vocabulary(CORPUS, vocabulary_size=100)
    assert tuple(vocabulary[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert "film" in vocabulary and len(vocabulary) <= 100


def test_vocab_txt_is_read_and_missing_special_tokens_are_named(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCABULARY) + "\n")
    layer = ClassificationPreprocessor(str(path), sequence_length=5)
    np.testing.assert_array_equal(layer(["John Berlin"])["token_ids"], [[2, 5, 8, 3, 0]])
    with pytest.raises(ValueError, match=r"\['\[CLS\]'\]"):
        ClassificationPreprocessor(["[PAD]", "[UNK]", "[SEP]", "film"])


def test_packs_cls_pieces_sep_pads_with_zero_and_masks_padding():
    features = numpy(ClassificationPreprocessor(VOCABULARY, 8)(["John lives in BERLIN", ""]))
    np.testing.assert_array_equal(
        features["token_ids"], [[2, 5, 6, 7, 8, 3, 0, 0], [2, 3, 0, 0, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(features["padding_mask"], features["token_ids"] != 0)
    assert not features["segment_ids"].any()


def test_unknown_words_map_to_unk_and_accents_are_stripped():
    features = numpy(ClassificationPreprocessor(VOCABULARY, 6)(["Bérlin zzzz"]))
    np.testing.assert_array_equal(features["token_ids"], [[2, 8, 1, 3, 0, 0]])


def test_long_texts_are_truncated_keeping_sep():
    features = numpy(ClassificationPreprocessor(VOCABULARY, 6)([" ".join(["john"] * 500)]))
    np.testing.assert_array_equal(features["token_ids"], [[2, 5, 5, 5, 5, 3]])


def test_pairs_get_segment_ids_and_round_robin_truncation():
    layer = ClassificationPreprocessor(VOCABULARY, 8)
    features = numpy(layer(["john lives in berlin"], ["berlin berlin berlin"]))
    # 5 pieces fit: taken alternately, 3 from the first text and 2 from the second.
    np.testing.assert_array_equal(features["token_ids"], [[2, 5, 6, 7, 3, 8, 8, 3]])
    np.testing.assert_array_equal(features["segment_ids"], [[0, 0, 0, 0, 0, 1, 1, 1]])


def test_keras_file_round_trip_keeps_the_vocabulary(tmp_path):
    layer = ClassificationPreprocessor(learn_vocabulary(CORPUS, vocabulary_size=100), 8)
    texts = keras.Input(shape=(), dtype="string")
    keras.Model(texts, layer(texts)).save(tmp_path / "preprocessor.keras")
    restored = keras.saving.load_model(tmp_path / "preprocessor.keras")
    batch = tf.constant(["the plot was great", "dull"])
    for name, value in restored(batch).items():
        np.testing.assert_array_equal(value, layer(batch)[name])


def test_works_inside_tf_data():
    layer = ClassificationPreprocessor(VOCABULARY, 6)
    dataset = tf.data.Dataset.from_tensor_slices(["john", "berlin in"]).batch(2).map(layer)
    np.testing.assert_array_equal(
        next(iter(dataset))["token_ids"], [[2, 5, 3, 0, 0, 0], [2, 8, 7, 3, 0, 0]]
    )


def test_token_classification_puts_tags_on_first_pieces_only():
    layer = TokenClassificationPreprocessor(VOCABULARY, 10)
    features, tags = layer([["John", "lives", "in", "Berlin", "U.S."], ["", "zz"]], [[1, 0, 0, 2, 2], [0, 1]])
    features = numpy(features)
    # "U.S." is one word of four pieces: u . s .; "" and "zz" become [UNK].
    np.testing.assert_array_equal(
        features["token_ids"], [[2, 5, 6, 7, 8, 12, 11, 13, 11, 3], [2, 1, 1, 3, 0, 0, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        tags, [[-1, 1, 0, 0, 2, 2, -1, -1, -1, -1], [-1, 0, 1, -1, -1, -1, -1, -1, -1, -1]]
    )
    assert "word_index" not in features
    inference_features = numpy(layer([["John", "lives", "in", "Berlin", "U.S."], ["", "zz"]]))
    np.testing.assert_array_equal(inference_features["token_ids"], features["token_ids"])
    np.testing.assert_array_equal(
        inference_features["word_index"],
        [[-1, 0, 1, 2, 3, 4, -1, -1, -1, -1], [-1, 0, 1, -1, -1, -1, -1, -1, -1, -1]],
    )


def test_token_classification_truncation_drops_the_last_words_tags():
    layer = TokenClassificationPreprocessor(VOCABULARY, 5)
    features, tags = layer([["john", "lives", "in", "berlin"]], [[1, 0, 0, 2]])
    np.testing.assert_array_equal(features["token_ids"], [[2, 5, 6, 7, 3]])
    np.testing.assert_array_equal(tags, [[-1, 1, 0, 0, -1]])


def test_split_words_keeps_byte_offsets_and_isolates_punctuation():
    words, starts, ends = split_words(["Hi, Wörld  U.S."])
    assert words.to_list() == [[b"Hi", b",", "Wörld".encode(), b"U", b".", b"S", b"."]]
    assert starts.to_list() == [[0, 2, 4, 12, 13, 14, 15]]
    assert ends.to_list() == [[2, 3, 10, 13, 14, 15, 16]]


def test_sequence_length_below_three_is_rejected():
    with pytest.raises(ValueError, match="sequence_length"):
        ClassificationPreprocessor(VOCABULARY, 2)


def test_unbatched_inputs_give_unbatched_outputs_for_map_before_batch():
    classification = ClassificationPreprocessor(VOCABULARY, 4)
    np.testing.assert_array_equal(classification("john")["token_ids"], [2, 5, 3, 0])
    tokens = TokenClassificationPreprocessor(VOCABULARY, 4)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant([["john", "in"], ["berlin"]]), tf.ragged.constant([[1, 0], [2]]))
    ).map(tokens).batch(2)
    features, tags = next(iter(dataset))
    np.testing.assert_array_equal(features["token_ids"], [[2, 5, 7, 3], [2, 8, 3, 0]])
    np.testing.assert_array_equal(tags, [[-1, 1, 0, -1], [-1, 2, -1, -1]])


def test_dynamic_padding_pads_a_batch_to_its_longest_row_only():
    layer = ClassificationPreprocessor(VOCABULARY, 16, dynamic_padding=True)
    np.testing.assert_array_equal(layer(["john", "john in berlin"])["token_ids"], [[2, 5, 3, 0, 0], [2, 5, 7, 8, 3]])
    tokens = TokenClassificationPreprocessor(VOCABULARY, 16, dynamic_padding=True)
    features, tags = tokens([["john"], ["john", "berlin"]], [[1], [1, 2]])
    assert features["token_ids"].shape == (2, 4) and tags.shape == (2, 4)


def test_invalid_utf8_bytes_become_unk_and_blank_texts_are_cls_sep():
    layer = ClassificationPreprocessor(VOCABULARY, 6)
    features = numpy(layer(tf.constant([b"john \xff\xfe berlin", b"   ", b""])))
    np.testing.assert_array_equal(
        features["token_ids"], [[2, 5, 1, 8, 3, 0], [2, 3, 0, 0, 0, 0], [2, 3, 0, 0, 0, 0]]
    )
