"""Question + context to BERT-style windows over the context, with token offsets, in the graph."""

import keras
import tensorflow as tf

from keras_simpletf.text.preprocessing import _WordPiecePreprocessor, pack_segments

NOT_CONTEXT = -1  # The offset of a token that is not part of the context.


@keras.saving.register_keras_serializable(package="keras_simpletf")
class QuestionAnsweringPreprocessor(_WordPiecePreprocessor):
    """Questions and contexts to `[CLS] question [SEP] context window [SEP]` rows.

    A context longer than one row is cut into windows (BERT's sliding
    windows): each holds the question (its first `max_question_length`
    pieces) and as many context pieces as fit, and window `k` starts
    `k * doc_stride` pieces into the context, so consecutive windows
    overlap and every answer span of fewer than
    `sequence_length - 3 - max_question_length - doc_stride` pieces lies
    whole in some window. One example may thus give several rows;
    `example_index` says whose each row is.

    Each row carries the UTF-8 byte offsets of its context pieces in the
    original context (`token_starts`, `token_ends`; `-1` on the question,
    special tokens and padding), from tensorflow-text's
    `FastBertTokenizer.tokenize_with_offsets`, so a span of pieces maps back
    to the exact characters of the context, also after lower-casing and
    accent stripping.

    With gold answers, each row is labelled with the positions of the
    answer's first and last piece, or `(0, 0)` (the `[CLS]` token) when the
    answer is not wholly inside that window or the question has none
    (SQuAD v2.0).

    Args:
        vocabulary: a list of tokens, or the path of a BERT `vocab.txt`.
        sequence_length: int, the length of every row.
        doc_stride: int, context pieces between the starts of consecutive
            windows; at most the context pieces a window holds.
        max_question_length: int, question pieces kept.
        lowercase: bool, lower-case and strip accents (uncased BERT).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        questions: string `(batch,)`.
        contexts: string `(batch,)`.
        answer_starts: int `(batch,)` character offsets of each question's
            (first) gold answer in its context, or `None`.
        answer_texts: string `(batch,)`, the answers (`""`: no answer).

    Returns:
        Without answers: the features with `example_index` `(rows,)`,
        `token_starts` and `token_ends` `(rows, sequence_length)`. With
        answers: `(features, positions)`, `positions` int32 `(rows, 2)`.

    Example:

    ```python
    vocabulary = learn_vocabulary(["Who wrote it? Ada wrote it."] * 5, vocabulary_size=31)
    preprocessor = QuestionAnsweringPreprocessor(
        vocabulary, sequence_length=16, doc_stride=4, max_question_length=4)
    features, positions = preprocessor(["Who wrote it?"], ["Ada wrote it."], [0], ["Ada"])
    # positions: [[6, 6]], the piece "ada" after "[CLS] who wrote it ? [SEP]"
    ```
    """

    def __init__(
        self,
        vocabulary,
        sequence_length=384,
        doc_stride=128,
        max_question_length=64,
        lowercase=True,
        **kwargs,
    ):
        super().__init__(vocabulary, sequence_length, lowercase, dynamic_padding=False, **kwargs)
        context_room = sequence_length - 3 - max_question_length
        if max_question_length < 1 or context_room < 1:
            raise ValueError(
                f"`max_question_length` must be in [1, sequence_length - 4 = "
                f"{sequence_length - 4}], got {max_question_length}."
            )
        if not 1 <= doc_stride <= context_room:
            raise ValueError(
                f"`doc_stride` must be in [1, {context_room}] (the context pieces of a window: "
                f"sequence_length - 3 - max_question_length), got {doc_stride}."
            )
        self.doc_stride = doc_stride
        self.max_question_length = max_question_length

    def call(self, questions, contexts, answer_starts=None, answer_texts=None):
        question_ids = self.tokenizer.tokenize(questions)[:, : self.max_question_length]
        context_ids, starts, ends = self.tokenizer.tokenize_with_offsets(contexts)
        context_lengths = context_ids.row_lengths()
        room = self.sequence_length - 3 - question_ids.row_lengths()
        num_windows = 1 + (tf.maximum(context_lengths - room, 0) + self.doc_stride - 1) // (
            self.doc_stride
        )
        window_starts = tf.ragged.range(num_windows).flat_values * self.doc_stride
        example_index = tf.ragged.range(num_windows).value_rowids()
        window_ends = tf.minimum(
            window_starts + tf.gather(room, example_index),
            tf.gather(context_lengths, example_index),
        )
        pieces = tf.ragged.range(window_starts, window_ends) + tf.expand_dims(
            tf.gather(context_ids.row_starts(), example_index), 1
        )

        def windows(per_piece):
            return tf.gather(tf.cast(per_piece.flat_values, tf.int32), pieces)

        def pack(question, window, start_value, end_value, pad_value):
            # Never trims: a window holds only the context pieces that fit beside its question.
            return pack_segments(
                [question, window], self.sequence_length, start_value, end_value, pad_value
            )

        window_questions = tf.gather(question_ids, example_index)
        token_ids, segment_ids = pack(
            window_questions, windows(context_ids), self.cls_id, self.sep_id, self.pad_id
        )
        no_offsets = tf.fill(tf.shape(window_questions.flat_values), NOT_CONTEXT)
        question_offsets = window_questions.with_flat_values(no_offsets)
        token_starts, _ = pack(question_offsets, windows(starts), *[NOT_CONTEXT] * 3)
        token_ends, _ = pack(question_offsets, windows(ends), *[NOT_CONTEXT] * 3)
        features = self._features(tf.cast(token_ids, tf.int32), segment_ids)
        if answer_starts is None:
            return {
                **features,
                "example_index": tf.cast(example_index, tf.int32),
                "token_starts": token_starts,
                "token_ends": token_ends,
            }
        positions = answer_positions(
            contexts, answer_starts, answer_texts, example_index, token_starts, token_ends
        )
        return features, positions

    def get_config(self):
        config = super().get_config()
        config.pop("dynamic_padding")
        config.update(doc_stride=self.doc_stride, max_question_length=self.max_question_length)
        return config


def answer_positions(contexts, answer_starts, answer_texts, example_index, token_starts, token_ends):
    """`(rows, 2)` positions of the first and last answer piece of each window, or `(0, 0)`.

    Args:
        contexts: string `(batch,)`.
        answer_starts: int `(batch,)`, character offsets of the answers.
        answer_texts: string `(batch,)`, `""` for no answer.
        example_index: int `(rows,)`, the example of each window.
        token_starts: int32 `(rows, length)` byte offsets, `-1` off the context.
        token_ends: int32 `(rows, length)`, as `token_starts`.
    """
    answer_starts = tf.maximum(tf.cast(answer_starts, tf.int32), 0)
    prefix = tf.strings.substr(contexts, tf.zeros_like(answer_starts), answer_starts, "UTF8_CHAR")
    byte_starts = tf.strings.length(prefix)
    byte_ends = byte_starts + tf.strings.length(answer_texts)
    has_answer = tf.strings.length(answer_texts) > 0
    example_index = tf.cast(example_index, tf.int32)
    first_byte = tf.gather(byte_starts, example_index)[:, None]
    last_byte = tf.gather(byte_ends, example_index)[:, None]
    is_context = token_starts >= 0
    window_first = tf.reduce_min(tf.where(is_context, token_starts, tf.int32.max), axis=1)
    window_last = tf.reduce_max(tf.where(is_context, token_ends, -1), axis=1)
    inside = (
        tf.gather(has_answer, example_index)
        & (window_first <= first_byte[:, 0])
        & (window_last >= last_byte[:, 0])
    )
    start = tf.argmax(is_context & (token_ends > first_byte), axis=1, output_type=tf.int32)
    length = tf.shape(token_starts)[1]
    last_inside = tf.reverse(is_context & (token_starts < last_byte), axis=[1])
    end = length - 1 - tf.argmax(last_inside, axis=1, output_type=tf.int32)
    return tf.where(inside[:, None], tf.stack([start, end], axis=1), 0)
