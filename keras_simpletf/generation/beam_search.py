"""Beam search with GNMT's length penalty; a beam that ends is set aside, never extended."""

import tensorflow as tf

from keras_simpletf.generation.sampling import start_buffer, write_position

_NEG_INF = float("-inf")


def gnmt_length_penalty(length, alpha):
    """`((5 + length) / 6) ** alpha`, the length penalty of Wu et al. (2016).

    A hypothesis scores `log_prob / gnmt_length_penalty(length, alpha)`;
    `alpha=0` ranks by log-probability alone, larger values favour longer
    outputs.

    Args:
        length: the number of tokens, end token included (int or tensor).
        alpha: float >= 0.

    Example:

    ```python
    float(gnmt_length_penalty(7, 0.6))   # (12 / 6) ** 0.6 = 1.5157...
    ```
    """
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _gather_beams(values, beam_indices):
    """`values` `(batch, beams, ...)` taken at `beam_indices` `(batch, k)`."""
    return tf.gather(values, beam_indices, batch_dims=1)


def _gather_cache(cache, beam_indices, beam_width):
    """Reorders a `(batch * beam_width, ...)` cache to follow the chosen beams."""
    batch_size = beam_indices.shape[0] or tf.shape(beam_indices)[0]
    rows = tf.reshape(beam_indices + tf.range(batch_size)[:, None] * beam_width, [-1])
    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), cache)


@tf.autograph.experimental.do_not_convert
def beam_search(step, cache, start_ids, end_id, max_length, beam_width=4, length_penalty=0.6):
    """The `beam_width` best-scoring sequences of each row, in one `tf.while_loop`.

    Each step extends every live beam by every token and ranks the
    candidates by log-probability. Those among the best `beam_width` that
    produce `end_id` are finished, scored `log_prob / gnmt_length_penalty(
    length, length_penalty)`, and never extended again; the best
    `beam_width` of the others live on. A row is done once it has
    `beam_width` finished hypotheses (the rule of fairseq), the loop when
    every row is done or `max_length` tokens are decoded; the live beams of
    a row that is not done then finish there, without `end_id`. So a beam of
    width 1 is greedy search, and a beam as wide as the search space is
    exhaustive search. The cache is repeated `beam_width` times and
    reordered with the beams at every step, so the step function sees a
    batch of `batch * beam_width` sequences.

    Args:
        step: the decoder's step function (see `keras_simpletf.generation`).
        cache: the initial cache for `batch` sequences.
        start_ids: int `(batch,)`, the first token of each sequence.
        end_id: int, the end-of-sequence token.
        max_length: int, the most tokens decoded per sequence.
        beam_width: int, beams per row (4 in Vaswani et al., 2017).
        length_penalty: float >= 0, GNMT's alpha (0.6 in Vaswani et al.,
            2017 and Wu et al., 2016).

    Returns:
        `(token_ids, scores)`: int32 `(batch, beam_width, max_length)`, the
        hypotheses, best first, with `end_id` included and padding (0) after
        it, and float32 `(batch, beam_width)`, their length-penalised
        log-probabilities (`-inf` where a row has fewer hypotheses).

    Example:

    ```python
    # A bigram model: row i holds the next-token probabilities after token i.
    table = tf.math.log(tf.constant([[0.1, 0.1, 0.4, 0.4], [0.05, 0.05, 0.4, 0.5],
                                     [0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.6, 0.2]]))
    step = lambda token_ids, index, cache: (tf.gather(table, token_ids[:, index]), cache)
    token_ids, scores = beam_search(step, {}, tf.constant([1]), end_id=2, max_length=4)
    # token_ids[0, 0] is [2, 0, 0, 0] (probability 0.4), where greedy search
    # takes the likelier first token 3 and ends with [3, 2] (0.5 * 0.6 = 0.3)
    ```

    References:
        - [Wu et al., 2016](https://arxiv.org/abs/1609.08144) (GNMT length penalty)
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """
    if beam_width < 1:
        raise ValueError(f"`beam_width` must be a positive int, got {beam_width!r}.")
    if length_penalty < 0:
        raise ValueError(f"`length_penalty` must be >= 0, got {length_penalty!r}.")
    token_ids = start_buffer(start_ids, max_length)
    # A static batch size keeps every loop variable's shape static.
    batch_size = token_ids.shape[0] or tf.shape(token_ids)[0]
    alive_ids = tf.repeat(token_ids[:, None], beam_width, axis=1)
    # Only the first beam is live at first, so the beams do not start as copies.
    alive_log_probs = tf.tile(
        tf.constant([[0.0] + [_NEG_INF] * (beam_width - 1)]), [batch_size, 1]
    )
    finished_ids = tf.zeros_like(alive_ids)
    finished_scores = tf.fill([batch_size, beam_width], _NEG_INF)
    cache = tf.nest.map_structure(lambda tensor: tf.repeat(tensor, beam_width, axis=0), cache)

    def row_done(finished_scores):
        return tf.reduce_all(finished_scores > _NEG_INF, axis=1)

    def unfinished(index, alive_ids, alive_log_probs, finished_ids, finished_scores, cache):
        return tf.logical_and(
            index < max_length, tf.logical_not(tf.reduce_all(row_done(finished_scores)))
        )

    def extend(index, alive_ids, alive_log_probs, finished_ids, finished_scores, cache):
        logits, cache = step(tf.reshape(alive_ids, [batch_size * beam_width, -1]), index, cache)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocabulary_size = tf.shape(log_probs)[-1]
        log_probs = alive_log_probs[:, :, None] + tf.reshape(
            log_probs, [batch_size, beam_width, vocabulary_size]
        )
        candidate_log_probs, flat_indices = tf.math.top_k(
            tf.reshape(log_probs, [batch_size, -1]), k=2 * beam_width
        )
        candidate_beams = flat_indices // vocabulary_size
        candidate_tokens = flat_indices % vocabulary_size
        candidate_ids = write_position(
            _gather_beams(alive_ids, candidate_beams), index + 1, candidate_tokens
        )
        ended = tf.equal(candidate_tokens, end_id)

        # Only the best beam_width candidates may finish, and only in rows not done.
        may_finish = tf.logical_and(
            tf.range(2 * beam_width)[None, :] < beam_width,
            tf.logical_not(row_done(finished_scores))[:, None],
        )
        ended_scores = candidate_log_probs / gnmt_length_penalty(index + 1, length_penalty)
        finished_scores, kept = tf.math.top_k(
            tf.concat(
                [finished_scores, tf.where(ended & may_finish, ended_scores, _NEG_INF)], axis=1
            ),
            k=beam_width,
        )
        finished_ids = _gather_beams(tf.concat([finished_ids, candidate_ids], axis=1), kept)

        alive_log_probs, kept = tf.math.top_k(
            tf.where(ended, _NEG_INF, candidate_log_probs), k=beam_width
        )
        alive_ids = _gather_beams(candidate_ids, kept)
        cache = _gather_cache(cache, _gather_beams(candidate_beams, kept), beam_width)
        return index + 1, alive_ids, alive_log_probs, finished_ids, finished_scores, cache

    _, alive_ids, alive_log_probs, finished_ids, finished_scores, _ = tf.while_loop(
        unfinished,
        extend,
        (tf.constant(0), alive_ids, alive_log_probs, finished_ids, finished_scores, cache),
    )
    # Rows not done ran to max_length: their live beams end there.
    truncated_scores = tf.where(
        row_done(finished_scores)[:, None],
        _NEG_INF,
        alive_log_probs / gnmt_length_penalty(max_length, length_penalty),
    )
    scores, kept = tf.math.top_k(
        tf.concat([finished_scores, truncated_scores], axis=1), k=beam_width
    )
    token_ids = _gather_beams(tf.concat([finished_ids, alive_ids], axis=1), kept)
    return token_ids[:, :, 1:], scores
