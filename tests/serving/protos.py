"""Request protos for the serving tests, built with TF Serving's own message classes."""

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    input_pb2,
    predict_pb2,
    regression_pb2,
)


def _fill_spec(spec, model, signature=None, version=None, label=None):
    spec.name = model
    if signature is not None:
        spec.signature_name = signature
    if version is not None:
        spec.version.value = version
    if label is not None:
        spec.version_label = label


def predict_request(model, inputs, signature=None, version=None, label=None, output_filter=()):
    """A PredictRequest; `inputs` maps aliases to values for `tf.make_tensor_proto` or TensorProtos."""
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    _fill_spec(request.model_spec, model, signature, version, label)
    for alias, value in inputs.items():
        proto = value if hasattr(value, "tensor_shape") else tf.make_tensor_proto(value)
        request.inputs[alias].CopyFrom(proto)
    return request


def example_input(*xs):
    """An Input holding one tf.Example per value, with the float feature `x`."""
    request_input = input_pb2.Input()
    for x in xs:
        example = request_input.example_list.examples.add()
        example.features.feature["x"].float_list.value.append(x)
    return request_input


def classification_request(model, input_proto, signature="classify"):
    request = classification_pb2.ClassificationRequest(input=input_proto)
    _fill_spec(request.model_spec, model, signature)
    return request


def regression_request(model, input_proto, signature="regress"):
    request = regression_pb2.RegressionRequest(input=input_proto)
    _fill_spec(request.model_spec, model, signature)
    return request


def multi_inference_request(model, input_proto, *tasks):
    """A MultiInferenceRequest of (method, signature) tasks, method "classify" or "regress"."""
    request = inference_pb2.MultiInferenceRequest(input=input_proto)
    for method, signature in tasks:
        task = request.tasks.add(method_name=f"tensorflow/serving/{method}")
        _fill_spec(task.model_spec, model, signature)
    return request


def rpc_error(method, request):
    """The `grpc.RpcError` a stub method must raise for `request`."""
    with pytest.raises(grpc.RpcError) as failure:
        method(request, timeout=30)
    return failure.value


def metadata_request(model, version=None):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    _fill_spec(request.model_spec, model, version=version)
    return request


def status_request(model, version=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    _fill_spec(request.model_spec, model, version=version)
    return request
