"""Greedy search and top-k / top-p sampling: one token per sequence per step."""

import tensorflow as tf

# Logit of the tokens that top-k / top-p filter out.
_FILTERED_LOGIT = -1e9


def write_position(token_ids, index, tokens):
    """`token_ids` `(..., length)` with position `index` set to `tokens` `(...)`."""
    at_index = tf.equal(tf.range(tf.shape(token_ids)[-1]), index)
    return tf.where(at_index, tokens[..., None], token_ids)


def start_buffer(start_ids, max_length):
    """`(batch, max_length + 1)` int32 ids: `start_ids` then padding (0)."""
    start_ids = tf.cast(start_ids, tf.int32)
    padding = tf.zeros([tf.shape(start_ids)[0], max_length], tf.int32)
    return tf.concat([start_ids[:, None], padding], axis=1)


def _decode(step, cache, start_ids, end_id, max_length, choose):
    """Extends each sequence by `choose(logits, index)` until its `end_id`."""
    token_ids = start_buffer(start_ids, max_length)
    batch_size = tf.shape(token_ids)[0]

    def unfinished(index, token_ids, finished, log_probs, cache):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(finished)))

    def extend(index, token_ids, finished, log_probs, cache):
        logits, cache = step(token_ids, index, cache)
        logits = tf.cast(logits, tf.float32)
        tokens = tf.cast(choose(logits, index), tf.int32)
        token_log_probs = tf.gather(tf.nn.log_softmax(logits), tokens, batch_dims=1)
        tokens = tf.where(finished, 0, tokens)
        log_probs += tf.where(finished, 0.0, token_log_probs)
        finished = tf.logical_or(finished, tf.equal(tokens, end_id))
        return index + 1, write_position(token_ids, index + 1, tokens), finished, log_probs, cache

    _, token_ids, _, log_probs, _ = tf.while_loop(
        unfinished,
        extend,
        (
            tf.constant(0),
            token_ids,
            tf.zeros([batch_size], tf.bool),
            tf.zeros([batch_size], tf.float32),
            cache,
        ),
    )
    return token_ids[:, 1:], log_probs


@tf.autograph.experimental.do_not_convert
def greedy_search(step, cache, start_ids, end_id, max_length):
    """Decodes the most likely next token at every step.

    Runs in one `tf.while_loop` (it traces into a `tf.function` and a
    SavedModel) that stops when every sequence has produced `end_id` or
    `max_length` tokens.

    Args:
        step: the decoder's step function, `step(token_ids, index, cache)
            -> (logits, cache)` (see `keras_simpletf.generation`).
        cache: the initial cache, a nested structure of tensors.
        start_ids: int `(batch,)`, the first token of each sequence.
        end_id: int, the end-of-sequence token.
        max_length: int, the most tokens decoded per sequence.

    Returns:
        `(token_ids, log_probs)`: int32 `(batch, max_length)`, the decoded
        tokens with `end_id` included and padding (0) after it, and float32
        `(batch,)`, their total log-probability.

    Example:

    ```python
    # A bigram model: row i holds the next-token probabilities after token i.
    table = tf.math.log(tf.constant([[0.1, 0.1, 0.2, 0.6], [0.1, 0.1, 0.2, 0.6],
                                     [0.1, 0.1, 0.2, 0.6], [0.1, 0.1, 0.7, 0.1]]))
    step = lambda token_ids, index, cache: (tf.gather(table, token_ids[:, index]), cache)
    token_ids, log_probs = greedy_search(step, {}, tf.constant([1]), end_id=2, max_length=5)
    # token_ids [[3, 2, 0, 0, 0]]: 3 is likeliest after 1, then the end token 2 after 3
    ```
    """
    return _decode(step, cache, start_ids, end_id, max_length, lambda logits, index: tf.argmax(logits, -1))


def filter_logits(logits, top_k=None, top_p=None):
    """`logits` with all but the `top_k` likeliest tokens, and all outside the
    smallest set of probability `top_p` (the nucleus), set to a large negative value."""
    if top_k is not None:
        kth_largest = tf.math.top_k(logits, k=top_k).values[:, -1:]
        logits = tf.where(logits < kth_largest, _FILTERED_LOGIT, logits)
    if top_p is not None:
        descending = tf.sort(logits, direction="DESCENDING", axis=-1)
        mass_before = tf.cumsum(tf.nn.softmax(descending), axis=-1, exclusive=True)
        kept = tf.where(mass_before < top_p, descending, tf.reduce_max(logits, -1, keepdims=True))
        logits = tf.where(logits < tf.reduce_min(kept, -1, keepdims=True), _FILTERED_LOGIT, logits)
    return logits


@tf.autograph.experimental.do_not_convert
def sample(step, cache, start_ids, end_id, max_length, top_k=None, top_p=None, temperature=1.0, seed=0):
    """Draws each next token from the model's distribution, top-k / top-p filtered.

    The draws are stateless (`tf.random.stateless_categorical` seeded by
    `(seed, step)`), so the same seed gives the same tokens, in eager mode,
    in a `tf.function` and in a SavedModel. An XLA-compiled function
    (`jit_compile=True`) draws with XLA's generator: reproducible too, but
    not the same tokens as TensorFlow's kernels. `top_k=1` is greedy search.

    Args:
        step: the decoder's step function (see `keras_simpletf.generation`).
        cache: the initial cache, a nested structure of tensors.
        start_ids: int `(batch,)`, the first token of each sequence.
        end_id: int, the end-of-sequence token.
        max_length: int, the most tokens decoded per sequence.
        top_k: int, sample among the `top_k` likeliest tokens only, or `None`.
        top_p: float in (0, 1], sample within the smallest set of tokens
            whose probability reaches `top_p` (Holtzman et al., 2020), or `None`.
        temperature: float, logits are divided by it before filtering.
        seed: int (or int scalar tensor), the seed of the draws.

    Returns:
        `(token_ids, log_probs)` as `greedy_search` returns them; the
        log-probabilities are the model's, before temperature and filtering.

    Example:

    ```python
    table = tf.math.log(tf.constant([[0.1, 0.1, 0.2, 0.6], [0.1, 0.1, 0.4, 0.4],
                                     [0.1, 0.1, 0.1, 0.7], [0.1, 0.1, 0.4, 0.4]]))
    step = lambda token_ids, index, cache: (tf.gather(table, token_ids[:, index]), cache)
    token_ids, _ = sample(step, {}, tf.constant([1, 1]), end_id=2, max_length=6, top_p=0.9, seed=7)
    ```

    References:
        - [Fan et al., 2018](https://arxiv.org/abs/1805.04833) (top-k sampling)
        - [Holtzman et al., 2020](https://arxiv.org/abs/1904.09751) (top-p)
    """
    if top_k is not None and top_k < 1:
        raise ValueError(f"`top_k` must be a positive int or None, got {top_k!r}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"`top_p` must be in (0, 1] or None, got {top_p!r}.")
    if temperature <= 0:
        raise ValueError(f"`temperature` must be positive, got {temperature!r}.")
    seed = tf.cast(seed, tf.int32)

    def choose(logits, index):
        filtered = filter_logits(logits / temperature, top_k, top_p)
        draw_seed = tf.stack([seed, tf.cast(index, tf.int32)])
        return tf.random.stateless_categorical(filtered, 1, seed=draw_seed)[:, 0]

    return _decode(step, cache, start_ids, end_id, max_length, choose)
