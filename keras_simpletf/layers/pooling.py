"""Max pooling over the real positions of a padded sequence."""

import keras
from keras import ops

from keras_simpletf.layers.masks import padding_mask_of


@keras.saving.register_keras_serializable(package="keras_simpletf")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """The largest value of each feature over a sequence's real positions.

    `keras.layers.GlobalMaxPooling1D` ignores the padding mask, so padded
    positions would take part in the maximum; this layer leaves them out. A
    row with no real position pools to zeros.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float `(batch, length, features)`.
        mask: boolean `(batch, length)`, `True` at real positions; defaults to
            the mask `inputs` carry, else every position is real.

    Returns:
        `(batch, features)`.

    Example:

    ```python
    sequence = np.array([[[1.0], [5.0], [9.0]]], "float32")
    MaskedGlobalMaxPooling1D()(sequence, mask=np.array([[True, True, False]]))  # [[5.0]]
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        mask = padding_mask_of(inputs, mask)
        if mask is None:
            return ops.max(inputs, axis=1)
        real = ops.expand_dims(mask, axis=-1)
        lowest = ops.min(inputs)
        pooled = ops.max(ops.where(real, inputs, lowest), axis=1)
        return ops.where(ops.any(real, axis=1), pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
