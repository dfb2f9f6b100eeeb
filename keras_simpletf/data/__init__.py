"""Data: streaming readers for standard formats, tag schemes, DEMO-data generators."""

from keras_simpletf.data.classification import iter_classification, read_classification
from keras_simpletf.data.conll import iter_conll, read_conll
from keras_simpletf.data.demo import NER_TAGS, SENTIMENT_LABELS, demo_ner, demo_sentiment
from keras_simpletf.data.errors import DataError
from keras_simpletf.data.tag_schemes import TagSchemeError, to_iob2
