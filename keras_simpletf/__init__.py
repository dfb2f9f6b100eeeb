"""keras-simpletf: simplified Transformers for Keras 3 on TensorFlow.

Importing the package sets nothing global: no backend switch, no dtype policy.
"""

from keras_simpletf import layers

__version__ = "0.1.0"
