"""Task models: text classification, NER, question answering, recommendation and sequence to sequence over our layers or a pretrained BERT."""

from keras_simpletf.models.backbones import bert_vocabulary, load_bert_backbone, minilm_preset
from keras_simpletf.models.classifier import TextClassifier
from keras_simpletf.models.fine_tuning import (
    WarmupInverseSquareRootDecay,
    WarmupLinearDecay,
    averaging_momentum,
    fine_tuning_optimizer,
    transformer_optimizer,
)
from keras_simpletf.models.masked_lm import MaskedLanguageModel, masked_lm_dataset, pretrain_masked_lm
from keras_simpletf.models.question_answering import SpanQuestionAnswerer, answer_spans
from keras_simpletf.models.recommendation import (
    EASE,
    IdTwoTowerRetrieval,
    MostPopularItems,
    SequentialRetrieval,
    TextRanker,
    TextTwoTowerRetrieval,
)
from keras_simpletf.models.seq2seq import LabelSmoothedCrossEntropy, Seq2SeqTransformer, TokenAccuracy
from keras_simpletf.models.tfidf import ProbabilityAverage, TfidfLogits, fit_tfidf_logits
from keras_simpletf.models.token_classifier import TokenClassifier
