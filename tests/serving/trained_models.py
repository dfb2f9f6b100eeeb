"""Small task models trained briefly on DEMO data, for the serving tests to export."""

import tensorflow as tf

from keras_simpletf.data import SENTIMENT_LABELS, demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier
from keras_simpletf.text import ClassificationPreprocessor, LabelEncoder, learn_vocabulary


def sentiment_classifier(examples=600, sequence_length=24):
    """`(classifier, preprocessor)`: a one-layer classifier after one epoch on DEMO reviews."""
    texts, labels = demo_sentiment(examples)
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 115), sequence_length)
    encode = LabelEncoder(SENTIMENT_LABELS)
    classifier = TextClassifier(
        TransformerEncoder(
            len(preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=sequence_length
        ),
        labels=SENTIMENT_LABELS,
    )
    classifier.compile("adam", classifier.default_loss())
    classifier.fit(
        tf.data.Dataset.from_tensor_slices((texts, labels))
        .batch(32)
        .map(lambda text, label: (preprocessor(text), encode(label))),
        epochs=1,
        verbose=0,
    )
    return classifier, preprocessor
