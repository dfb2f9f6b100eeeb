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

All of it is TensorFlow and TensorFlow Text ops, so the exported SavedModel
decodes as the in-process model does.
"""

import functools

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

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


def viterbi_decode(log_probs, allowed, allowed_first, lengths=None):
    """The best allowed tag sequence of each row: TensorFlow Text's `viterbi_constrained_sequence`.

    One op (`ConstrainedSequence`, in log space) rather than a loop of ops over
    the steps: at batch 1 a loop's per-step ops were most of what decoding cost
    (BENCHMARKS.md). TensorFlow Serving's binary links TF Text's ops, as it must
    for the tokenizers.

    Args:
        log_probs: float `[batch, time, tags]` scores of each tag at each step.
        allowed: bool `[tags, tags]`, may tag j follow tag i.
        allowed_first: bool `[tags]`, may a row start with the tag.
        lengths: int `[batch]` steps of each row (at most `time`); None: all.

    Returns:
        int32 `[batch, time]` tag ids, `-1` past each row's length.
    """
    tags = len(allowed_first)
    # TF Text's start and end states: row `tags` says which tags may start a row, column `tags`
    # which may end one (any).
    transitions = np.ones([tags + 1, tags + 1], bool)
    transitions[:tags, :tags] = allowed
    transitions[tags, :tags] = allowed_first
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    decoded = tf_text.viterbi_constrained_sequence(
        log_probs,
        sequence_length=lengths,
        allowed_transitions=transitions,
        transition_weights=np.zeros([tags + 1, tags + 1], np.float32),
        use_log_space=True,
        use_start_and_end_states=True,
    )
    return decoded.to_tensor(default_value=-1, shape=tf.shape(log_probs)[:2])


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
        int32 `[batch, max_words]` tag ids, `"O"` past each sentence's `num_words`.
    """
    outside_id = labels.index("O")
    outside = tf.one_hot(outside_id, len(labels), on_value=0.0, off_value=_FORBIDDEN)
    log_probs = tf.nn.log_softmax(tf.cast(piece_logits, tf.float32), axis=-1)
    word_index = tf.cast(word_index, tf.int32)
    first_pieces = tf.where(word_index >= 0)
    num_words = tf.cast(num_words, tf.int32)
    # Scores for the batch's longest sentence, not `max_words`: decoding costs what the words do.
    longest = tf.maximum(tf.reduce_max(num_words), 1)
    word_scores = tf.tensor_scatter_nd_update(
        tf.tile(outside[None, None, :], [tf.shape(piece_logits)[0], longest, 1]),
        tf.stack(
            [first_pieces[:, 0], tf.cast(tf.gather_nd(word_index, first_pieces), tf.int64)], axis=1
        ),
        tf.gather_nd(log_probs, first_pieces),
    )
    allowed, allowed_first = iob2_constraints(labels)
    decoded = viterbi_decode(word_scores, allowed, allowed_first, num_words)
    tags = tf.where(decoded >= 0, decoded, outside_id)
    padding = [[0, 0], [0, tf.maximum(max_words - longest, 0)]]
    return tf.pad(tags, padding, constant_values=outside_id)[:, :max_words]


@functools.lru_cache(maxsize=None)
def traced_word_tag_decoder(labels):
    """`decode_word_tags` for `labels` (a tuple) as one traced function, for eager callers."""
    return tf.function(
        functools.partial(decode_word_tags, labels=list(labels)), reduce_retracing=True
    )
