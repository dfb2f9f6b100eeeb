"""Masked-language-model pretraining of our encoder on the task's own texts (self-pretraining)."""

import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_simpletf.models.fine_tuning import fine_tuning_optimizer
from keras_simpletf.models.tracing import BuildsBeforeTracing

# BERT's share of masked tokens (Devlin et al. 2019).
MASK_RATE = 0.15


@keras.saving.register_keras_serializable(package="keras_simpletf")
class MaskedLanguageModel(BuildsBeforeTracing, keras.Model):
    """Our `TransformerEncoder` with a masked-LM head: predicts the tokens masked out of its input.

    The head is keras-hub's `MaskedLMHead` (a dense layer, a layer norm and
    logits over the vocabulary at the masked positions only). Trained on the
    texts a task model will later learn labels from, it gives the encoder
    what those texts teach about the language before the labels do
    (`pretrain_masked_lm`).

    Args:
        encoder: a `keras_simpletf.layers.TransformerEncoder`.
        **kwargs: base model arguments.

    Call arguments:
        inputs: a dict of `token_ids` (int `(batch, length)`, masked tokens
            replaced), `padding_mask` (bool or int `(batch, length)`, nonzero
            at real tokens) and `mask_positions` (int `(batch, masks)`).

    Returns:
        Float32 logits `(batch, masks, vocabulary_size)`, also under mixed
        precision.

    Example:

    ```python
    encoder = TransformerEncoder(vocabulary_size=100, num_layers=1, hidden_dim=16)
    model = MaskedLanguageModel(encoder)
    logits = model({"token_ids": np.ones((2, 8), "int32"),
                    "padding_mask": np.ones((2, 8), bool),
                    "mask_positions": np.zeros((2, 3), "int32")})   # (2, 3, 100)
    ```

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
        - [Krishna et al., 2023](https://arxiv.org/abs/2209.14389): pretraining
          on the downstream dataset itself.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        # In float32: under a mixed policy keras-hub's head, called inside this model, adds its
        # float32 output bias to bfloat16 logits and fails.
        self.head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=encoder.vocabulary_size, activation=None, dtype="float32",
            name="masked_lm_head",
        )

    def call(self, inputs, training=None):
        sequence = self.encoder(inputs["token_ids"], mask=inputs["padding_mask"], training=training)
        sequence = keras.ops.cast(sequence, "float32")
        # The head gathers the masked positions; the padding mask has no meaning there.
        sequence._keras_mask = None
        return self.head(sequence, mask_positions=inputs["mask_positions"])

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        return config

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def masked_lm_dataset(texts, preprocessor, vocabulary, batch_size, seed=0, max_masks=None):
    """Endless shuffled batches of `texts` with tokens masked, for `MaskedLanguageModel.fit`.

    `MASK_RATE` of each text's word pieces (never `[CLS]`, `[SEP]` or
    padding) are chosen, and of those 80% become `[MASK]`, 10% a random
    token and 10% stay (keras-hub's `MaskedLMMaskGenerator`, BERT's recipe).

    Args:
        texts: list of str.
        preprocessor: the task's `ClassificationPreprocessor` (or any that
            maps a batch of texts to `token_ids` and `padding_mask`).
        vocabulary: list of str, the preprocessor's, holding `[MASK]`.
        batch_size: int, texts per batch.
        seed: int, the shuffling seed.
        max_masks: int, the most tokens masked in a text. `None`: `MASK_RATE`
            of the 95th percentile of the texts' lengths in word pieces,
            rounded up, so that the head scores few padded positions.

    Returns:
        A `tf.data.Dataset` of `(inputs, mask_ids, mask_weights)`, the
        padding mask in `inputs` as int32 (1 at real tokens): Keras 3's `fit`
        under a multi-replica strategy averages a first batch across the
        replicas to build the model, which fails on booleans.
    """
    if "[MASK]" not in vocabulary:
        raise ValueError("The vocabulary has no [MASK] token to mask tokens with.")
    texts = tf.constant(list(texts))
    if max_masks is None:
        lengths = np.concatenate([
            np.sum(preprocessor(batch)["padding_mask"], axis=1)
            for batch in tf.data.Dataset.from_tensor_slices(texts).batch(1024)
        ])
        max_masks = max(1, math.ceil(MASK_RATE * np.percentile(lengths, 95)))
    generator = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=len(vocabulary),
        mask_selection_rate=MASK_RATE,
        mask_selection_length=max_masks,
        mask_token_id=vocabulary.index("[MASK]"),
        unselectable_token_ids=[0, vocabulary.index("[CLS]"), vocabulary.index("[SEP]")],
    )

    def masked(batch):
        features = preprocessor(batch)
        masks = generator(features["token_ids"])
        inputs = {
            "token_ids": masks["token_ids"],
            "padding_mask": tf.cast(features["padding_mask"], tf.int32),
            "mask_positions": masks["mask_positions"],
        }
        return inputs, masks["mask_ids"], masks["mask_weights"]

    return (
        tf.data.Dataset.from_tensor_slices(texts)
        .shuffle(len(texts), seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(masked, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def pretrain_masked_lm(
    encoder, texts, preprocessor, vocabulary, steps, batch_size=128, learning_rate=1e-3, seed=0,
    verbose="auto",
):
    """Trains `encoder` as a masked language model on `texts`, in place.

    Measured on SST-2 (BENCHMARKS.md, "SST-2 from scratch: masked-LM
    pretraining on its own texts"): 8,000 steps of 128 of the training
    phrases, then the classifier trained at a peak learning rate of 5e-4
    (`model.default_optimizer(steps, learning_rate=5e-4)`; the from-scratch
    2e-3 undoes more of what was learned) and pooling by the maximum
    (`TextClassifier(..., pooling="max")`), lift accuracy on the development
    sentences from 0.762-0.764 to 0.811-0.812 (0.80 pooling by the mean).

    Args:
        encoder: our `TransformerEncoder`; its weights are trained.
        texts: list of str, e.g. a task's training texts.
        preprocessor, vocabulary: as `masked_lm_dataset` takes them.
        steps: int, optimizer steps.
        batch_size: int, texts per step.
        learning_rate: float, the peak of `fine_tuning_optimizer`'s warm-up
            and linear decay (AdamW).
        seed: int, the shuffling seed.
        verbose: as `keras.Model.fit` takes it.

    Returns:
        The trained `MaskedLanguageModel`, compiled: its `history` holds the
        `loss` and `accuracy` (of the masked tokens) of each 500 steps.
    """
    model = MaskedLanguageModel(encoder)
    model.compile(
        optimizer=fine_tuning_optimizer(steps, learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    dataset = masked_lm_dataset(texts, preprocessor, vocabulary, batch_size, seed=seed)
    # Epochs of up to 500 steps that add up to `steps`, where the schedule ends.
    steps_per_epoch = next(size for size in range(min(steps, 500), 0, -1) if steps % size == 0)
    model.fit(
        dataset, steps_per_epoch=steps_per_epoch, epochs=steps // steps_per_epoch, verbose=verbose
    )
    return model
