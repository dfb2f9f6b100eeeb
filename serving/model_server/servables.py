"""One version of a model, loaded from a SavedModel: TF Serving's SavedModelBundle.

A `Servable` holds two views of the same SavedModel directory:
- the `SignatureDef`s of its MetaGraph tagged `serve`, read from
  `saved_model.pb` as TF Serving reads them: what GetModelMetadata returns and
  what every request's inputs are checked against (`check_inputs`);
- the callable signatures of `tf.saved_model.load`, which run them. This works
  for TF2 SavedModels (`tf.saved_model.save`, `serving_default` and friends)
  and for TF1 SavedModels (`tf.compat.v1.saved_model.Builder`), whose
  `tensorflow/serving/classify` and `regress` signatures take serialized
  `tf.Example`s under the input name `inputs`.

TensorFlow Text's ops (the WordPiece tokenizers keras_simpletf exports use)
are registered, as TensorFlow Serving's binary links them since 2.12.

Load failures carry the codes of TensorFlow's C++ SavedModel loader: NOT_FOUND
for a missing `saved_model.pb` or `serve` MetaGraph, DATA_LOSS for a file that
does not parse.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers TF Text's ops, which TF Serving's binary links too)
from google.protobuf import message, text_format
from tensorflow.core.protobuf import saved_model_pb2

from serving.model_server import errors

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def _read_saved_model(path):
    binary = os.path.join(path, "saved_model.pb")
    text = os.path.join(path, "saved_model.pbtxt")
    saved_model = saved_model_pb2.SavedModel()
    if os.path.exists(binary):
        try:
            with open(binary, "rb") as file:
                saved_model.ParseFromString(file.read())
        except message.DecodeError as error:
            raise errors.data_loss(f"Can't parse {binary} as binary proto: {error}") from error
    elif os.path.exists(text):
        try:
            with open(text, encoding="utf-8") as file:
                text_format.Parse(file.read(), saved_model)
        except (UnicodeDecodeError, text_format.ParseError) as error:
            raise errors.data_loss(f"Can't parse {text} as text proto: {error}") from error
    else:
        raise errors.not_found(
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}"
        )
    return saved_model


def read_signature_defs(path):
    """The SignatureDefs of the `serve` MetaGraph of the SavedModel at `path`."""
    for meta_graph in _read_saved_model(path).meta_graphs:
        if set(meta_graph.meta_info_def.tags) == {SERVE_TAG}:
            return dict(meta_graph.signature_def)
    raise errors.not_found(
        f"Could not find meta graph def matching supplied tags: {{ {SERVE_TAG} }} in {path}"
    )


def tensor_dtype(array):
    """The TensorFlow dtype of a numpy array (object and bytes arrays hold strings)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return tf.string
    return tf.as_dtype(array.dtype)


def _describe(inputs):
    return ", ".join(
        f"{name}: {tensor_dtype(array).name}{list(array.shape)}"
        for name, array in sorted(inputs.items())
    )


def check_inputs(signature_name, signature_def, inputs):
    """Raises INVALID_ARGUMENT unless `inputs` match the signature's names, dtypes and shapes.

    Args:
        signature_name: the signature's key, for messages.
        signature_def: its `SignatureDef`.
        inputs: dict of input alias to numpy array.
    """
    expected = set(signature_def.inputs)
    sent = set(inputs)
    if sent != expected:
        raise errors.invalid_argument(
            f'input size does not match signature "{signature_name}": {len(sent)}!={len(expected)} '
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )
    for alias, array in sorted(inputs.items()):
        info = signature_def.inputs[alias]
        expected_dtype = tf.as_dtype(info.dtype)
        if tensor_dtype(array) != expected_dtype:
            raise errors.invalid_argument(
                f'input tensor "{alias}" of signature "{signature_name}" has dtype '
                f"{tensor_dtype(array).name} but the signature expects {expected_dtype.name}"
            )
        expected_shape = tf.TensorShape(info.tensor_shape)
        if not expected_shape.is_compatible_with(array.shape):
            raise errors.invalid_argument(
                f'input tensor "{alias}" of signature "{signature_name}" has shape '
                f"{list(array.shape)} but the signature expects {expected_shape}"
            )


class Servable:
    """A loaded SavedModel version: its SignatureDefs and the functions that run them.

    Args:
        name: the model's name.
        version: the version number (the directory's name under the base path).
        path: the version's directory.
    """

    def __init__(self, name, version, path):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path)
        try:
            loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
        except tf.errors.OpError:
            raise  # TensorFlow's own code says what went wrong
        except Exception as error:
            raise errors.unknown(f"Failed to load SavedModel at {path}: {error}") from error
        self._loaded = loaded  # keeps the functions' variables alive
        self._functions = dict(loaded.signatures)

    def signature_def(self, signature_name):
        """The SignatureDef of a runnable signature, or None if there is none of that name.

        (`signature_defs` also lists entries that are no signatures to run, such
        as the `__saved_model_init_op` of TF2 SavedModels, as TF Serving's
        metadata does.)
        """
        if signature_name not in self._functions:
            return None
        return self.signature_defs[signature_name]

    def run(self, signature_name, inputs):
        """Runs a signature on checked inputs and returns its outputs as numpy arrays.

        Args:
            signature_name: a key of `signature_defs`.
            inputs: dict of input alias to numpy array, as `check_inputs` accepts.
        """
        info = self.signature_defs[signature_name].inputs
        tensors = {
            alias: tf.convert_to_tensor(array, dtype=tf.as_dtype(info[alias].dtype))
            for alias, array in inputs.items()
        }
        try:
            outputs = self._functions[signature_name](**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise errors.invalid_argument(
                f'signature "{signature_name}" failed on inputs {_describe(inputs)}: {error.message}'
            ) from error
        return {alias: np.asarray(tensor.numpy()) for alias, tensor in outputs.items()}
