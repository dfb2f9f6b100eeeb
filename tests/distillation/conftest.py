"""The trained DEMO teacher the distillation tests share (trained in seconds)."""

import keras
import pytest

from keras_simpletf.data import demo_sentiment
from tests.distillation.demo_models import (
    sentiment_batches,
    sentiment_classifier,
    sentiment_preprocessor,
)


@pytest.fixture(scope="module")
def sentiment_teacher():
    """A 2-layer, width-32 sentiment classifier (90% accurate) and its preprocessor."""
    keras.utils.set_random_seed(0)
    texts, labels = demo_sentiment(1200, seed=0)
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    teacher.compile(keras.optimizers.AdamW(3e-3), teacher.default_loss())
    teacher.fit(sentiment_batches(preprocessor, texts, labels).shuffle(40, seed=0), epochs=3, verbose=0)
    return teacher, preprocessor
