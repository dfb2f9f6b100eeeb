"""A pointwise ranker: scores given (user, candidate item text, side features) pairs."""

import keras

from keras_simpletf.layers.validation import check_choice, check_positive_int
from keras_simpletf.models.task import feature_inputs, sequence_output
from keras_simpletf.models.tracing import BuildsBeforeTracing

RANKING_OBJECTIVES = ("binary", "regression")


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TextRanker(BuildsBeforeTracing, keras.Model):
    """Scores (user, candidate item text, side features): click probability or rating.

    user id embedding (zero for users outside `user_ids`), the candidate's
    text through `backbone` with masked mean pooling and a projection, their
    elementwise product and the side features are concatenated and go
    through one hidden layer to one float32 output: a logit
    (`objective="binary"`, trained with binary cross-entropy) or a rating
    (`objective="regression"`, mean squared error); see `default_loss()`.

    Args:
        backbone: our `keras_simpletf.layers.TransformerEncoder` or a keras-hub
            backbone.
        user_ids: list of str, the users with an id embedding.
        embedding_dim: int, width of the user and item vectors and the hidden layer.
        side_feature_dim: int, number of float side features (0: none).
        objective: `"binary"` or `"regression"`; regress centred targets
            (e.g. the rating minus the mean training rating), which the
            output starts near.
        dropout: float, dropout rate before the hidden layer.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        features: dict: `"user_id"` str `(batch,)`, the preprocessor's
            `"token_ids"`, `"segment_ids"`, `"padding_mask"` of the candidate
            texts and, if `side_feature_dim`, `"side_features"` float
            `(batch, side_feature_dim)`.

    Returns:
        float32 `(batch,)`: logits (binary) or predicted ratings.

    Example:

    ```python
    texts = ["a rocket to the moon", "a bread recipe"]
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 35), sequence_length=8)
    ranker = TextRanker(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16),
        user_ids=["u1", "u2"], embedding_dim=8)
    ranker.compile(keras.optimizers.Adam(0.01), ranker.default_loss())
    features = {"user_id": tf.constant(["u1", "u2"]), **preprocessor(texts)}
    clicks = tf.constant([1.0, 0.0])
    ranker.fit(tf.data.Dataset.from_tensor_slices((features, clicks)).batch(2), epochs=2, verbose=0)
    ranker.probabilities(ranker(features))  # (2,) click probabilities
    ```
    """

    def __init__(self, backbone, user_ids, embedding_dim=32, side_feature_dim=0,
                 objective="binary", dropout=0.0, **kwargs):
        check_choice("objective", objective, RANKING_OBJECTIVES)
        check_positive_int("embedding_dim", embedding_dim)
        features = {"user_id": keras.Input(shape=(), dtype="string", name="user_id"),
                    **feature_inputs()}
        if side_feature_dim:
            features["side_features"] = keras.Input(shape=(side_feature_dim,), name="side_features")
        user_lookup = keras.layers.StringLookup(
            vocabulary=[str(user_id) for user_id in user_ids], num_oov_indices=1,
            name="user_lookup")
        user_index = user_lookup(features["user_id"])
        user = keras.layers.Embedding(len(user_ids) + 1, embedding_dim, name="user_embedding")(
            user_index)
        user = user * keras.ops.expand_dims(keras.ops.cast(user_index > 0, user.dtype), -1)
        sequence = sequence_output(backbone, features)
        pooled = keras.layers.GlobalAveragePooling1D(name="pooling")(
            sequence, mask=features["padding_mask"])
        item = keras.layers.Dense(embedding_dim, name="item_projection")(pooled)
        parts = [user, item, user * item]
        if side_feature_dim:
            parts.append(features["side_features"])
        joined = keras.layers.Concatenate(name="join")(parts)
        joined = keras.layers.Dropout(dropout, name="dropout")(joined)
        hidden = keras.layers.Dense(embedding_dim, activation="relu", name="hidden")(joined)
        output = keras.layers.Dense(1, dtype="float32", name="output")(hidden)
        super().__init__(inputs=features, outputs=keras.ops.squeeze(output, -1), **kwargs)
        self.backbone = backbone
        self.user_ids = [str(user_id) for user_id in user_ids]
        self.embedding_dim = embedding_dim
        self.side_feature_dim = side_feature_dim
        self.objective = objective
        self.dropout = dropout

    def default_loss(self):
        """Binary cross-entropy on logits, or mean squared error for ratings."""
        if self.objective == "binary":
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.MeanSquaredError()

    def probabilities(self, outputs):
        """Click probabilities (sigmoid) of a binary ranker's outputs, as numpy.

        Raises:
            ValueError: for a regression ranker, whose outputs are ratings.
        """
        if self.objective != "binary":
            raise ValueError("A regression ranker predicts ratings, not probabilities.")
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(keras.ops.convert_to_tensor(outputs)))

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "user_ids": self.user_ids,
            "embedding_dim": self.embedding_dim,
            "side_feature_dim": self.side_feature_dim,
            "objective": self.objective,
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config, backbone=keras.layers.deserialize(config["backbone"]))
        return cls(**config)
