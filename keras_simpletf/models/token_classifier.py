"""Token classification (named-entity recognition) over an encoder backbone."""

import keras
import tensorflow as tf

from keras_simpletf.metrics import extract_entities
from keras_simpletf.models.tag_decoding import traced_word_tag_decoder
from keras_simpletf.models.task import TaskModel, feature_inputs, sequence_output
from keras_simpletf.text.preprocessing import split_words

IGNORED_TAG_ID = -1


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TokenClassifier(TaskModel):
    """Backbone -> dropout -> per-piece tag logits (float32).

    Takes the features of `keras_simpletf.text.TokenClassificationPreprocessor`;
    trained on its piece tags, where `-1` (later pieces of a word, special
    tokens, padding) is ignored by `default_loss()` and by
    `keras_simpletf.metrics.EntityF1`. Tags are IOB2 (`"O"`, `"B-X"`, `"I-X"`).

    Args:
        backbone: our `keras_simpletf.layers.TransformerEncoder` or a keras-hub
            backbone such as `keras_hub.models.BertBackbone`.
        labels: list of IOB2 tags; their order defines the tag ids.
        dropout: float, dropout rate before the tag layer.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    model = TokenClassifier(
        TransformerEncoder(vocabulary_size=500, num_layers=2, hidden_dim=64),
        labels=["O", "B-PER", "I-PER"])
    model.compile("adamw", model.default_loss())
    ```
    """

    def __init__(self, backbone, labels, dropout=0.0, **kwargs):
        features = feature_inputs()
        sequence = sequence_output(backbone, features)
        sequence = keras.layers.Dropout(dropout, name="dropout")(sequence)
        logits = keras.layers.Dense(len(labels), dtype="float32", name=self.head_layer)(sequence)
        super().__init__(inputs=features, outputs=logits, **kwargs)
        self.backbone = backbone
        self.labels = list(labels)
        self.dropout = dropout

    def get_config(self):
        return {**super().get_config(), "labels": self.labels}

    def default_loss(self):
        """Cross-entropy over tag ids that skips the ignored (-1) positions."""
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORED_TAG_ID
        )

    def predict_word_tags(self, words, preprocessor, batch_size=32):
        """IOB2 tags of pre-split words: a list of tag lists, one per sentence.

        The model runs through `predict_on_batch`, Keras' traced predict
        function (kept by the model, so it is traced once, not per call); each
        sentence's tags are the best IOB2-valid sequence over its words'
        first-piece scores (`tag_decoding.decode_word_tags`), as the exported
        model decodes them. Words beyond the preprocessor's sequence length are
        tagged `"O"`.

        Args:
            words: list of sentences, each a list of word strings.
            preprocessor: the `TokenClassificationPreprocessor` the model was
                trained with.
            batch_size: sentences per model call.

        Returns:
            A list, per sentence, of one tag per word.
        """
        decode = traced_word_tag_decoder(tuple(self.labels))
        max_words = preprocessor.sequence_length - 2
        tags = []
        for start in range(0, len(words), batch_size):
            batch = words[start : start + batch_size]
            features = preprocessor(batch)
            word_index = features.pop("word_index")
            num_words = [min(len(sentence), max_words) for sentence in batch]
            # Under a MirroredStrategy, Keras 3.15's predict_on_batch runs the whole batch on
            # every replica and returns their outputs stacked: the first rows are this batch's.
            logits = self.predict_on_batch(features)[: len(batch)]
            tag_ids = decode(logits, word_index, tf.constant(num_words), max_words).numpy()
            for sentence, sentence_tag_ids, kept in zip(batch, tag_ids, num_words):
                sentence_tags = [self.labels[tag_id] for tag_id in sentence_tag_ids[:kept]]
                tags.append(sentence_tags + ["O"] * (len(sentence) - kept))
        return tags

    def predict_entities(self, texts, preprocessor, batch_size=32):
        """Entities in raw texts, with character offsets into each text.

        Texts are split into words as CoNLL-2003 writes them
        (`keras_simpletf.text.split_words`: "U.S." and "Bosnian-Serb" are one
        word, punctuation around words is split off), tagged, and each entity
        (chunked as seqeval does) becomes `{"type", "text", "start", "end"}`
        where `text == texts[i][start:end]`.

        Args:
            texts: list of strings.
            preprocessor: the `TokenClassificationPreprocessor` the model was
                trained with.
            batch_size: texts per model call.

        Returns:
            A list, per text, of entity dicts.
        """
        words, starts, ends = (t.to_list() for t in split_words(list(texts)))
        sentences = [[word.decode("utf-8") for word in row] for row in words]
        results = []
        for text, sentence_tags, byte_starts, byte_ends in zip(
            texts,
            self.predict_word_tags(sentences, preprocessor, batch_size),
            starts,
            ends,
        ):
            encoded = text.encode("utf-8")
            entities = []
            for entity_type, first, last in extract_entities(sentence_tags):
                start = len(encoded[: byte_starts[first]].decode("utf-8"))
                end = len(encoded[: byte_ends[last]].decode("utf-8"))
                entities.append(
                    {"type": entity_type, "text": text[start:end], "start": start, "end": end}
                )
            results.append(entities)
        return results
