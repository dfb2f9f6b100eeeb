"""Fixed sinusoidal position encoding, optionally mixed by one learned matrix."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_simpletf.layers.validation import check_positive_int


def sinusoid_table(length, width, max_wavelength=10000.0):
    """`(length, width)` float32 sinusoids: even columns sine, odd columns cosine.

    Column pair `(2i, 2i + 1)` has wavelength `max_wavelength ** (2i / width)`,
    as in Vaswani et al. (2017).
    """
    positions = np.arange(length, dtype=np.float64)[:, None]
    pair_index = (np.arange(width) // 2).astype(np.float64)
    frequencies = max_wavelength ** (-2.0 * pair_index / width)
    angles = positions * frequencies[None, :]
    table = np.where(np.arange(width) % 2 == 0, np.sin(angles), np.cos(angles))
    return table.astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Fixed sin/cos position encodings for a `(batch, length, width)` input.

    Returns the encodings (shape of `inputs`, in the compute dtype) for the
    caller to add, the way `keras_hub.layers.SinusoidalPositionEncoding` does.
    The table has no parameters; with `learned_mix=True` it is multiplied by
    one `(width, width)` matrix initialised to the identity, so training may
    mix the frequencies while the layer starts as the fixed encoding. With
    `learned_offsets=True` a `(max_length, width)` table, initialised to
    zeros, is added: learned positions (BERT's) over the sinusoids, which a
    student converted from a BERT starts from. Masks pass through unchanged.

    Args:
        max_length: int, the longest sequence the layer accepts. Longer inputs
            raise a `ValueError` at build time when the length is static, and
            an `InvalidArgumentError` naming `max_length` when it is not.
        max_wavelength: float, the longest wavelength of the sinusoids.
        learned_mix: bool, whether to learn a linear mix of the sinusoids.
        learned_offsets: bool, whether to learn an offset for every position.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, length, width)`.
        start_index: int scalar, the position of the first of `inputs` (the
            tokens already decoded, when decoding with a cache). Defaults to 0.

    Example:

    ```python
    token_ids = keras.Input(shape=(None,), dtype="int32")
    embeddings = keras.layers.Embedding(1000, 64)(token_ids)
    embeddings = embeddings + SinusoidalPositionEncoding(max_length=128)(embeddings)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(
        self,
        max_length=512,
        max_wavelength=10000.0,
        learned_mix=False,
        learned_offsets=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_length = check_positive_int("max_length", max_length)
        if max_wavelength <= 1:
            raise ValueError(
                f"`max_wavelength` must be greater than 1, got {max_wavelength!r}."
            )
        self.max_wavelength = max_wavelength
        self.learned_mix = learned_mix
        self.learned_offsets = learned_offsets
        self.supports_masking = True

    def build(self, inputs_shape):
        length, width = inputs_shape[-2], inputs_shape[-1]
        self._check_length(length)
        self._table = sinusoid_table(self.max_length, width, self.max_wavelength)
        self.mix = None
        if self.learned_mix:
            self.mix = self.add_weight(
                name="mix", shape=(width, width), initializer="identity"
            )
        self.offsets = None
        if self.learned_offsets:
            self.offsets = self.add_weight(
                name="offsets", shape=(self.max_length, width), initializer="zeros"
            )

    def _check_length(self, length):
        if length is not None and length > self.max_length:
            raise ValueError(
                f"Sequence length {length} exceeds `max_length`={self.max_length} "
                "of SinusoidalPositionEncoding; raise `max_length` or truncate."
            )

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[-2]
        end = length + start_index
        if isinstance(end, int):
            self._check_length(end)
        else:
            tf.debugging.assert_less_equal(
                end,
                self.max_length,
                message=(
                    "Sequence length exceeds `max_length` of "
                    f"SinusoidalPositionEncoding ({self.max_length})"
                ),
            )
        encodings = ops.cast(self._table, self.compute_dtype)
        encodings = ops.slice(
            encodings, (start_index, 0), (length, ops.shape(encodings)[1])
        )
        if self.mix is not None:
            encodings = ops.matmul(encodings, self.mix)
        if self.offsets is not None:
            encodings = encodings + ops.slice(
                ops.cast(self.offsets, self.compute_dtype), (start_index, 0), ops.shape(encodings)
            )
        return ops.broadcast_to(encodings, ops.shape(inputs))

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            max_length=self.max_length,
            max_wavelength=self.max_wavelength,
            learned_mix=self.learned_mix,
            learned_offsets=self.learned_offsets,
        )
        return config
