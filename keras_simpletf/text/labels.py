"""Label vocabularies: label strings to ids in the graph, with a clear error for unknown labels."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_simpletf")
class LabelEncoder(keras.layers.Layer):
    """Maps label strings to ids `0..len(labels)-1`, or to multi-hot rows.

    A label outside `labels` is an `InvalidArgumentError` whose message lists
    the vocabulary and the unknown labels, e.g. an evaluation file with a class
    the model was never trained on. Works on dense and ragged string tensors,
    so the same layer encodes one label per text, several per text
    (`multi_label=True`) and one tag per word (NER).

    Args:
        labels: list of label strings; their order defines the ids.
        multi_label: bool, encode each row's labels (a ragged or dense
            `(batch, k)` string tensor) as one float32 multi-hot row.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    ```python
    encoder = LabelEncoder(["negative", "positive"])
    ids = encoder(tf.constant(["positive", "negative"]))   # [1, 0]
    ```
    """

    def __init__(self, labels, multi_label=False, **kwargs):
        super().__init__(**kwargs)
        labels = [str(label) for label in labels]
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"`labels` must be distinct and non-empty, got {labels}.")
        self.labels = labels
        self.multi_label = multi_label
        self._lookup = keras.layers.StringLookup(
            vocabulary=labels, num_oov_indices=1, output_mode="int"
        )

    def _encode_flat(self, flat_labels):
        ids = tf.cast(self._lookup(flat_labels), tf.int32)
        unknown = tf.boolean_mask(flat_labels, tf.equal(ids, 0))
        tf.debugging.Assert(
            tf.equal(tf.size(unknown), 0),
            [f"Labels outside the label vocabulary {self.labels}:", unknown],
            summarize=20,
        )
        return ids - 1

    def call(self, labels):
        if isinstance(labels, tf.RaggedTensor):
            ids = labels.with_flat_values(self._encode_flat(labels.flat_values))
        else:
            ids = self._encode_flat(tf.reshape(labels, [-1]))
            ids = tf.reshape(ids, tf.shape(labels))
        if not self.multi_label:
            return ids
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        one_hot = tf.ragged.map_flat_values(tf.one_hot, ids, len(self.labels))
        return tf.minimum(tf.reduce_sum(one_hot, axis=1), 1.0)

    def decode(self, ids):
        """Label strings for an array of ids (any shape), as a NumPy array."""
        import numpy as np

        return np.asarray(self.labels, dtype=object)[np.asarray(ids)]

    def get_config(self):
        config = super().get_config()
        config.update(labels=self.labels, multi_label=self.multi_label)
        return config
