"""Extractive question answering: start/end logits over a backbone, the best span across windows."""

import keras
import tensorflow as tf

from keras_simpletf.models.task import TaskModel, feature_inputs, sequence_output

WINDOW_KEYS = ("example_index", "token_starts", "token_ends")


@keras.saving.register_keras_serializable(package="keras_simpletf")
class SpanQuestionAnswerer(TaskModel):
    """Backbone -> dropout -> a start and an end logit per token (BERT's SQuAD head).

    Takes the features of `keras_simpletf.text.QuestionAnsweringPreprocessor`
    (question and context window as a sentence pair) and returns float32
    logits `(batch, 2, length)`: row 0 scores each token as the answer's
    first, row 1 as its last. Trained with `default_loss()` on the
    preprocessor's `(batch, 2)` positions, where windows without the answer
    point at `[CLS]` (position 0).

    An answer is chosen by `answer_spans` over all windows of a question: the
    best-scoring span (start logit + end logit) of context tokens, at most
    `max_answer_length` tokens long. With `null_score_threshold` set
    (SQuAD v2.0), the question gets no answer (`""`) unless that span's
    score beats the smallest `[CLS]` score of its windows by more than the
    threshold.

    Args:
        backbone: our `keras_simpletf.layers.TransformerEncoder` or a keras-hub
            backbone such as `keras_hub.models.BertBackbone`.
        dropout: float, dropout rate before the span layer.
        max_answer_length: int, the most tokens an answer spans.
        null_score_threshold: float, or `None` to always answer (SQuAD v1.1).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    model = SpanQuestionAnswerer(
        TransformerEncoder(vocabulary_size=500, num_layers=2, hidden_dim=64))
    model.compile("adamw", model.default_loss())
    ```

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers
        for Language Understanding", 2019 (section 4.2, SQuAD);
        Rajpurkar et al., "Know What You Don't Know: Unanswerable Questions
        for SQuAD", 2018.
    """

    head_layer = "span_logits"

    def __init__(
        self, backbone, dropout=0.0, max_answer_length=30, null_score_threshold=None, **kwargs
    ):
        features = feature_inputs()
        sequence = sequence_output(backbone, features)
        sequence = keras.layers.Dropout(dropout, name="dropout")(sequence)
        logits = keras.layers.Dense(2, dtype="float32", name=self.head_layer)(sequence)
        logits = keras.ops.transpose(logits, (0, 2, 1))
        super().__init__(inputs=features, outputs=logits, **kwargs)
        self.backbone = backbone
        self.dropout = dropout
        self.max_answer_length = max_answer_length
        self.null_score_threshold = null_score_threshold

    def default_loss(self):
        """Cross-entropy of the start and of the end position, averaged."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def select_answers(self, contexts, features, logits):
        """`answer_spans` with this model's `max_answer_length` and threshold."""
        return answer_spans(
            contexts,
            logits,
            features["example_index"],
            features["token_starts"],
            features["token_ends"],
            self.max_answer_length,
            self.null_score_threshold,
        )

    def predict_answers(self, questions, contexts, preprocessor, batch_size=32):
        """Answers to questions about contexts, as spans of the raw contexts.

        The model runs through `predict_on_batch` (traced once); long
        contexts are windowed by the preprocessor and each question's best
        span is chosen across its windows.

        Args:
            questions: list of strings.
            contexts: list of strings, one per question.
            preprocessor: the `QuestionAnsweringPreprocessor` the model was
                trained with.
            batch_size: questions per model call.

        Returns:
            A list of dicts `{"text", "start", "end", "score"}`, one per
            question, where `text == context[start:end]` (character
            offsets; `""` and `-1` when there is no answer).
        """
        if len(questions) != len(contexts):
            raise ValueError(
                f"`contexts` must have one context per question: got {len(contexts)} for "
                f"{len(questions)} questions."
            )
        answers = []
        for first in range(0, len(questions), batch_size):
            batch_contexts = tf.constant(contexts[first : first + batch_size])
            features = preprocessor(questions[first : first + batch_size], batch_contexts)
            inputs = {key: value for key, value in features.items() if key not in WINDOW_KEYS}
            # Under a MirroredStrategy, Keras 3.15's predict_on_batch runs the whole batch on
            # every replica and returns their outputs stacked: the first rows are this batch's.
            windows = int(tf.shape(features["example_index"])[0])
            logits = self.predict_on_batch(inputs)[:windows]
            spans = self.select_answers(batch_contexts, features, logits)
            for row in zip(*(spans[key].numpy() for key in ("answer", "start", "end", "score"))):
                text, start, end, score = row
                answers.append(
                    {"text": text.decode("utf-8"), "start": int(start), "end": int(end),
                     "score": float(score)}
                )
        return answers

    def get_config(self):
        return {
            **super().get_config(),
            "max_answer_length": self.max_answer_length,
            "null_score_threshold": self.null_score_threshold,
        }


def answer_spans(
    contexts,
    logits,
    example_index,
    token_starts,
    token_ends,
    max_answer_length=30,
    null_score_threshold=None,
):
    """The best answer span of each question across its windows, in TensorFlow ops.

    For each window, every span of context tokens `i <= j < i +
    max_answer_length` scores `start_logit[i] + end_logit[j]`; each
    question takes its best span over its windows. The span's UTF-8 byte
    offsets cut the answer from the context, and are turned into character
    offsets. Runs eagerly and inside a SavedModel alike.

    Args:
        contexts: string `(batch,)`, the raw contexts.
        logits: float `(rows, 2, length)` start and end logits of the windows.
        example_index: int `(rows,)`, each window's question.
        token_starts: int `(rows, length)` byte offsets of context tokens, `-1` elsewhere.
        token_ends: int `(rows, length)`, as `token_starts`.
        max_answer_length: int, the most tokens an answer spans.
        null_score_threshold: float, or `None` to always answer.

    Returns:
        A dict of `(batch,)` tensors: `answer` (string, `""` for none),
        `start` and `end` (int32 character offsets, `-1` for none) and
        `score` (the span's logit sum; for no answer, the `[CLS]` score).
    """
    logits = tf.cast(logits, tf.float32)
    example_index = tf.cast(example_index, tf.int32)
    token_starts, token_ends = tf.cast(token_starts, tf.int32), tf.cast(token_ends, tf.int32)
    start_logits, end_logits = logits[:, 0], logits[:, 1]
    length = tf.shape(start_logits)[1]
    is_context = token_starts >= 0
    span_length = tf.range(length)[None, :] - tf.range(length)[:, None]
    allowed = (
        (span_length >= 0)
        & (span_length < max_answer_length)
        & is_context[:, :, None]
        & is_context[:, None, :]
    )
    scores = tf.where(
        allowed, start_logits[:, :, None] + end_logits[:, None, :], float("-inf")
    )
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    window_best = tf.reduce_max(flat, axis=1)
    best_cell = tf.argmax(flat, axis=1, output_type=tf.int32)
    num_examples = tf.shape(contexts)[0]
    best = tf.math.unsorted_segment_max(window_best, example_index, num_examples)
    rows = tf.range(tf.shape(flat)[0])
    chosen = tf.math.unsorted_segment_min(
        tf.where(window_best >= tf.gather(best, example_index), rows, tf.int32.max),
        example_index,
        num_examples,
    )
    # NaN scores (an overflow under float16) match no window: take the last, not an invalid index.
    chosen = tf.minimum(chosen, tf.shape(flat)[0] - 1)
    cell = tf.gather(best_cell, chosen)
    chosen_cells = tf.stack([chosen, cell // length], axis=1), tf.stack([chosen, cell % length], 1)
    byte_start = tf.gather_nd(token_starts, chosen_cells[0])
    byte_end = tf.gather_nd(token_ends, chosen_cells[1])
    null = tf.math.unsorted_segment_min(
        start_logits[:, 0] + end_logits[:, 0], example_index, num_examples
    )
    answered = tf.math.is_finite(best)
    if null_score_threshold is not None:
        answered &= best - null > null_score_threshold
    byte_start = tf.where(answered, byte_start, 0)
    byte_end = tf.where(answered, byte_end, 0)
    answer = tf.strings.substr(contexts, byte_start, byte_end - byte_start)

    def characters(byte_offsets):
        prefix = tf.strings.substr(contexts, tf.zeros_like(byte_offsets), byte_offsets)
        return tf.where(answered, tf.strings.length(prefix, unit="UTF8_CHAR"), -1)

    return {
        "answer": answer,
        "start": characters(byte_start),
        "end": characters(byte_end),
        "score": tf.where(answered, best, null),
    }
