"""keras-simpletf: simplified Transformers for Keras 3 on TensorFlow.

Importing the package registers its layers and models with Keras (so `.keras`
files load without `custom_objects`) and sets nothing global: no backend
switch, no dtype policy.
"""

from keras_simpletf import data, distillation, layers, metrics, models, text

__version__ = "0.1.0"
