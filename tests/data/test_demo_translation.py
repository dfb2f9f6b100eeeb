"""Tests for keras_simpletf/data/demo_translation.py."""

import numpy as np
import pytest

from keras_simpletf.data import DEMO_TRANSLATION_VOCABULARY, demo_translation, demo_translation_features


GERMAN = {"one": "eins", "two": "zwei", "three": "drei", "four": "vier", "five": "fünf",
          "six": "sechs", "seven": "sieben", "eight": "acht", "nine": "neun", "ten": "zehn"}


def test_pairs_are_reversed_word_for_word_translations_and_a_function_of_the_seed():
    sources, targets = demo_translation(50, seed=3, min_words=2, max_words=5)
    assert (sources, targets) == demo_translation(50, seed=3, min_words=2, max_words=5)
    assert sources != demo_translation(50, seed=4, min_words=2, max_words=5)[0]
    for source, target in zip(sources, targets):
        assert 2 <= len(source.split()) <= 5
        assert target.split() == [GERMAN[word] for word in reversed(source.split())]


def test_features_shift_the_target_by_one_between_input_and_labels():
    features, labels = demo_translation_features(["one two"], ["zwei eins"], sequence_length=4)
    ids = {word: index for index, word in enumerate(DEMO_TRANSLATION_VOCABULARY)}
    np.testing.assert_array_equal(features["source_ids"], [[ids["one"], ids["two"], ids["</s>"], 0]])
    np.testing.assert_array_equal(features["target_in_ids"], [[ids["<s>"], ids["zwei"], ids["eins"], 0]])
    np.testing.assert_array_equal(labels, [[ids["zwei"], ids["eins"], ids["</s>"], 0]])


def test_a_sentence_longer_than_the_sequence_length_is_an_error():
    with pytest.raises(ValueError, match="needs 4 positions"):
        demo_translation_features(["one two three"], ["drei zwei eins"], sequence_length=3)
