"""Task models: text classification, NER and recommendation over our encoder or a pretrained BERT."""

from keras_simpletf.models.backbones import bert_vocabulary, load_bert_backbone, minilm_preset
from keras_simpletf.models.classifier import TextClassifier
from keras_simpletf.models.fine_tuning import WarmupLinearDecay, fine_tuning_optimizer
from keras_simpletf.models.recommendation import (
    EASE,
    IdTwoTowerRetrieval,
    MostPopularItems,
    SequentialRetrieval,
    TextRanker,
    TextTwoTowerRetrieval,
)
from keras_simpletf.models.token_classifier import TokenClassifier
