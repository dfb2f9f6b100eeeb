"""TF-IDF + logistic regression over a model's own word pieces, fitted by scikit-learn, run in the graph.

A classifier of our encoder and TF-IDF + logistic regression make different
mistakes: on SST-2's sentences each scores about 0.81 alone and their averaged
probabilities about 0.82 (BENCHMARKS.md). `fit_tfidf_logits` fits the linear
model with scikit-learn's `TfidfVectorizer` and `LogisticRegression` on the
word-piece ids the classifier's own preprocessor gives, and returns a
`TfidfLogits` layer that computes the same logits from those features in
TensorFlow, so a `TextClassifier(..., tfidf=...)` and its SavedModel carry
both models and take the same raw text.
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
        ngram_keys: int list, one key per feature column (`ngram_key`).
        max_n: the longest n-grams.
        skip_ids: the special piece ids left out of the n-grams.
        idf: float `(features,)`, scikit-learn's smoothed inverse document frequencies.
        coefficients: float `(features, labels)`.
        intercept: float `(labels,)`.
        train_accuracy: the fitted model's accuracy on its training texts.
    """

    vocabulary_size: int
    ngram_keys: list
    max_n: int
    skip_ids: list
    idf: np.ndarray
    coefficients: np.ndarray
    intercept: np.ndarray
    train_accuracy: float

    def layer(self, **kwargs):
        """A `TfidfLogits` layer holding these weights."""
        return TfidfLogits(
            self.vocabulary_size, self.ngram_keys, num_labels=len(self.intercept),
            max_n=self.max_n, skip_ids=self.skip_ids, initial_weights=(self.idf, self.coefficients, self.intercept),
            **kwargs,
        )


def ngram_key(pieces, vocabulary_size):
    """The feature key of the n-gram of piece ids `pieces`: n-grams of each length in a range of their own.

    Example:

    ```python
    ngram_key([7], 100), ngram_key([7, 3], 100)   # (7, 803): 100 + 7 * 100 + 3
    ```
    """
    key = sum(vocabulary_size**power for power in range(1, len(pieces)))
    for power, piece in enumerate(reversed(pieces)):
        key += int(piece) * vocabulary_size**power
    return key


def fit_tfidf_logits(preprocessor, texts, label_ids, num_labels, text_pairs=None, max_n=3, C=4.0,
                     batch_size=1024):
    """Fits TF-IDF + logistic regression on the word pieces `preprocessor` gives `texts`.

    The features are scikit-learn's `TfidfVectorizer(ngram_range=(1, max_n),
    sublinear_tf=True)` over each text's piece ids (those within the
    preprocessor's `sequence_length`, `[CLS]`, `[SEP]` and padding left
    out; a pair's two texts are read as one), and the classifier its
    `LogisticRegression(C=C)`, as the TF-IDF baseline a scikit-learn user
    writes over words with `ngram_range=(1, 2)`. Pieces are finer than
    words, so the default reaches one piece further (on SST-2, with our
    encoder's 8,000 pieces, averaged in: 0.2-0.4 points more on the dev
    sentences over four encoders than bigrams, BENCHMARKS.md). The fit is
    deterministic, so every worker of a job fits the same.

    Args:
        preprocessor: the `ClassificationPreprocessor` of the classifier.
        texts: list of strings.
        label_ids: int label id of each text, in `range(num_labels)`.
        num_labels: int, the classifier's number of labels.
        text_pairs: second texts of pairs, or `None`.
        max_n: int, the longest n-grams of pieces.
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
    documents = [
        " ".join(map(str, ids))
        for ids in _piece_ids(preprocessor, texts, text_pairs, skip_ids, batch_size)
    ]
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
    size = len(preprocessor.vocabulary)
    keys = [0] * len(vectorizer.vocabulary_)
    for ngram, column in vectorizer.vocabulary_.items():
        keys[column] = ngram_key(ngram.split(" "), size)
    return FittedTfidf(
        size, keys, max_n, skip_ids, vectorizer.idf_.astype("float32"), coefficients.astype("float32"),
        intercept.astype("float32"), float(regression.score(features, label_ids)),
    )


def _piece_ids(preprocessor, texts, text_pairs, skip_ids, batch_size):
    for start in range(0, len(texts), batch_size):
        pairs = None if text_pairs is None else text_pairs[start : start + batch_size]
        features = preprocessor(texts[start : start + batch_size], pairs)
        token_ids = features["token_ids"].numpy()
        kept = features["padding_mask"].numpy() & ~np.isin(token_ids, skip_ids)
        yield from (row[keep] for row, keep in zip(token_ids, kept))


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TfidfLogits(keras.layers.Layer):
    """Logits of a linear model over sublinear TF-IDF of word-piece n-grams.

    Computes what scikit-learn's `TfidfVectorizer(ngram_range=(1, max_n),
    sublinear_tf=True)` and a linear classifier compute, from the features
    of a `ClassificationPreprocessor`: per text, each known n-gram's
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
        ngram_keys: int list, the feature columns' keys (`FittedTfidf.ngram_keys`).
        num_labels: int.
        max_n: int, the longest n-grams.
        skip_ids: piece ids left out of the n-grams (`[CLS]`, `[SEP]`, `[PAD]`).
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

    def __init__(self, vocabulary_size, ngram_keys, num_labels, max_n=3, skip_ids=(),
                 initial_weights=None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.ngram_keys = [int(key) for key in ngram_keys]
        self.num_labels = int(num_labels)
        self.max_n = int(max_n)
        self.skip_ids = [int(piece) for piece in skip_ids]
        self._initial_weights = initial_weights
        # Index 0 is every n-gram not fitted on; feature column j is index j + 1.
        self.columns = keras.layers.IntegerLookup(
            vocabulary=np.asarray(self.ngram_keys, "int64"), num_oov_indices=1, mask_token=None,
            vocabulary_dtype="int64", name="ngram_columns",
        )
        self.supports_jit = False

    def build(self, input_shape=None):
        idf, coefficients, intercept = self._initial_weights or (None, None, None)
        rows = len(self.ngram_keys) + 1

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
        kept = tf.cast(features["padding_mask"], tf.bool)
        for piece in self.skip_ids:
            kept &= tf.not_equal(token_ids, piece)
        pieces = tf.ragged.boolean_mask(tf.cast(token_ids, tf.int64), kept)
        ngrams = [self._ngram_keys(pieces, n) for n in range(1, self.max_n + 1)]
        columns = tf.cast(self.columns(tf.concat([k.flat_values for k in ngrams], axis=0)), tf.int64)
        rows = tf.concat([k.value_rowids() for k in ngrams], axis=0)
        # One entry per (text, n-gram) with its count; unknown n-grams have idf 0.
        pairs, _, counts = tf.unique_with_counts(rows * (len(self.ngram_keys) + 1) + columns)
        row = pairs // (len(self.ngram_keys) + 1)
        column = pairs % (len(self.ngram_keys) + 1)
        weights = (1.0 + tf.math.log(tf.cast(counts, tf.float32))) * tf.gather(self.idf, column)
        norms = tf.sqrt(tf.math.unsorted_segment_sum(tf.square(weights), row, batch))
        sums = tf.math.unsorted_segment_sum(
            weights[:, None] * tf.gather(self.coefficients, column), row, batch
        )
        return tf.math.divide_no_nan(sums, norms[:, None]) + self.intercept

    def _ngram_keys(self, pieces, n):
        """`ngram_key` of every n-gram of each row of the ragged `pieces`."""
        size = self.vocabulary_size
        keys = sum(size**power for power in range(1, n))
        for start in range(n):
            stop = start - (n - 1)
            keys += pieces[:, start : stop or None] * size ** (n - 1 - start)
        return keys

    def compute_output_shape(self, input_shape):
        return (input_shape["token_ids"][0], self.num_labels)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "ngram_keys": self.ngram_keys,
            "num_labels": self.num_labels,
            "max_n": self.max_n,
            "skip_ids": self.skip_ids,
        }


@keras.saving.register_keras_serializable(package="keras_simpletf")
class ProbabilityAverage(keras.layers.Layer):
    """At inference, the logits of two models' averaged probabilities; in training, the first's logits.

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
