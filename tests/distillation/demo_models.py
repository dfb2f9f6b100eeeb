"""Tiny DEMO models and batches for the distillation tests."""

import tensorflow as tf

from keras_simpletf.data import NER_TAGS, SENTIMENT_LABELS, demo_ner, demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier, TokenClassifier
from keras_simpletf.text import (
    ClassificationPreprocessor,
    LabelEncoder,
    TokenClassificationPreprocessor,
    learn_vocabulary,
)


def sentiment_batches(preprocessor, texts, labels=None, batch_size=32):
    """Preprocessed batches of texts, with label ids if `labels` are given."""
    if labels is None:
        return tf.data.Dataset.from_tensor_slices(texts).batch(batch_size).map(preprocessor)
    encode = LabelEncoder(SENTIMENT_LABELS)
    return (
        tf.data.Dataset.from_tensor_slices((texts, labels))
        .batch(batch_size)
        .map(lambda text, label: (preprocessor(text), encode(label)))
    )


def ner_batches(preprocessor, sentences, tags, batch_size=32):
    """Preprocessed batches of DEMO sentences with their piece tag ids."""
    encode = LabelEncoder(NER_TAGS)
    return (
        tf.data.Dataset.from_tensor_slices((tf.ragged.constant(sentences), tf.ragged.constant(tags)))
        .ragged_batch(batch_size)
        .map(lambda words, word_tags: preprocessor(words, encode(word_tags)))
    )


def sentiment_preprocessor():
    """A dynamic-padding preprocessor with every piece of the DEMO reviews."""
    return ClassificationPreprocessor(
        learn_vocabulary(demo_sentiment(1200, seed=0)[0], 115), sequence_length=24,
        dynamic_padding=True,
    )


def sentiment_classifier(preprocessor, num_layers=2, hidden_dim=32, dropout=0.0):
    """A fresh DEMO sentiment classifier over our encoder."""
    return TextClassifier(
        TransformerEncoder(
            len(preprocessor.vocabulary), num_layers=num_layers, hidden_dim=hidden_dim,
            max_length=24,
        ),
        labels=SENTIMENT_LABELS,
        dropout=dropout,
    )


def ner_preprocessor():
    """A preprocessor with every piece of the DEMO NER sentences."""
    sentences = demo_ner(600, seed=0)[0]
    return TokenClassificationPreprocessor(
        learn_vocabulary([" ".join(words) for words in sentences], 129), sequence_length=32
    )


def ner_tagger(preprocessor, hidden_dim=32):
    """A fresh one-layer DEMO NER tagger over our encoder."""
    return TokenClassifier(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=hidden_dim, max_length=32),
        labels=NER_TAGS,
    )


def int32_masks(batches):
    """`batches` with int32 padding masks: Keras' fit under several replicas
    averages the first batch to build the model, which fails on booleans
    (as `trainers.inputs` notes)."""
    return batches.map(
        lambda features, labels: (
            {**features, "padding_mask": tf.cast(features["padding_mask"], tf.int32)},
            labels,
        )
    )
