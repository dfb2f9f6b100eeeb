"""Text classification over a token-id encoder."""

import keras


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TextClassifier(keras.Model):
    """Encoder -> masked mean pooling -> dropout -> one dense layer of logits.

    Takes token ids (from a preprocessor) and returns float32 logits, also
    under mixed precision, so the loss is computed in float32.

    Args:
        encoder: a layer mapping int `(batch, length)` token ids to
            `(batch, length, width)` with a padding mask, e.g.
            `keras_simpletf.layers.TransformerEncoder`.
        num_classes: int, number of output logits.
        dropout: float, dropout rate on the pooled representation.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    model = TextClassifier(
        TransformerEncoder(vocabulary_size=500, num_layers=2, hidden_dim=64),
        num_classes=2)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.0, **kwargs):
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        sequence = encoder(token_ids)
        pooled = keras.layers.GlobalAveragePooling1D(name="pooling")(sequence)
        pooled = keras.layers.Dropout(dropout, name="dropout")(pooled)
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(pooled)
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout

    def get_config(self):
        return {
            "encoder": keras.layers.serialize(self.encoder),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config, encoder=keras.layers.deserialize(config["encoder"]))
        return cls(**config)
