"""Task models over a backbone: our TransformerEncoder or a pretrained keras-hub BERT."""

from keras_simpletf.models.backbones import bert_vocabulary, load_bert_backbone, minilm_preset
from keras_simpletf.models.classifier import TextClassifier
from keras_simpletf.models.fine_tuning import WarmupLinearDecay, fine_tuning_optimizer
from keras_simpletf.models.token_classifier import TokenClassifier
