"""Text classification (binary, multi-class, multi-label) over an encoder backbone."""

import keras
import numpy as np

from keras_simpletf.layers import MaskedGlobalMaxPooling1D
from keras_simpletf.layers.validation import check_choice
from keras_simpletf.models.task import TaskModel, feature_inputs, sequence_output
from keras_simpletf.models.tfidf import ProbabilityAverage

POOLINGS = {"mean": keras.layers.GlobalAveragePooling1D, "max": MaskedGlobalMaxPooling1D}


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TextClassifier(TaskModel):
    """Backbone -> masked mean (or max) pooling -> dropout -> one dense layer of logits.

    Takes the features of `keras_simpletf.text.ClassificationPreprocessor` and
    returns float32 logits, one per label, also under mixed precision. The
    label names are part of the model, so a saved model decodes its own
    predictions. Multi-class models are trained with softmax cross-entropy
    over integer ids; `multi_label=True` models with sigmoid cross-entropy
    over multi-hot rows (see `default_loss()`); binary classification is two labels.

    Args:
        backbone: our `keras_simpletf.layers.TransformerEncoder` or a keras-hub
            backbone such as `keras_hub.models.BertBackbone`.
        labels: list of label names; their order defines the label ids.
        multi_label: bool, several labels may apply to one text.
        dropout: float, dropout rate on the pooled representation.
        pooling: `"mean"` or `"max"` over the real (unpadded) positions. Max
            pooling lets one strongly marked phrase decide a long text: on
            SST-2, learning from phrases of 8 words on average over our
            encoder pretrained on them (`pretrain_masked_lm`), it scores about
            a point above mean pooling on sentences of 20 (BENCHMARKS.md).
        tfidf: a fitted `keras_simpletf.models.TfidfLogits` (from
            `fit_tfidf_logits` on this model's preprocessor), or `None`. At
            inference the model's probabilities are then the average of the
            encoder's and the TF-IDF + logistic regression's (its logits are
            their log); in training the encoder learns alone. The two make
            different mistakes: on SST-2's sentences each scores about 0.81
            and the average about 0.82 (BENCHMARKS.md). Not with `multi_label`.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    model = TextClassifier(
        TransformerEncoder(vocabulary_size=500, num_layers=2, hidden_dim=64),
        labels=["negative", "positive"])
    model.compile("adamw", model.default_loss(), metrics=["accuracy"])
    ```
    """

    def __init__(self, backbone, labels, multi_label=False, dropout=0.0, pooling="mean", tfidf=None,
                 **kwargs):
        check_choice("pooling", pooling, POOLINGS)
        if tfidf is not None and (multi_label or tfidf.num_labels != len(labels)):
            raise ValueError(
                f"`tfidf` must score the {len(labels)} labels of a single-label classifier; got "
                f"{tfidf.num_labels} labels with multi_label={multi_label}."
            )
        features = feature_inputs()
        sequence = sequence_output(backbone, features)
        pooled = POOLINGS[pooling](name="pooling")(sequence, mask=features["padding_mask"])
        pooled = keras.layers.Dropout(dropout, name="dropout")(pooled)
        logits = keras.layers.Dense(len(labels), dtype="float32", name=self.head_layer)(pooled)
        if tfidf is not None:
            logits = ProbabilityAverage(name="tfidf_average")(logits, tfidf(features))
        super().__init__(inputs=features, outputs=logits, **kwargs)
        self.backbone = backbone
        self.labels = list(labels)
        self.multi_label = multi_label
        self.dropout = dropout
        self.pooling = pooling
        self.tfidf = tfidf

    def default_loss(self):
        """The training loss that matches `multi_label`."""
        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def scores(self, logits):
        """Probabilities: softmax over labels, or per-label sigmoids."""
        logits = keras.ops.convert_to_tensor(logits)
        if self.multi_label:
            return keras.ops.convert_to_numpy(keras.ops.sigmoid(logits))
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def predict_text(self, texts, preprocessor, text_pairs=None, threshold=0.5, batch_size=32):
        """Labels of raw texts: a label per text, or a list per text if multi-label.

        The model runs through `predict_on_batch`, Keras' traced predict
        function (kept by the model, so it is traced once, not per call).

        Args:
            texts: list of strings.
            preprocessor: the `ClassificationPreprocessor` the model was trained with.
            text_pairs: second texts of pairs, or `None`.
            threshold: multi-label decision threshold on each sigmoid.
            batch_size: texts per model call.

        Returns:
            `(labels, scores)`: label strings (lists of them if multi-label)
            and the `(len(texts), len(labels))` probabilities.
        """
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(
                f"`text_pairs` must have one text per text: got {len(text_pairs)} for "
                f"{len(texts)} texts."
            )
        # Under a MirroredStrategy, Keras 3.15's predict_on_batch runs the whole batch on every
        # replica and returns their outputs stacked: the first rows are this batch's.
        logits = [
            self.predict_on_batch(
                preprocessor(
                    texts[start : start + batch_size],
                    None if text_pairs is None else text_pairs[start : start + batch_size],
                )
            )[: len(texts[start : start + batch_size])]
            for start in range(0, len(texts), batch_size)
        ]
        if not logits:
            return [], np.zeros((0, len(self.labels)), "float32")
        scores = self.scores(np.concatenate(logits))
        names = np.asarray(self.labels, dtype=object)
        if self.multi_label:
            return [list(names[row >= threshold]) for row in scores], scores
        return list(names[scores.argmax(axis=-1)]), scores

    def get_config(self):
        return {
            **super().get_config(),
            "labels": self.labels,
            "multi_label": self.multi_label,
            "pooling": self.pooling,
            **({} if self.tfidf is None else {"tfidf": keras.layers.serialize(self.tfidf)}),
        }

    @classmethod
    def from_config(cls, config):
        if "tfidf" in config:
            config = dict(config, tfidf=keras.layers.deserialize(config["tfidf"]))
        return super().from_config(config)
