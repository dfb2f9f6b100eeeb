"""The feed-forward sub-block: exactly one hidden layer."""

import keras

from keras_simpletf.layers.initializers import clone_initializer
from keras_simpletf.layers.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_simpletf")
class FeedForward(keras.layers.Layer):
    """Position-wise `Dense(hidden_dim, activation) -> Dropout -> Dense(width)`.

    Args:
        hidden_dim: int, width of the one hidden layer. Defaults to four times
            the input width.
        activation: activation of the hidden layer. Defaults to `"gelu"`.
        dropout: float, dropout rate on the hidden activations.
        output_dim: int, output width. Defaults to the input width.
        use_bias: bool, whether both dense layers have biases.
        kernel_initializer: initializer of both kernels.
        bias_initializer: initializer of both biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    x = keras.Input(shape=(None, 64))
    y = FeedForward(hidden_dim=128, activation="relu")(x)   # (None, None, 64)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762), section 3.3
    """

    def __init__(
        self,
        hidden_dim=None,
        activation="gelu",
        dropout=0.0,
        output_dim=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim, allow_none=True)
        self.activation = keras.activations.get(activation)
        self.dropout = check_rate("dropout", dropout)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        width = inputs_shape[-1]
        hidden_dim = self.hidden_dim or 4 * width
        self.hidden_dense = keras.layers.Dense(
            hidden_dim,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="hidden",
        )
        self.hidden_dense.build(inputs_shape)
        self.hidden_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="hidden_dropout"
        )
        self.output_dense = keras.layers.Dense(
            self.output_dim or width,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="output",
        )
        self.output_dense.build((*inputs_shape[:-1], hidden_dim))

    def call(self, inputs, training=None):
        hidden = self.hidden_dropout(self.hidden_dense(inputs), training=training)
        return self.output_dense(hidden)

    def compute_output_shape(self, inputs_shape):
        return (*inputs_shape[:-1], self.output_dim or inputs_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            output_dim=self.output_dim,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
