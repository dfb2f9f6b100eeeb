"""Task models over a backbone (our TransformerEncoder, later a pretrained BERT)."""

from keras_simpletf.models.classifier import TextClassifier
