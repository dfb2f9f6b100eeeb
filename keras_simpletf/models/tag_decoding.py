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


def viterbi_decode(log_probs, allowed, allowed_first):
    """The best allowed tag sequence of each row, every step of which counts.

    Rows of different lengths are aligned at their ends by the caller, with
    steps before a row's start that force a tag which can start a row and from
    which every tag that can start one may follow (IOB2's `"O"`, see
    `decode_word_tags`): then no step needs a mask, and the loop's body is a
    handful of ops, which at batch 1 is what decoding costs.

    Args:
        log_probs: float `[batch, time, tags]` scores of each tag at each step.
        allowed: bool `[tags, tags]`, may tag j follow tag i.
        allowed_first: bool `[tags]`, may a row start with the tag.

    Returns:
        int32 `[batch, time]` tag ids.
    """
    transitions = tf.where(tf.constant(allowed), 0.0, _FORBIDDEN)[None]  # [1, previous, next]
    first = tf.where(tf.constant(allowed_first), 0.0, _FORBIDDEN)
    steps = tf.transpose(tf.convert_to_tensor(log_probs, tf.float32), [1, 0, 2])  # [time, batch, tags]
    num_steps = tf.shape(steps)[0]
    # pointers[t - 1]: at step t, each tag's best previous tag.
    pointers = tf.TensorArray(tf.int32, size=num_steps - 1, element_shape=[None, len(allowed)])

    def forward(t, scores, pointers):
        candidates = scores[:, :, None] + transitions  # [batch, previous, next]
        return (
            t + 1,
            tf.reduce_max(candidates, axis=1) + steps[t],
            pointers.write(t - 1, tf.argmax(candidates, axis=1, output_type=tf.int32)),
        )

    _, scores, pointers = tf.while_loop(
        lambda t, *_: t < num_steps, forward, (1, steps[0] + first[None], pointers)
    )
    tags = tf.TensorArray(tf.int32, size=num_steps, element_shape=[None])

    def backward(t, tag, tags):
        return t - 1, tf.gather(pointers.read(t - 1), tag, batch_dims=1), tags.write(t, tag)

    last = tf.argmax(scores, axis=-1, output_type=tf.int32)
    _, first_tag, tags = tf.while_loop(lambda t, *_: t > 0, backward, (num_steps - 1, last, tags))
    return tf.transpose(tags.write(0, first_tag).stack())


def decode_word_tags(piece_logits, word_index, num_words, max_words, labels):
    """Each word's tag id, decoded over its sentence's first-piece scores.

    Sentences are decoded together, each aligned at the end of the batch's
    longest, after steps that can only be `"O"` (under IOB2, a sentence's first
    tag is one that may follow `"O"`), so no word's decoding changes.

    Args:
        piece_logits: float `[batch, pieces, tags]` model outputs.
        word_index: int `[batch, pieces]`, the word of each first piece, -1
            elsewhere (`TokenClassificationPreprocessor`'s `word_index`).
        num_words: int `[batch]` words of each sentence, at most `max_words`.
        max_words: int (or int scalar tensor), the width of the result.
        labels: the IOB2 tag names; a word with no first piece (cut by the
            sequence length) is decoded as `"O"`.

    Returns:
        int32 `[batch, max_words]` tag ids, `"O"` past each sentence's `num_words`.
    """
    outside_id = labels.index("O")
    outside = tf.one_hot(outside_id, len(labels), on_value=0.0, off_value=_FORBIDDEN)
    log_probs = tf.nn.log_softmax(tf.cast(piece_logits, tf.float32), axis=-1)
    word_index = tf.cast(word_index, tf.int32)
    first_pieces = tf.where(word_index >= 0)
    num_words = tf.cast(num_words, tf.int32)
    # Decoding steps one word at a time, so it stops at the batch's longest sentence, not at
    # `max_words`: at batch 1 that was most of an exported tagger's fixed cost (BENCHMARKS.md).
    longest = tf.maximum(tf.reduce_max(num_words), 1)
    offsets = longest - num_words  # [batch] steps of "O" before each sentence
    rows = first_pieces[:, 0]
    word_scores = tf.tensor_scatter_nd_update(
        tf.tile(outside[None, None, :], [tf.shape(piece_logits)[0], longest, 1]),
        tf.stack(
            [rows, tf.cast(tf.gather_nd(word_index, first_pieces) + tf.gather(offsets, rows), tf.int64)],
            axis=1,
        ),
        tf.gather_nd(log_probs, first_pieces),
    )
    allowed, allowed_first = iob2_constraints(labels)
    aligned = viterbi_decode(word_scores, allowed, allowed_first)
    words = tf.range(max_words)[None, :]
    return tf.where(
        words < num_words[:, None],
        tf.gather(aligned, tf.minimum(words + offsets[:, None], longest - 1), batch_dims=1),
        outside_id,
    )


@functools.lru_cache(maxsize=None)
def traced_word_tag_decoder(labels):
    """`decode_word_tags` for `labels` (a tuple) as one traced function, for eager callers."""
    return tf.function(
        functools.partial(decode_word_tags, labels=list(labels)), reduce_retracing=True
    )
