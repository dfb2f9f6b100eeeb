"""Preprocessors: raw strings in, fixed-length token ids out, inside the graph."""

import keras
import keras_hub
import tensorflow as tf

from keras_simpletf.text.wordpiece import read_vocabulary, wordpiece_tokenizer


@keras.saving.register_keras_serializable(package="keras_simpletf")
class ClassificationPreprocessor(keras.layers.Layer):
    """WordPiece-tokenizes strings and packs `[CLS] tokens [SEP] [PAD]...`.

    The same object runs in `tf.data.Dataset.map` during training and inside
    an exported model, so serving tokenizes exactly as training did. Texts
    longer than `sequence_length` are truncated, never an error. Python
    strings and lists of them are accepted as well as string tensors. The
    vocabulary is part of the layer's config, so the layer restores from its
    config alone, also inside a functional model.

    Args:
        vocabulary: a list of tokens, or the path of a BERT `vocab.txt`; must
            hold `"[PAD]"`, `"[UNK]"`, `"[CLS]"` and `"[SEP]"`.
        sequence_length: int, the length of every output row.
        lowercase: bool, lower-case and strip accents (uncased BERT).
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    ```python
    texts = ["a great film.", "a dull plot."] * 10
    vocabulary = learn_vocabulary(texts, vocabulary_size=500)
    preprocessor = ClassificationPreprocessor(vocabulary, sequence_length=32)
    token_ids = preprocessor(["a great film."])   # int32 (1, 32)
    ```
    """

    def __init__(self, vocabulary, sequence_length=128, lowercase=True, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = read_vocabulary(vocabulary)
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.tokenizer = wordpiece_tokenizer(self.vocabulary, lowercase)
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=self.tokenizer.token_to_id("[CLS]"),
            end_value=self.tokenizer.token_to_id("[SEP]"),
            pad_value=self.tokenizer.token_to_id("[PAD]"),
            return_padding_mask=False,
        )

    def __call__(self, texts, **kwargs):
        # Keras layers take tensors only; notebooks pass Python strings.
        if isinstance(texts, (str, list, tuple)):
            texts = tf.constant(texts)
        return super().__call__(texts, **kwargs)

    def call(self, texts):
        return self.packer(self.tokenizer(texts))

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary,
            sequence_length=self.sequence_length,
            lowercase=self.lowercase,
        )
        return config
