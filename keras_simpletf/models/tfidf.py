"""TF-IDF + logistic regression over a classifier's own words, fitted by scikit-learn, run in TF.

A classifier of our encoder and TF-IDF + logistic regression make different
mistakes: on SST-2's sentences each scores about 0.81 alone and their averaged
probabilities about 0.82 (BENCHMARKS.md). `fit_tfidf_logits` fits the linear
model with scikit-learn's `TfidfVectorizer` and `LogisticRegression` on the
words the classifier's own preprocessor gives (each a piece and the `##`
pieces that continue it), and returns a `TfidfLogits` layer that computes the
same logits from those features in TensorFlow, so a
`TextClassifier(..., tfidf=...)` and its SavedModel carry both models and
take the same raw text.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class FittedTfidf:
    """What `fit_tfidf_logits` learned: the arguments of a `TfidfLogits` layer.

    Attributes:
        vocabulary_size: the word-piece vocabulary's size.
        continuation_ids: the ids of its `##` pieces.
        skip_ids: the special piece ids left out of the words.
        ngrams: str list, the feature columns' n-grams (`piece_words`' words, space-joined).
        max_n: the longest n-grams, in words.
        idf: float `(features,)`, scikit-learn's smoothed inverse document frequencies.
        coefficients: float `(features, labels)`.
        intercept: float `(labels,)`.
        train_accuracy: the fitted model's accuracy on its training texts.
    """

    vocabulary_size: int
    continuation_ids: list
    skip_ids: list
    ngrams: list
    max_n: int
    idf: np.ndarray
    coefficients: np.ndarray
    intercept: np.ndarray
    train_accuracy: float

    def layer(self, **kwargs):
        """A `TfidfLogits` layer holding these weights."""
        return TfidfLogits(
            self.vocabulary_size, self.continuation_ids, self.ngrams,
            num_labels=len(self.intercept), max_n=self.max_n, skip_ids=self.skip_ids,
            initial_weights=(self.idf, self.coefficients, self.intercept), **kwargs,
        )


def piece_words(token_ids, padding_mask, continuation, skip_ids):
    """The words of each row of piece ids: a ragged `(batch, None)` string tensor.

    A word is a piece and the `##` pieces that continue it (as WordPiece
    split it), written as their ids joined by commas; the padding and the
    `skip_ids` pieces are left out.

    Args:
        token_ids: int `(batch, length)`.
        padding_mask: bool `(batch, length)`.
        continuation: bool `(vocabulary_size,)`, which pieces are `##` pieces.
        skip_ids: piece ids to leave out.

    Example:

    ```python
    continuation = tf.constant([False, False, False, True])   # piece 3 is "##..."
    piece_words([[1, 2, 3, 2, 0]], [[True] * 4 + [False]], continuation, skip_ids=[1])
    # <tf.RaggedTensor [[b'2,3', b'2']]>
    ```
    """
    token_ids = tf.cast(token_ids, tf.int64)
    kept = tf.cast(padding_mask, tf.bool)
    for piece in skip_ids:
        kept &= tf.not_equal(token_ids, piece)
    pieces = tf.ragged.boolean_mask(token_ids, kept)
    flat, rows = pieces.flat_values, pieces.value_rowids()
    row_start = tf.equal(tf.range(tf.size(flat, tf.int64)), tf.gather(pieces.row_splits, rows))
    starts = row_start | ~tf.gather(continuation, flat)
    word_ids = tf.cumsum(tf.cast(starts, tf.int64)) - 1
    count = tf.reduce_sum(tf.cast(starts, tf.int64))
    words = tf.strings.unsorted_segment_join(
        tf.strings.as_string(flat), word_ids, count, separator=","
    )
    return tf.RaggedTensor.from_value_rowids(
        words, tf.boolean_mask(rows, starts), nrows=tf.shape(token_ids, out_type=tf.int64)[0]
    )


def fit_tfidf_logits(preprocessor, texts, label_ids, num_labels, text_pairs=None, max_n=2, C=4.0,
                     batch_size=1024):
    """Fits TF-IDF + logistic regression on the words `preprocessor` gives `texts`.

    The features are scikit-learn's `TfidfVectorizer(ngram_range=(1, max_n),
    sublinear_tf=True)` over each text's words as the preprocessor splits
    them (`piece_words`: within its `sequence_length`, punctuation a word of
    its own, `[CLS]`, `[SEP]` and padding left out; a pair's two texts are
    read as one), and the classifier its `LogisticRegression(C=C)`: the
    TF-IDF baseline a scikit-learn user writes. Words, not pieces: averaged
    with eight of our SST-2 classifiers, n-grams of words score 0.3 points
    more on the dev sentences than n-grams of pieces (BENCHMARKS.md). The
    fit is deterministic, so every worker of a job fits the same.

    Args:
        preprocessor: the `ClassificationPreprocessor` of the classifier.
        texts: list of strings.
        label_ids: int label id of each text, in `range(num_labels)`.
        num_labels: int, the classifier's number of labels.
        text_pairs: second texts of pairs, or `None`.
        max_n: int, the longest n-grams, in words.
        C: float, the inverse L2 penalty of the logistic regression.
        batch_size: texts per preprocessor call.

    Returns:
        A `FittedTfidf`; its `layer()` is the `TfidfLogits` to give `TextClassifier`.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    label_ids = np.asarray(label_ids)
    missing = sorted(set(range(num_labels)) - set(label_ids.tolist()))
    if missing:
        raise ValueError(
            f"TF-IDF + logistic regression needs examples of every label: label ids {missing} "
            f"of {num_labels} have none."
        )
    skip_ids = sorted({preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id})
    continuation_ids = [
        index for index, piece in enumerate(preprocessor.vocabulary) if piece.startswith("##")
    ]
    continuation = _continuation_table(len(preprocessor.vocabulary), continuation_ids)
    documents = []
    for start in range(0, len(texts), batch_size):
        pairs = None if text_pairs is None else text_pairs[start : start + batch_size]
        features = preprocessor(texts[start : start + batch_size], pairs)
        words = piece_words(features["token_ids"], features["padding_mask"], continuation, skip_ids)
        documents += [b" ".join(row).decode() for row in words.to_list()]
    vectorizer = TfidfVectorizer(
        token_pattern=r"\S+", lowercase=False, ngram_range=(1, max_n), sublinear_tf=True
    )
    features = vectorizer.fit_transform(documents)
    regression = LogisticRegression(C=C, max_iter=2000).fit(features, label_ids)
    if num_labels == 2:
        # A binary fit is one logit, the second label's; the first's is 0.
        coefficients = np.stack([np.zeros_like(regression.coef_[0]), regression.coef_[0]], axis=1)
        intercept = np.array([0.0, regression.intercept_[0]])
    else:
        coefficients, intercept = regression.coef_.T, regression.intercept_
    ngrams = [None] * len(vectorizer.vocabulary_)
    for ngram, column in vectorizer.vocabulary_.items():
        ngrams[column] = ngram
    return FittedTfidf(
        len(preprocessor.vocabulary), continuation_ids, skip_ids, ngrams, max_n,
        vectorizer.idf_.astype("float32"), coefficients.astype("float32"),
        intercept.astype("float32"), float(regression.score(features, label_ids)),
    )


def _continuation_table(vocabulary_size, continuation_ids):
    table = np.zeros(vocabulary_size, bool)
    table[continuation_ids] = True
    return tf.constant(table)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TfidfLogits(keras.layers.Layer):
    """Logits of a linear model over sublinear TF-IDF of n-grams of the words a classifier reads.

    Computes what scikit-learn's `TfidfVectorizer(ngram_range=(1, max_n),
    sublinear_tf=True)` and a linear classifier compute, from the features
    of a `ClassificationPreprocessor` (`piece_words`): per text, each known n-gram's
    `(1 + ln count) * idf`, the row L2-normalised, times the coefficients,
    plus the intercept. N-grams not seen in fitting count for nothing, as in
    scikit-learn. Build it with `fit_tfidf_logits(...).layer()`; a layer
    made from a config gets its weights from the saved model. In training
    (`training=True`) it returns zeros without computing anything: its
    weights are fitted, not trained, and `TextClassifier` uses it only at
    inference. Float32 under every precision policy. Its lookup table keeps
    it off XLA and TPUs.

    Args:
        vocabulary_size: int, the word-piece vocabulary's size.
        continuation_ids: the ids of its `##` pieces.
        ngrams: str list, the feature columns' n-grams (`FittedTfidf.ngrams`).
        num_labels: int.
        max_n: int, the longest n-grams, in words.
        skip_ids: piece ids left out of the words (`[CLS]`, `[SEP]`, `[PAD]`).
        initial_weights: `(idf, coefficients, intercept)` arrays, or `None` for zeros.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: dict with int `token_ids` and bool `padding_mask`, `(batch, length)`.

    Returns:
        float32 logits `(batch, num_labels)`.

    Example:

    ```python
    texts = ["a great film.", "a dull plot.", "great acting.", "dull and slow."] * 5
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 41), sequence_length=16)
    fitted = fit_tfidf_logits(preprocessor, texts, [1, 0, 1, 0] * 5, num_labels=2)
    logits = fitted.layer()(preprocessor(["a great plot."]))   # float32 (1, 2)
    ```
    """

    def __init__(self, vocabulary_size, continuation_ids, ngrams, num_labels, max_n=2, skip_ids=(),
                 initial_weights=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.continuation_ids = [int(piece) for piece in continuation_ids]
        self.ngrams = list(ngrams)
        self.num_labels = int(num_labels)
        self.max_n = int(max_n)
        self.skip_ids = [int(piece) for piece in skip_ids]
        self._initial_weights = initial_weights
        self._continuation = _continuation_table(self.vocabulary_size, self.continuation_ids)
        # Index 0 is every n-gram not fitted on; feature column j is index j + 1.
        self.columns = keras.layers.StringLookup(
            vocabulary=self.ngrams, num_oov_indices=1, mask_token=None, name="ngram_columns"
        )
        self.supports_jit = False

    def build(self, input_shape=None):
        idf, coefficients, intercept = self._initial_weights or (None, None, None)
        rows = len(self.ngrams) + 1

        def initial(values, shape):
            if values is None:
                return "zeros"
            padded = np.zeros(shape, "float32")
            padded[1:] = values
            return keras.initializers.Constant(padded)

        self.idf = self.add_weight(shape=(rows,), initializer=initial(idf, (rows,)),
                                   trainable=False, name="idf")
        self.coefficients = self.add_weight(
            shape=(rows, self.num_labels),
            initializer=initial(coefficients, (rows, self.num_labels)),
            trainable=False, name="coefficients",
        )
        self.intercept = self.add_weight(
            shape=(self.num_labels,),
            initializer="zeros" if intercept is None else keras.initializers.Constant(intercept),
            trainable=False, name="intercept",
        )
        self._initial_weights = None

    def call(self, features, training=None):
        token_ids = tf.convert_to_tensor(features["token_ids"])
        batch = tf.shape(token_ids)[0]
        if training:
            return tf.zeros([batch, self.num_labels], self.compute_dtype)
        words = piece_words(token_ids, features["padding_mask"], self._continuation, self.skip_ids)
        ngrams = [[words[:, start : start + 1 - n or None] for start in range(n)]
                  for n in range(1, self.max_n + 1)]
        columns = tf.cast(self.columns(tf.concat(
            [tf.strings.join([part.flat_values for part in parts], " ") for parts in ngrams], 0
        )), tf.int64)
        rows = tf.concat([parts[0].value_rowids() for parts in ngrams], axis=0)
        # One entry per (text, n-gram) with its count; unknown n-grams have idf 0.
        width = len(self.ngrams) + 1
        pairs, _, counts = tf.unique_with_counts(rows * width + columns)
        row, column = pairs // width, pairs % width
        weights = (1.0 + tf.math.log(tf.cast(counts, tf.float32))) * tf.gather(self.idf, column)
        norms = tf.sqrt(tf.math.unsorted_segment_sum(tf.square(weights), row, batch))
        sums = tf.math.unsorted_segment_sum(
            weights[:, None] * tf.gather(self.coefficients, column), row, batch
        )
        return tf.math.divide_no_nan(sums, norms[:, None]) + self.intercept

    def compute_output_shape(self, input_shape):
        return (input_shape["token_ids"][0], self.num_labels)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "continuation_ids": self.continuation_ids,
            "ngrams": self.ngrams,
            "num_labels": self.num_labels,
            "max_n": self.max_n,
            "skip_ids": self.skip_ids,
        }


@keras.saving.register_keras_serializable(package="keras_simpletf")
class ProbabilityAverage(keras.layers.Layer):
    """At inference, the logits of two models' mean probabilities; in training, the first's logits.

    `log(weight * softmax(a) + (1 - weight) * softmax(b))`: its softmax is the
    averaged probabilities. In training (`training=True`) the first logits
    pass through alone, so the second model (fitted before, as
    `TfidfLogits`) takes no part in the first's loss and gradients.

    Args:
        weight: float in `[0, 1]`, the first model's share.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    ```python
    logits = ProbabilityAverage()(np.log([[0.9, 0.1]]), np.log([[0.5, 0.5]]))   # log([[0.7, 0.3]])
    ```
    """

    def __init__(self, weight=0.5, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"`weight` must lie in [0, 1], got {weight}.")
        self.weight = float(weight)

    def call(self, logits, other_logits, training=None):
        if training:
            return logits
        ops = keras.ops
        # log(w p + (1 - w) q), exact where either probability underflows.
        return ops.logaddexp(
            ops.log(self.weight) + ops.log_softmax(logits, axis=-1),
            ops.log(1.0 - self.weight) + ops.log_softmax(other_logits, axis=-1),
        )

    def compute_output_shape(self, logits_shape, other_logits_shape):
        return logits_shape

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
