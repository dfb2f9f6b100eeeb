"""Simplified Transformer layers for Keras 3."""

from keras_simpletf.layers.attention import SimpleAttention
from keras_simpletf.layers.blocks import DecoderBlock, EncoderBlock
from keras_simpletf.layers.feedforward import FeedForward
from keras_simpletf.layers.pooling import MaskedGlobalMaxPooling1D
from keras_simpletf.layers.position import SinusoidalPositionEncoding
from keras_simpletf.layers.residual import Residual
from keras_simpletf.layers.stacks import TransformerDecoder, TransformerEncoder

__all__ = [
    "DecoderBlock",
    "EncoderBlock",
    "FeedForward",
    "MaskedGlobalMaxPooling1D",
    "Residual",
    "SimpleAttention",
    "SinusoidalPositionEncoding",
    "TransformerDecoder",
    "TransformerEncoder",
]
