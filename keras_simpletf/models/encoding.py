"""What task models share: inputs, running either kind of backbone, config."""

import keras
import keras_hub

FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")


def feature_inputs():
    """Keras inputs for the preprocessors' features (keras-hub BERT's inputs)."""
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="bool", name="padding_mask"),
    }


def sequence_output(backbone, features):
    """`(batch, length, width)` from our `TransformerEncoder` or a keras-hub backbone."""
    if isinstance(backbone, keras_hub.models.Backbone):
        return backbone(features)["sequence_output"]
    return backbone(features["token_ids"], mask=features["padding_mask"])



class TaskModel(keras.Model):
    """Config handling of task models: a backbone, label names and dropout."""

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "labels": self.labels,
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config, backbone=keras.layers.deserialize(config["backbone"]))
        return cls(**config)
