"""Tests for keras_simpletf/generation (greedy, sampling, beam search) on bigram models given as tables."""

import itertools

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.generation import beam_search, gnmt_length_penalty, greedy_search, sample

END = 2


def bigram_step(log_probs):
    """A step function whose next-token log-probs depend on the position and the last token."""
    table = tf.constant(log_probs, tf.float32)

    def step(token_ids, index, cache):
        previous = token_ids[:, index]
        return tf.gather(table[index], previous), {"steps": cache["steps"] + 1}

    return step


def random_table(max_length, vocabulary_size, seed):
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(max_length, vocabulary_size, vocabulary_size))
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def exhaustive_ranking(table, start, max_length, alpha):
    """Every hypothesis (ended by END, or cut at max_length) with its score, best first."""
    vocabulary_size = table.shape[-1]
    hypotheses = []
    for length in range(1, max_length + 1):
        for tokens in itertools.product(range(vocabulary_size), repeat=length):
            if END in tokens[:-1] or (length < max_length and tokens[-1] != END):
                continue
            previous = (start,) + tokens[:-1]
            log_prob = sum(table[i, previous[i], token] for i, token in enumerate(tokens))
            score = log_prob / ((5 + length) / 6) ** alpha
            hypotheses.append((score, tokens + (0,) * (max_length - length)))
    return sorted(hypotheses, key=lambda hypothesis: -hypothesis[0])


def counter(batch_size):
    """A cache that counts the steps of each sequence (and follows its beam)."""
    return {"steps": tf.zeros([batch_size], tf.int32)}


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_beam_as_wide_as_the_search_space_ranks_as_exhaustive_search(alpha, seed):
    max_length, vocabulary_size = 3, 5
    table = random_table(max_length, vocabulary_size, seed)
    expected = exhaustive_ranking(table, start=1, max_length=max_length, alpha=alpha)
    token_ids, scores = beam_search(
        bigram_step(table), counter(1), tf.constant([1]), END, max_length,
        beam_width=128, length_penalty=alpha,
    )
    top = 10
    np.testing.assert_array_equal(token_ids[0, :top], [tokens for _, tokens in expected[:top]])
    np.testing.assert_allclose(scores[0, :top], [score for score, _ in expected[:top]], rtol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_beam_width_4_finds_the_exhaustive_best_on_a_tiny_vocabulary(seed):
    max_length, vocabulary_size = 4, 4
    table = random_table(max_length, vocabulary_size, seed)
    best_score, best = exhaustive_ranking(table, start=1, max_length=max_length, alpha=0.6)[0]
    token_ids, scores = beam_search(bigram_step(table), counter(1), tf.constant([1]), END, max_length)
    np.testing.assert_array_equal(token_ids[0, 0], best)
    assert float(scores[0, 0]) == pytest.approx(best_score, rel=1e-5)


def test_a_finished_beam_is_never_extended():
    # After the end token, token 3 is certain: extending a finished beam would
    # cost it nothing and write 3s after its end.
    max_length, vocabulary_size = 5, 4
    table = np.log(np.full((max_length, vocabulary_size, vocabulary_size), 0.015))
    table[:, :, 3] = np.log(0.4)
    table[:, :, END] = np.log(0.57)
    table[:, END, :] = np.log(0.01)
    table[:, END, 3] = np.log(0.97)
    token_ids, scores = beam_search(
        bigram_step(table), counter(2), tf.constant([1, 3]), END, max_length, beam_width=3
    )
    for row in token_ids.numpy().reshape(-1, max_length):
        ends = np.flatnonzero(row == END)
        if len(ends):
            np.testing.assert_array_equal(row[ends[0] + 1 :], 0)
    np.testing.assert_array_equal(token_ids[:, 0], [[END, 0, 0, 0, 0]] * 2)
    np.testing.assert_allclose(scores[:, 0], [np.log(0.57)] * 2, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
@pytest.mark.parametrize("seed", range(3))
def test_beam_width_1_is_greedy_search(seed, alpha):
    max_length = 6
    table = random_table(max_length, 6, seed)
    starts = tf.constant([1, 3, 4, 5])
    greedy_ids, log_probs = greedy_search(bigram_step(table), counter(4), starts, END, max_length)
    beam_ids, scores = beam_search(
        bigram_step(table), counter(4), starts, END, max_length, beam_width=1, length_penalty=alpha
    )
    np.testing.assert_array_equal(beam_ids[:, 0], greedy_ids)
    ended = greedy_ids.numpy() == END
    lengths = np.where(ended.any(axis=1), ended.argmax(axis=1) + 1, max_length)
    np.testing.assert_allclose(scores[:, 0], log_probs / ((5 + lengths) / 6) ** alpha, rtol=1e-5)


def test_greedy_search_ends_each_sequence_at_its_own_end_token():
    # table[position, previous token] is likeliest to continue 1 -> 3 -> END
    # and 4 -> 4 -> 3 -> 3 -> END; every other next token is unlikely.
    table = np.log(np.full((8, 5, 5), 0.05))
    for position, previous, token in [(0, 1, 3), (1, 3, END), (0, 4, 4), (1, 4, 3), (2, 3, 3), (3, 3, END)]:
        table[position, previous, token] = np.log(0.8)
    token_ids, _ = greedy_search(bigram_step(table), counter(2), tf.constant([1, 4]), END, max_length=8)
    np.testing.assert_array_equal(token_ids, [[3, END, 0, 0, 0, 0, 0, 0], [4, 3, 3, END, 0, 0, 0, 0]])


def test_greedy_search_runs_no_step_after_every_sequence_ended():
    table = np.log(np.full((8, 4, 4), 0.1))
    table[:, :, END] = np.log(0.7)
    steps_taken = []

    def step(token_ids, index, cache):
        steps_taken.append(index)
        return tf.gather(tf.constant(table[0], tf.float32), token_ids[:, index]), cache

    token_ids, _ = greedy_search(step, {}, tf.constant([1, 3]), END, max_length=8)
    np.testing.assert_array_equal(token_ids, [[END] + [0] * 7] * 2)
    assert len(steps_taken) == 1  # eager: the loop body ran once


def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds():
    table = random_table(10, 8, seed=3) / 3  # flat enough for draws to vary
    starts = tf.constant([1] * 16)
    first = sample(bigram_step(table), {"steps": tf.zeros([16], tf.int32)}, starts, END, 10, seed=5)[0]
    again = sample(bigram_step(table), {"steps": tf.zeros([16], tf.int32)}, starts, END, 10, seed=5)[0]
    other = sample(bigram_step(table), {"steps": tf.zeros([16], tf.int32)}, starts, END, 10, seed=6)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    traced = tf.function(
        lambda: sample(bigram_step(table), {"steps": tf.zeros([16], tf.int32)}, starts, END, 10, seed=5)
    )()[0]
    np.testing.assert_array_equal(traced, first)


@pytest.mark.parametrize("filters", [dict(top_k=1), dict(top_p=1e-6)])
def test_sampling_from_only_the_likeliest_token_is_greedy_search(filters):
    table = random_table(8, 6, seed=4)
    starts = tf.constant([1, 3, 4, 5])
    cache = {"steps": tf.zeros([4], tf.int32)}
    greedy_ids, greedy_log_probs = greedy_search(bigram_step(table), cache, starts, END, 8)
    sampled_ids, log_probs = sample(bigram_step(table), cache, starts, END, 8, seed=1, **filters)
    np.testing.assert_array_equal(sampled_ids, greedy_ids)
    np.testing.assert_allclose(log_probs, greedy_log_probs, rtol=1e-6)


def test_top_k_and_top_p_draw_only_from_the_kept_tokens():
    log_probs = np.log(np.array([0.05, 0.05, 0.1, 0.3, 0.5]))
    table = np.tile(log_probs, (6, 5, 1))
    starts = tf.constant([1] * 64)
    cache = {"steps": tf.zeros([64], tf.int32)}
    for filters in (dict(top_k=2), dict(top_p=0.75)):
        token_ids, _ = sample(bigram_step(table), cache, starts, END, 6, seed=2, **filters)
        assert set(np.unique(token_ids)) == {3, 4}


def test_gnmt_length_penalty_is_that_of_wu_et_al():
    assert float(gnmt_length_penalty(1, 0.6)) == pytest.approx(1.0)
    assert float(gnmt_length_penalty(7, 0.6)) == pytest.approx(2.0**0.6)
    assert float(gnmt_length_penalty(7, 0.0)) == 1.0


def test_the_searches_compile_with_xla_to_the_same_results():
    table = random_table(6, 6, seed=5)
    starts = tf.constant([1, 3, 4])

    def searches():
        return (
            greedy_search(bigram_step(table), counter(3), starts, END, 6),
            beam_search(bigram_step(table), counter(3), starts, END, 6, beam_width=3),
        )

    compiled = tf.function(searches, jit_compile=True)()
    for expected, result in zip(searches(), compiled):
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_allclose(result[1], expected[1], rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_greedy_and_beam_search_pick_what_keras_hubs_samplers_pick_on_the_same_steps(seed):
    # keras-hub's samplers have no end token here and no length penalty: both rank
    # full-length sequences by log-probability.
    max_length, no_end = 6, -1
    step = bigram_step(random_table(max_length, 5, seed))
    start = tf.constant([1, 3])
    prompt = tf.concat([start[:, None], tf.zeros([2, max_length], tf.int32)], axis=1)

    def keras_hub_next(prompt, cache, index):
        logits, cache = step(prompt, index - 1, cache)
        return logits, None, cache

    def keras_hub_tokens(sampler):
        cache = {"steps": tf.zeros([2])}
        return sampler(keras_hub_next, prompt, cache=cache, index=1,
                       mask=tf.tile([[True] + [False] * max_length], [2, 1]))[:, 1:]

    greedy, _ = greedy_search(step, {"steps": tf.zeros([2])}, start, no_end, max_length)
    np.testing.assert_array_equal(greedy, keras_hub_tokens(keras_hub.samplers.GreedySampler()))
    beams, _ = beam_search(step, {"steps": tf.zeros([2])}, start, no_end, max_length, 4, 0.0)
    np.testing.assert_array_equal(
        beams[:, 0], keras_hub_tokens(keras_hub.samplers.BeamSampler(num_beams=4)))
    assert not np.array_equal(beams[:, 0], greedy)  # a case where beam search matters
