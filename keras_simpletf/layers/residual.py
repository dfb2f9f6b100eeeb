"""Residual connections: plain add, ReZero gate, or a fixed down-weight."""

import keras
from keras import ops

from keras_simpletf.layers.validation import check_choice, check_rate

RESIDUAL_MODES = ("add", "rezero", "scaled")


def check_residual(mode, scale, mode_name="mode", scale_name="scale"):
    """Validates a residual mode and its scale, naming the caller's arguments."""
    check_choice(mode_name, mode, RESIDUAL_MODES)
    if mode == "scaled" and (scale is None or scale <= 0):
        raise ValueError(
            f'`{scale_name}` must be a positive number with {mode_name}="scaled", '
            f"got {scale!r}."
        )


@keras.saving.register_keras_serializable(package="keras_simpletf")
class Residual(keras.layers.Layer):
    """`shortcut + scale * dropout(branch)`, with `scale` set by `mode`.

    - `"add"`: scale 1, the standard residual.
    - `"rezero"`: scale is one trainable scalar initialised to 0, so the block
      starts as the identity (ReZero).
    - `"scaled"`: scale is the fixed `scale` argument, e.g. `1 / sqrt(2 L)` for
      an `L`-layer stack.

    Args:
        mode: one of `"add"`, `"rezero"`, `"scaled"`.
        scale: float, the fixed scale of `"scaled"` mode (required there).
        dropout: float, dropout rate on the branch before it is added.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    x = keras.Input(shape=(None, 64))
    y = Residual(mode="rezero")(x, FeedForward()(x))
    ```

    References:
        - [He et al., 2016](https://arxiv.org/abs/1512.03385)
        - [Bachlechner et al., 2020](https://arxiv.org/abs/2003.04887) (ReZero)
    """

    def __init__(self, mode="add", scale=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_residual(mode, scale)
        self.mode = mode
        self.scale = scale
        self.dropout = check_rate("dropout", dropout)
        self.supports_masking = True

    def build(self, shortcut_shape, branch_shape):
        self.gate = None
        if self.mode == "rezero":
            self.gate = self.add_weight(name="gate", shape=(), initializer="zeros")
        self.branch_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="branch_dropout"
        )

    def call(self, shortcut, branch, training=None):
        branch = self.branch_dropout(branch, training=training)
        if self.mode == "rezero":
            branch = branch * ops.cast(self.gate, branch.dtype)
        elif self.mode == "scaled":
            branch = branch * ops.cast(self.scale, branch.dtype)
        return shortcut + branch

    def compute_output_shape(self, shortcut_shape, branch_shape):
        return shortcut_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, scale=self.scale, dropout=self.dropout)
        return config
