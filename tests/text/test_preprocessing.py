"""Tests for keras_simpletf/text/preprocessing.py and wordpiece.py."""

import itertools

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.text import (
    SPECIAL_TOKENS,
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    learn_vocabulary,
    split_words,
    wordpiece_tokenizer,
)
from keras_simpletf.text.preprocessing import pack_segments

CORPUS = ["The film was great.", "The plot was dull and far too long."] * 20
# Ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then these.
VOCABULARY = [*SPECIAL_TOKENS, "john", "lives", "in", "berlin", "ber", "##lin", ".", "u", "s"]


def numpy(features):
    return {name: keras.ops.convert_to_numpy(value) for name, value in features.items()}


# 216 made-up words seen twice each, and "story" five times: no word reaches
# the count of 10 that keras-hub's learner requires of a piece.
RARE_WORDS = ["".join(s) for s in itertools.product(["ka", "lo", "mi", "ne", "ru", "ti"], repeat=3)]
RARE_CORPUS = [" ".join(RARE_WORDS[i : i + 6]) for i in range(0, 216, 6)] * 2 + ["a story"] * 5


def pieces(vocabulary, word, lowercase=True):
    ids = wordpiece_tokenizer(vocabulary, lowercase).tokenize(tf.constant([word]))
    return [vocabulary[i] for i in ids.flat_values.numpy()]


def test_learned_vocabulary_has_the_size_asked_for_special_tokens_first():
    for size in (60, 100, 200, 248):
        vocabulary = learn_vocabulary(RARE_CORPUS, vocabulary_size=size)
        assert len(vocabulary) == len(set(vocabulary)) == size
        assert tuple(vocabulary[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
        # Every character alone and as a continuation: no word becomes [UNK].
        assert {"k", "##k", "y", "##y"} <= set(vocabulary)
    assert pieces(learn_vocabulary(RARE_CORPUS, 200), "story") == ["story"]


def test_learner_thresholds_are_arguments_and_a_too_large_size_is_refused_saying_why():
    # keras-hub's fixed lower_thresh=10 capped this corpus at 67 tokens.
    too_large = "at most 67 tokens.*at least 10 times.*lower `lower_thresh`"
    with pytest.raises(ValueError, match=too_large):
        learn_vocabulary(RARE_CORPUS, vocabulary_size=200, lower_thresh=10)
    assert len(learn_vocabulary(RARE_CORPUS, vocabulary_size=67, lower_thresh=10)) == 67
    with pytest.raises(ValueError, match="at most 248 tokens.*learn from more text"):
        learn_vocabulary(RARE_CORPUS, vocabulary_size=249)
    with pytest.raises(ValueError, match="at least 31 .* 13 distinct characters"):
        learn_vocabulary(RARE_CORPUS, vocabulary_size=30)
    # Words with characters beyond the `max_unique_chars` most frequent are not learned.
    assert "y" not in learn_vocabulary(RARE_CORPUS, vocabulary_size=30, max_unique_chars=11)
    with pytest.raises(ValueError, match="no words"):
        learn_vocabulary(["", "  "], vocabulary_size=30)


def test_allow_smaller_gives_all_a_small_corpus_yields():
    everything = learn_vocabulary(RARE_CORPUS, vocabulary_size=8000, allow_smaller=True)
    assert len(everything) == 248
    assert everything == learn_vocabulary(RARE_CORPUS, vocabulary_size=248)
    assert len(learn_vocabulary(RARE_CORPUS, vocabulary_size=100, allow_smaller=True)) == 100


def test_a_cased_vocabulary_keeps_case_through_both_preprocessors():
    vocabulary = learn_vocabulary(["Washington is in washington ."] * 5, 31, lowercase=False)
    assert pieces(vocabulary, "Washington", lowercase=False) == ["Washington"]
    washington, lower = vocabulary.index("Washington"), vocabulary.index("washington")
    for layer, inputs in (
        (ClassificationPreprocessor(vocabulary, 5, lowercase=False), ["Washington washington"]),
        (TokenClassificationPreprocessor(vocabulary, 5, lowercase=False), [["Washington", "washington"]]),
    ):
        restored = type(layer).from_config(layer.get_config())
        assert restored.get_config()["lowercase"] is False
        np.testing.assert_array_equal(restored(inputs)["token_ids"], [[2, washington, lower, 3, 0]])


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


@pytest.mark.parametrize("truncate", ["round_robin", "waterfall"])
@pytest.mark.parametrize("num_segments", [1, 2])
def test_packing_gives_what_keras_hubs_packer_gives(truncate, num_segments):
    rows = np.random.default_rng(num_segments)
    for sequence_length in (3, 4, 5, 8, 16):
        for _ in range(20):
            segments = [
                tf.ragged.constant(
                    [list(rows.integers(5, 99, rows.integers(0, 2 * sequence_length))) for _ in range(4)],
                    dtype=tf.int32, ragged_rank=1,
                )
                for _ in range(num_segments)
            ]
            expected = keras_hub.layers.MultiSegmentPacker(
                sequence_length, start_value=2, end_value=3, pad_value=0, truncate=truncate
            )(tuple(segments))
            packed = pack_segments(segments, sequence_length, 2, 3, 0, truncate == "round_robin")
            np.testing.assert_array_equal(packed[0], expected[0])
            np.testing.assert_array_equal(packed[1], expected[1])


def test_keras_file_round_trip_keeps_the_vocabulary(tmp_path):
    layer = ClassificationPreprocessor(learn_vocabulary(CORPUS, vocabulary_size=50), 8)
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


@pytest.mark.parametrize(
    "text, words",
    [
        ("Hi, Wörld  U.S.", ["Hi", ",", "Wörld", "U.S."]),
        ("U.S. troops left Bosnia.", ["U.S.", "troops", "left", "Bosnia", "."]),
        ('Bosnian-Serb leader Karadzic\'s party (SDS) said: "no".',
         ["Bosnian-Serb", "leader", "Karadzic", "'s", "party", "(", "SDS", ")", "said", ":", '"', "no", '"', "."]),
        ("Mr. Doe of Acme Inc., the U.N.'s envoy, met J. Roe at 10:30 a.m. on 1996-08-22.",
         ["Mr.", "Doe", "of", "Acme", "Inc.", ",", "the", "U.N.", "'s", "envoy", ",", "met", "J.",
          "Roe", "at", "10:30", "a.m.", "on", "1996-08-22", "."]),
        ("It cost US$ 1,000.50 -- or C$1.5m ... they're O'Neill's; don't!",
         ["It", "cost", "US$", "1,000.50", "--", "or", "C$", "1.5m", "...", "they", "'re", "O'Neill",
          "'s", ";", "don't", "!"]),
        ("rose 5.5% to +44 and .500, won 6-3 6-2.",
         ["rose", "5.5", "%", "to", "+44", "and", ".500", ",", "won", "6-3", "6-2", "."]),
        ("\u00abZürich\u00bb\u00a0AT&T\u2019s 'Sarajevo'",
         ["\u00ab", "Zürich", "\u00bb", "AT&T", "\u2019s", "'", "Sarajevo", "'"]),
        (" \t ", []),
    ],
)
def test_split_words_splits_as_conll_and_keeps_exact_byte_offsets(text, words):
    found, starts, ends = (values.to_list()[0] for values in split_words([text]))
    assert [word.decode() for word in found] == words
    encoded = text.encode()
    assert [encoded[start:end] for start, end in zip(starts, ends)] == found


# CoNLL-2003 sentences (train and dev) as the corpus writes them, one of each kind
# of word that splitting them again once broke: their words joined by spaces must
# split back into the same words, or the tagger sees at serving words it never saw.
@pytest.mark.parametrize(
    "sentence",
    [
        "1. Colonna 8:22:00",  # a ranking's "1." starts a text
        "1= Andrei Tiwontschik ( Germany ) 5.86",  # a tie
        "A U.S.-led air force in southern Turkey protects Iraqi Kurds from possible attacks .",
        "The Redmond , Wash.-based company spent tens of millions of dollars promoting the product .",
        "Baghdad holds that the Iraq-U.N. memorandum of understanding on partial oil sales signed last June",
        "Mexican avocados not expected in U.S .",  # a sentence's last period split off "U.S."
        "A.de Silva not out 49",
        "Derbyshire 471 ( J. Adams 123 , T.O'Gorman 109 not out , K. Barnett 87 ; T. Moody 6-82 )",
        "S.AFRICAN TRUTH BODY TO SUMMON APARTHEID POLICE .",
        "TBN 30 6/9 Mideast / W.C. India W200 , E.C.India W195 IOC .",
        "CARLSBAD , Calif. 1996-08-24",
        "ST. LOUIS 1996-08-30",
        "Taiwan Flour Mills Assn bought 98,000 tonnes of U.S. No.1 or No.2 wheat from Cargill",
        "Mar.97 INT PAY 5 .",
        "Hapoel Beit She'an 0 Hapoel Beit She'an 1",
        "the armed struggle the Gama'a launched in 1992 , al-Gama'a al-Islamiya and keeper Jacques Songo'o .",
        "MOODY 'S : A1 S&P : AA- FITCH : AA+",
        'She was the first non- seeded player , " said the 21-year-old German . "',
        "Makarova ( Russia ) 6- 3 1-6 7-5",
        "- Air Cargo Newsroom Tel+44 161 542 7706 Fax+44 171 542 5017",
        "( $ 1=80 naira ) , Industrial Production Index ( 100=1990 ) .",
        "Most Spaniards back talks with Basque rebels--poll .",
        '" ...I request the immediate repatriation of Kim In-so to North Korea , " he said .',
        "----- oOo-----",
        "they have a son , James Scott Brady Jr . Goldman , Sachs & Co . Former South Carolina Gov .",
        "Sarah was Brady 's second wife ; MOODY 'S rated it ; we 're sure they 've said they 'll go .",
    ],
)
def test_split_words_gives_back_conll_words_joined_by_spaces(sentence):
    words = sentence.split(" ")
    assert [word.decode() for word in split_words([sentence])[0].to_list()[0]] == words


@pytest.mark.parametrize(
    "text, words",
    [
        # A ranking's number keeps its period at the start of a text or a line...
        ("1. Jan Ullrich (Germany) Telekom 4:23:12\n 2. Bjarne Riis (Denmark) 6= Tom Lehman",
         ["1.", "Jan", "Ullrich", "(", "Germany", ")", "Telekom", "4:23:12", "2.", "Bjarne", "Riis",
          "(", "Denmark", ")", "6", "=", "Tom", "Lehman"]),
        # ...but not elsewhere, nor years, nor a number ending a text.
        ("Kluivert scored after 25. Ajax won 2-1 in 1996.\n1996. 12.",
         ["Kluivert", "scored", "after", "25", ".", "Ajax", "won", "2-1", "in", "1996", ".", "1996", ".",
          "12", "."]),
        ("The Redmond, Wash.-based company and a U.S.-led force met Republican Gov. Pete Wilson.",
         ["The", "Redmond", ",", "Wash.-based", "company", "and", "a", "U.S.-led", "force", "met",
          "Republican", "Gov", ".", "Pete", "Wilson", "."]),
        ("Hapoel Beit She'an's coach told al-Gama'a they're in Nuku'alofa's d'oïl quarter, I'Ve heard.",
         ["Hapoel", "Beit", "She'an", "'s", "coach", "told", "al-Gama'a", "they", "'re", "in",
          "Nuku'alofa", "'s", "d'oïl", "quarter", ",", "I", "'Ve", "heard", "."]),
        ("S&P rates it AA+, Fitch AA-; call Tel+44 at 1=80 naira (100=1990), the first non- seeded.",
         ["S&P", "rates", "it", "AA+", ",", "Fitch", "AA-", ";", "call", "Tel+44", "at", "1=80", "naira",
          "(", "100=1990", ")", ",", "the", "first", "non-", "seeded", "."]),
        ("SAN MATEO, Calif., sold No.2 wheat to Acme Co. in Sept. and Mar.97, after A.de Silva said: "
         '"...I agree" (rebels--poll).',
         ["SAN", "MATEO", ",", "Calif.", ",", "sold", "No.2", "wheat", "to", "Acme", "Co", ".", "in",
          "Sept", ".", "and", "Mar.97", ",", "after", "A.de", "Silva", "said", ":", '"', "...I", "agree",
          '"', "(", "rebels--poll", ")", "."]),
    ],
)
def test_split_words_splits_raw_text_as_conll(text, words):
    found, starts, ends = (values.to_list()[0] for values in split_words([text]))
    assert [word.decode() for word in found] == words
    encoded = text.encode()
    assert [encoded[start:end] for start, end in zip(starts, ends)] == found


def test_split_words_joins_rankings_per_text_in_a_batch_and_in_a_graph():
    texts = ["1. Colonna 8:22:00", "aged 25. He", "", "3.", "2. Tortelli", "7 . Al Unser Jr"]
    expected = [["1.", "Colonna", "8:22:00"], ["aged", "25", ".", "He"], [], ["3", "."],
                ["2.", "Tortelli"], ["7", ".", "Al", "Unser", "Jr"]]
    graph = tf.function(split_words, input_signature=[tf.TensorSpec([None], tf.string)])
    for words, starts, ends in (split_words(texts), graph(tf.constant(texts))):
        assert [[word.decode() for word in row] for row in words.to_list()] == expected
        assert ends.to_list()[0][0] == 2 and starts.to_list()[4] == [0, 3]
    nested = split_words(tf.constant([["1. Colonna", "won 6-3."]]))[0].to_list()
    assert nested == [[[b"1.", b"Colonna"], [b"won", b"6-3", b"."]]]


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
