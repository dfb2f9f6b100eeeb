"""Tests for keras_simpletf/models/tag_decoding.py: IOB2-constrained Viterbi decoding."""

import itertools

import numpy as np
import tensorflow as tf

from keras_simpletf.models import tag_decoding

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_iob2_constraints():
    allowed, allowed_first = tag_decoding.iob2_constraints(LABELS)
    assert allowed_first.tolist() == [True, True, False, True, False]
    # Rows: previous tag; I-PER follows only B-PER and I-PER, I-LOC only B-LOC and I-LOC.
    assert allowed[:, 2].tolist() == [False, True, True, False, False]
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()


def _exhaustive(log_probs, length, allowed, allowed_first):
    best, best_score = None, -np.inf
    for tags in itertools.product(range(len(LABELS)), repeat=length):
        if not allowed_first[tags[0]] or not all(allowed[a, b] for a, b in zip(tags, tags[1:])):
            continue
        score = sum(log_probs[t, tag] for t, tag in enumerate(tags))
        if score > best_score:
            best, best_score = list(tags), score
    return best


def test_viterbi_finds_what_exhaustive_search_finds():
    rng = np.random.default_rng(0)
    allowed, allowed_first = tag_decoding.iob2_constraints(LABELS)
    log_probs = rng.normal(size=[16, 5, len(LABELS)]).astype(np.float32)
    decoded = tag_decoding.viterbi_decode(log_probs, allowed, allowed_first).numpy()
    for row in range(16):
        assert decoded[row].tolist() == _exhaustive(log_probs[row], 5, allowed, allowed_first)


def test_sentences_of_different_lengths_decode_as_each_alone():
    # Sentences decoded together, each to its own length: what exhaustive search finds for the
    # sentence alone, "O" after it.
    rng = np.random.default_rng(0)
    allowed, allowed_first = tag_decoding.iob2_constraints(LABELS)
    logits = rng.normal(size=[16, 7, len(LABELS)]).astype(np.float32)
    lengths = rng.integers(0, 6, size=16)
    # [CLS] w0 ... w(length - 1) [SEP] [PAD]...
    word_index = np.full([16, 7], -1)
    for row, length in enumerate(lengths):
        word_index[row, 1 : 1 + length] = np.arange(length)
    tags = tag_decoding.decode_word_tags(logits, word_index, lengths, 5, LABELS).numpy()
    log_probs = tf.nn.log_softmax(logits).numpy()
    for row, length in enumerate(lengths):
        alone = log_probs[row, 1 : 1 + length]
        expected = _exhaustive(alone, length, allowed, allowed_first) if length else []
        assert tags[row].tolist() == expected + [0] * (5 - length)


def test_one_step_and_a_scores_argmax_that_iob2_forbids():
    allowed, allowed_first = tag_decoding.iob2_constraints(LABELS)
    # Alone, each word's best tag gives "O I-PER": forbidden. B-PER I-PER (0.5 + 0.9) beats
    # O O (0.9 + 0.05) and O B-PER.
    scores = np.log(
        [[[0.5, 0.45, 1e-9, 0.05, 1e-9], [0.05, 0.05, 0.9, 1e-9, 1e-9]]], dtype=np.float32
    )
    decoded = tag_decoding.viterbi_decode(scores, allowed, allowed_first).numpy()
    assert [LABELS[i] for i in decoded[0]] == ["B-PER", "I-PER"]
    single = tag_decoding.viterbi_decode(scores[:, :1], allowed, allowed_first).numpy()
    assert single.tolist() == [[0]]


def test_decode_word_tags_reads_first_pieces_and_tags_cut_words_o():
    # Two sentences of pieces: [CLS] w0 w0' w1 [SEP] and [CLS] w0 w1 w2, whose w2 was cut.
    word_index = tf.constant([[-1, 0, -1, 1, -1], [-1, 0, 1, -1, -1]])
    logits = np.full([2, 5, len(LABELS)], -5.0, np.float32)
    logits[0, 1, 1] = logits[0, 3, 2] = 5.0  # B-PER I-PER
    logits[0, 2, 3] = 9.0  # a later piece: ignored
    logits[1, 1, 3] = logits[1, 2, 4] = 5.0  # B-LOC I-LOC, then the cut word
    tags = tag_decoding.decode_word_tags(logits, word_index, tf.constant([2, 3]), 3, LABELS)
    assert [LABELS[i] for i in tags.numpy()[0, :2]] == ["B-PER", "I-PER"]
    assert [LABELS[i] for i in tags.numpy()[1]] == ["B-LOC", "I-LOC", "O"]


def test_a_traced_decoder_of_unknown_batch_decodes_one_word_rows_and_stops_at_the_longest():
    # As an exported tagger runs it: batch and length unknown until called. One-word rows leave
    # the decoder no step to take after the first; rows are `max_words` wide whatever the
    # batch's longest sentence, "O" past each sentence's words.
    decode = tf.function(
        lambda logits, word_index, num_words: tag_decoding.decode_word_tags(
            logits, word_index, num_words, 6, LABELS
        ),
        input_signature=[
            tf.TensorSpec([None, None, len(LABELS)], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None], tf.int32),
        ],
    )
    one_word = np.full([1, 3, len(LABELS)], -5.0, np.float32)
    one_word[0, 1, 3] = 5.0  # [CLS] B-LOC [SEP]
    tags = decode(one_word, tf.constant([[-1, 0, -1]]), tf.constant([1])).numpy()
    assert [LABELS[i] for i in tags[0]] == ["B-LOC", "O", "O", "O", "O", "O"]

    rng = np.random.default_rng(1)
    logits = rng.normal(size=[3, 5, len(LABELS)]).astype(np.float32)
    word_index = tf.constant([[-1, 0, 1, 2, -1], [-1, 0, -1, 1, -1], [-1, 0, -1, -1, -1]])
    tags = decode(logits, word_index, tf.constant([3, 2, 1])).numpy()
    allowed, allowed_first = tag_decoding.iob2_constraints(LABELS)
    log_probs = tf.nn.log_softmax(logits).numpy()
    for row, first_pieces in enumerate([[1, 2, 3], [1, 3], [1]]):
        expected = _exhaustive(log_probs[row, first_pieces], len(first_pieces), allowed, allowed_first)
        assert tags[row].tolist() == expected + [0] * (6 - len(first_pieces))
