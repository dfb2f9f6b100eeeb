"""Data: demo-data generators (readers for standard formats come next)."""

from keras_simpletf.data.demo import SENTIMENT_LABELS, demo_sentiment
