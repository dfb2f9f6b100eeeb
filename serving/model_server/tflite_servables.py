"""TensorFlow Lite versions, for `--prefer_tflite_model`: TF Serving's TfLiteSession.

With the flag, a version directory holding `model.tflite` is served from it
instead of from `saved_model.pb` (a directory without one still loads its
SavedModel, as TF Serving falls back). Its SignatureDefs are the model's own
signatures when it has them; a model converted without any gets one
`serving_default` signature whose aliases are its input and output tensor
names, as TfLiteSession builds it. Inputs are resized to what each request
sends. One interpreter serves each version, one call at a time (TF Serving
keeps pools of them: `--num_tflite_pools` and
`--num_tflite_interpreters_per_pool` are not honoured); MultiInference, which
runs a graph's tensors by name, is UNIMPLEMENTED.
"""

import os
import threading

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from serving.model_server import errors
from serving.model_server.servables import DEFAULT_SIGNATURE, PREDICT_METHOD

TFLITE_FILE = "model.tflite"


def has_tflite_model(path):
    """Whether the version directory `path` holds a TensorFlow Lite model."""
    return tf.io.gfile.exists(os.path.join(path, TFLITE_FILE))


def _tensor_info(detail):
    dtype = tf.as_dtype(detail["dtype"]).as_datatype_enum
    info = meta_graph_pb2.TensorInfo(name=detail["name"], dtype=dtype)
    shape = [None if size < 0 else int(size) for size in detail["shape_signature"]]
    info.tensor_shape.CopyFrom(tf.TensorShape(shape).as_proto())
    return info


def _signature_def(input_details, output_details):
    signature = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for alias, detail in input_details.items():
        signature.inputs[alias].CopyFrom(_tensor_info(detail))
    for alias, detail in output_details.items():
        signature.outputs[alias].CopyFrom(_tensor_info(detail))
    return signature


class TfLiteServable:
    """A loaded TensorFlow Lite version, with the interface of `servables.Servable`.

    Args:
        name: the model's name.
        version: the version number.
        path: the version's directory, holding `model.tflite`.
    """

    def __init__(self, name, version, path):
        self.name = name
        self.version = version
        self.path = path
        try:
            with tf.io.gfile.GFile(os.path.join(path, TFLITE_FILE), "rb") as file:
                self._interpreter = tf.lite.Interpreter(model_content=file.read())
        except ValueError as error:
            raise errors.data_loss(f"Can't load {TFLITE_FILE} at {path}: {error}") from error
        self._lock = threading.Lock()
        self._runners = {}
        self.signature_defs = {}
        for key in self._interpreter.get_signature_list():
            runner = self._interpreter.get_signature_runner(key)
            self._runners[key] = runner
            self.signature_defs[key] = _signature_def(
                runner.get_input_details(), runner.get_output_details()
            )
        if not self.signature_defs:
            self._inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
            self._outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
            self.signature_defs[DEFAULT_SIGNATURE] = _signature_def(self._inputs, self._outputs)

    def signature_def(self, signature_name):
        """The SignatureDef of a signature, or None if there is none of that name."""
        return self.signature_defs.get(signature_name)

    def _invoke(self, signature_name, inputs):
        if signature_name in self._runners:
            return self._runners[signature_name](**inputs)
        for alias, array in inputs.items():
            self._interpreter.resize_tensor_input(self._inputs[alias]["index"], array.shape)
        self._interpreter.allocate_tensors()
        for alias, array in inputs.items():
            self._interpreter.set_tensor(self._inputs[alias]["index"], array)
        self._interpreter.invoke()
        return {
            alias: self._interpreter.get_tensor(detail["index"])
            for alias, detail in self._outputs.items()
        }

    def run(self, signature_name, inputs, output_aliases=()):
        """Runs a signature on checked inputs and returns its outputs as numpy arrays."""
        try:
            with self._lock:
                outputs = self._invoke(signature_name, inputs)
        except (ValueError, RuntimeError) as error:
            raise errors.invalid_argument(
                f'signature "{signature_name}" failed on its inputs: {error}'
            ) from error
        aliases = output_aliases or self.signature_defs[signature_name].outputs
        return {alias: np.asarray(outputs[alias]) for alias in aliases}

    def run_tensors(self, feeds, fetches):
        """Tensors by name are a graph's: UNIMPLEMENTED for a TensorFlow Lite model."""
        raise errors.unimplemented("MultiInference is not supported for TensorFlow Lite models")
