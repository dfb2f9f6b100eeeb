"""What task models share: inputs, running either kind of backbone, config."""

import keras
import keras_hub

from keras_simpletf.models.fine_tuning import fine_tuning_optimizer
from keras_simpletf.models.tracing import BuildsBeforeTracing

FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")


def feature_inputs():
    """Keras inputs for the preprocessors' features (keras-hub BERT's inputs)."""
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="bool", name="padding_mask"),
    }


def sequence_output(backbone, features):
    """`(batch, length, width)` from our `TransformerEncoder` or a keras-hub backbone.

    A keras-hub BERT's pooler (`pooled_dense`) is frozen: task models pool the
    sequence output themselves, so the pooler would get no gradient.
    """
    if isinstance(backbone, keras_hub.models.Backbone):
        freeze_pooler(backbone)
        return backbone(features)["sequence_output"]
    return backbone(features["token_ids"], mask=features["padding_mask"])


def freeze_pooler(backbone):
    """Freezes a keras-hub BERT's pooler (`pooled_dense`), if it has one.

    A model that reads the sequence output gives the pooler no gradient;
    frozen, it holds no optimizer slots and draws no missing-gradient warning.
    """
    pooler = getattr(backbone, "pooled_dense", None)
    if pooler is not None:
        pooler.trainable = False


class TaskModel(BuildsBeforeTracing, keras.Model):
    """What task models share: a backbone, dropout, the recipe, their config."""

    head_layer = "logits"  # The name of the dense layer over the backbone's outputs.
    # Set by `make_student` on a student converted from a pretrained BERT; saved with the model.
    from_pretrained_layers = False

    def default_optimizer(self, total_steps, learning_rate=None, ema_momentum=None):
        """The fine-tuning recipe (`fine_tuning_optimizer`) for this backbone.

        Peak learning rate 5e-5 for a pretrained keras-hub backbone, 1e-4 for
        our encoder holding a pretrained BERT's layers (a student of
        `make_student(..., initialize="every_other")`, whose
        `from_pretrained_layers` is then true) and 2e-3 for our encoder
        trained from scratch, unless `learning_rate` is given.

        Args:
            total_steps: int, planned optimizer steps (epochs x steps per epoch).
            learning_rate: float, the peak learning rate, or `None`.
            ema_momentum: float, or `None` or 0 for none: end training on a
                moving average of the weights (`transformer_optimizer`).
        """
        if learning_rate is None:
            if isinstance(self.backbone, keras_hub.models.Backbone):
                learning_rate = 5e-5
            elif self.from_pretrained_layers:
                learning_rate = 1e-4
            else:
                learning_rate = 2e-3
        return fine_tuning_optimizer(
            total_steps, learning_rate=learning_rate, ema_momentum=ema_momentum
        )

    def get_config(self):
        config = {
            "backbone": keras.layers.serialize(self.backbone),
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }
        if self.from_pretrained_layers:
            config["from_pretrained_layers"] = True
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config, backbone=keras.layers.deserialize(config["backbone"]))
        from_pretrained_layers = config.pop("from_pretrained_layers", False)
        model = cls(**config)
        model.from_pretrained_layers = from_pretrained_layers
        return model
