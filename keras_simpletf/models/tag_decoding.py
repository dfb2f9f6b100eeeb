"""Word tags from per-piece tag scores: the best IOB2-valid sequence (Viterbi), in the graph.

A token classifier scores each word-piece; a word's tag is read at its first
piece. Taking each word's best tag alone (argmax) can give sequences no IOB2
tagging allows: `I-PER` after `O`, `B-ORG I-PER`. seqeval then counts broken
or extra entities. Decoding instead finds, per sentence, the tag sequence of
highest total log-probability among those where every `I-X` follows `B-X` or
`I-X` (and no sentence starts with `I-X`): the constraint a CRF layer would
learn, imposed at decoding time (as AllenNLP's `allowed_transitions` does).
On CoNLL-2003 dev this lifts our from-scratch model's entity F1 from 0.676 to
0.703 with the same weights (BENCHMARKS.md).

All of it is TensorFlow ops, so the exported SavedModel decodes as the
in-process model does.
"""

import functools

import numpy as np
import tensorflow as tf

_FORBIDDEN = -1e9


def iob2_constraints(labels):
    """Which tag may follow which, and which may start a sentence, under IOB2.

    Args:
        labels: the tag names, e.g. `["O", "B-PER", "I-PER"]`.

    Returns:
        `(allowed, allowed_first)`: bool arrays `[n, n]` (row: previous tag,
        column: next tag) and `[n]`.
    """
    kinds = [label[2:] if label[:2] in ("B-", "I-") else None for label in labels]
    allowed = np.ones([len(labels), len(labels)], bool)
    allowed_first = np.ones([len(labels)], bool)
    for column, label in enumerate(labels):
        if label.startswith("I-"):
            allowed_first[column] = False
            allowed[:, column] = [kind == kinds[column] for kind in kinds]
    return allowed, allowed_first


def viterbi_decode(log_probs, lengths, allowed, allowed_first):
    """The best allowed tag sequence of each row.

    Args:
        log_probs: float `[batch, time, tags]` scores of each tag at each step.
        lengths: int `[batch]` valid steps of each row; later steps are ignored
            and decoded as the last valid step's tag.
        allowed: bool `[tags, tags]`, may tag j follow tag i.
        allowed_first: bool `[tags]`, may a row start with the tag.

    Returns:
        int32 `[batch, time]` tag ids.
    """
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    transitions = tf.where(tf.constant(allowed), 0.0, _FORBIDDEN)
    first = tf.where(tf.constant(allowed_first), 0.0, _FORBIDDEN)
    steps = tf.transpose(log_probs, [1, 0, 2])  # [time, batch, tags]
    valid = tf.range(tf.shape(steps)[0])[:, None] < tf.cast(lengths, tf.int32)[None, :]
    num_tags = len(allowed_first)
    stay = tf.range(num_tags)[None, :]

    def forward(carry, step):
        scores, _ = carry
        emissions, is_valid = step
        candidates = scores[:, :, None] + transitions[None]  # [batch, previous, next]
        moved = tf.reduce_max(candidates, axis=1) + emissions
        pointers = tf.argmax(candidates, axis=1, output_type=tf.int32)
        keep = is_valid[:, None]
        return (
            tf.where(keep, moved, scores),
            tf.where(keep, pointers, tf.broadcast_to(stay, tf.shape(pointers))),
        )

    start = steps[0] + first[None]
    empty = tf.zeros_like(start, tf.int32)
    scores, pointers = tf.scan(forward, (steps[1:], valid[1:]), initializer=(start, empty))
    last_scores = tf.cond(tf.shape(scores)[0] > 0, lambda: scores[-1], lambda: start)
    best_last = tf.argmax(last_scores, axis=-1, output_type=tf.int32)

    def backward(tag, step_pointers):
        return tf.gather(step_pointers, tag, batch_dims=1)

    earlier = tf.scan(backward, pointers, initializer=best_last, reverse=True)
    return tf.transpose(tf.concat([earlier, best_last[None]], axis=0))


def decode_word_tags(piece_logits, word_index, num_words, max_words, labels):
    """Each word's tag id, decoded over its sentence's first-piece scores.

    Args:
        piece_logits: float `[batch, pieces, tags]` model outputs.
        word_index: int `[batch, pieces]`, the word of each first piece, -1
            elsewhere (`TokenClassificationPreprocessor`'s `word_index`).
        num_words: int `[batch]` words of each sentence, at most `max_words`.
        max_words: int (or int scalar tensor), the width of the result.
        labels: the IOB2 tag names; a word with no first piece (cut by the
            sequence length) is decoded as `"O"`.

    Returns:
        int32 `[batch, max_words]` tag ids (words past `num_words`: meaningless).
    """
    outside = tf.one_hot(labels.index("O"), len(labels), on_value=0.0, off_value=_FORBIDDEN)
    log_probs = tf.nn.log_softmax(tf.cast(piece_logits, tf.float32), axis=-1)
    first_pieces = tf.where(word_index >= 0)
    batch = tf.shape(piece_logits)[0]
    word_scores = tf.tensor_scatter_nd_update(
        tf.tile(outside[None, None, :], [batch, max_words, 1]),
        tf.stack(
            [first_pieces[:, 0], tf.cast(tf.gather_nd(word_index, first_pieces), tf.int64)], axis=1
        ),
        tf.gather_nd(log_probs, first_pieces),
    )
    allowed, allowed_first = iob2_constraints(labels)
    return viterbi_decode(word_scores, num_words, allowed, allowed_first)


@functools.lru_cache(maxsize=None)
def traced_word_tag_decoder(labels):
    """`decode_word_tags` for `labels` (a tuple) as one traced function, for eager callers."""
    return tf.function(
        functools.partial(decode_word_tags, labels=list(labels)), reduce_retracing=True
    )
