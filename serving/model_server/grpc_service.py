"""The gRPC API: TF Serving's PredictionService and ModelService on one `grpc.Server`.

PredictionService: Predict, Classify, Regress, MultiInference and
GetModelMetadata. ModelService: GetModelStatus and HandleReloadConfigRequest.
Every call acquires the servable of its ModelSpec for exactly as long as it
runs, and fails by aborting with the code and message of its `ServingError`;
an unexpected exception is INTERNAL and logged, and the server carries on. The
call's gRPC deadline bounds its wait for a batch.

The server is built as TF Serving's `Server::BuildAndStart` builds it: a TCP
port on all interfaces and optionally a UNIX socket (`--grpc_socket_path`),
both with the same credentials (insecure, SSL from `--ssl_config_file`, or
ALTS); messages of up to INT32_MAX bytes; then the `--grpc_channel_arguments`
(`key=value,...`, an integer value passed as an integer), which override
those defaults.
"""

import concurrent.futures
import time

import grpc
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import message
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.model_server import errors, health
from serving.model_server.inference import check_metadata_fields
from serving.model_server.servables import DEFAULT_SIGNATURE
from serving.model_server.tensor_protos import to_ndarray, to_tensor_proto
from serving.model_server.versions import MAX_RELOAD_WAIT_SECONDS

_MAX_MESSAGE_BYTES = 2**31 - 1


def _call(context, handler):
    """Runs `handler(deadline)`; returns (response, None) or (None, ServingError)."""
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    try:
        return handler(deadline), None
    except Exception as exception:
        error = errors.from_exception(exception)
        if error.code == grpc.StatusCode.INTERNAL:
            logging.exception("Internal error while serving a gRPC call")
        return None, error


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService over a `VersionManager` and an `Inference`.

    `tensor_content` writes numeric PredictResponse tensors as TF Serving's
    `AsProtoTensorContent` does (`--enable_serialization_as_tensor_content`);
    strings keep `string_val`, which every client decodes.
    """

    def __init__(self, manager, inference, metrics, tensor_content=False):
        self._manager = manager
        self._inference = inference
        self._metrics = metrics
        self._tensor_content = tensor_content

    def _tensor_proto(self, array):
        if self._tensor_content and array.dtype != object:
            return tensor_pb2.TensorProto(
                dtype=tf.as_dtype(array.dtype).as_datatype_enum,
                tensor_shape=tf.TensorShape(array.shape).as_proto(),
                tensor_content=np.ascontiguousarray(array).tobytes(),
            )
        return to_tensor_proto(array)

    def _serve(self, api, model_name, context, handler):
        start = time.monotonic()
        response, error = _call(context, handler)
        status = "OK" if error is None else error.code.name
        self._metrics.record_request(model_name, api, "GRPC", status, time.monotonic() - start)
        if error is not None:
            context.abort(error.code, error.message)
        return response

    def Predict(self, request, context):
        def predict(deadline):
            with self._manager.acquire(request.model_spec) as servable:
                # Only the inputs the signature names are decoded; any other
                # stays a proto, for the alias check to name and refuse.
                signature = servable.signature_def(
                    request.model_spec.signature_name or DEFAULT_SIGNATURE
                )
                named = signature.inputs if signature is not None else {}
                inputs = {
                    alias: to_ndarray(alias, proto) if alias in named else proto
                    for alias, proto in request.inputs.items()
                }
                spec, outputs = self._inference.predict(
                    servable,
                    request.model_spec.signature_name,
                    inputs,
                    list(request.output_filter),
                    deadline,
                )
            response = predict_pb2.PredictResponse(model_spec=spec)
            for alias, array in outputs.items():
                response.outputs[alias].CopyFrom(self._tensor_proto(array))
            return response

        return self._serve("Predict", request.model_spec.name, context, predict)

    def Classify(self, request, context):
        def classify(deadline):
            with self._manager.acquire(request.model_spec) as servable:
                spec, result = self._inference.classify(
                    servable, request.model_spec.signature_name, request.input, deadline
                )
            return classification_pb2.ClassificationResponse(model_spec=spec, result=result)

        return self._serve("Classify", request.model_spec.name, context, classify)

    def Regress(self, request, context):
        def regress(deadline):
            with self._manager.acquire(request.model_spec) as servable:
                spec, result = self._inference.regress(
                    servable, request.model_spec.signature_name, request.input, deadline
                )
            return regression_pb2.RegressionResponse(model_spec=spec, result=result)

        return self._serve("Regress", request.model_spec.name, context, regress)

    def MultiInference(self, request, context):
        def multi_inference(deadline):
            if not request.tasks:
                raise errors.invalid_argument("MultiInferenceRequest must have at least one task.")
            with self._manager.acquire(request.tasks[0].model_spec) as servable:
                return self._inference.multi_inference(servable, request, deadline)

        model_name = request.tasks[0].model_spec.name if request.tasks else ""
        return self._serve("MultiInference", model_name, context, multi_inference)

    def GetModelMetadata(self, request, context):
        # TF Serving's GetModelMetadataImpl: the ModelSpec, then the fields
        # (ValidateGetModelMetadataRequest), then the servable.
        def metadata(deadline):
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("Missing ModelSpec")
            fields = list(request.metadata_field)
            check_metadata_fields(fields)
            with self._manager.acquire(request.model_spec) as servable:
                return self._inference.metadata(servable, fields)

        return self._serve("GetModelMetadata", request.model_spec.name, context, metadata)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """ModelService over a `VersionManager`.

    HandleReloadConfigRequest takes a ModelConfigList only, as TF Serving's
    ModelServiceImpl: any other config, an empty one included, is INVALID_ARGUMENT.
    """

    def __init__(self, manager):
        self._manager = manager

    def GetModelStatus(self, request, context):
        def status(deadline):
            if not request.HasField("model_spec"):
                raise errors.invalid_argument("Missing ModelSpec")
            return self._manager.status(request.model_spec)

        response, error = _call(context, status)
        if error is not None:
            context.abort(error.code, error.message)
        return response

    def HandleReloadConfigRequest(self, request, context):
        def reload(deadline):
            if request.config.WhichOneof("config") != "model_config_list":  # an empty one included
                raise errors.invalid_argument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported"
                )
            limit = time.monotonic() + MAX_RELOAD_WAIT_SECONDS
            self._manager.reload_config(
                request.config, limit if deadline is None else min(deadline, limit)
            )
            return model_management_pb2.ReloadConfigResponse(status={"error_code": 0})

        response, error = _call(context, reload)
        if error is not None:
            logging.error("ReloadConfig failed: %s", error)
            context.abort(error.code, error.message)
        return response


# What an undecodable request becomes; the method handler refuses it.
_UNDECODABLE = object()


def _decoder(deserialize):
    """A request deserializer that never fails: an undecodable message becomes `_UNDECODABLE`.

    grpcio keeps about 19 KB of every call whose deserializer raises or returns
    None (grpcio 1.85, as tests/serving/test_fuzz.py found), so garbage sent in
    a loop would grow the server without bound; a call aborted by its method
    handler keeps nothing.
    """

    def decode(data):
        try:
            return deserialize(data)
        except message.DecodeError:
            return _UNDECODABLE

    return decode


def _refusing_undecodable(method):
    def handle(request, context):
        if request is _UNDECODABLE:  # answered as grpcio answers an undecodable request
            context.abort(grpc.StatusCode.INTERNAL, "Exception deserializing request!")
        return method(request, context)

    return handle


class _TolerantHandler(grpc.GenericRpcHandler):
    """A generic handler's methods, with deserializers that never raise (see `_decoder`)."""

    def __init__(self, handler):
        self._handler = handler
        self._method_handlers = {}  # only methods that exist: clients choose the names

    def service(self, handler_call_details):
        method = handler_call_details.method
        if method not in self._method_handlers:
            method_handler = self._handler.service(handler_call_details)
            if method_handler is None:
                return None
            self._method_handlers[method] = method_handler._replace(
                request_deserializer=_decoder(method_handler.request_deserializer),
                unary_unary=_refusing_undecodable(method_handler.unary_unary),
            )
        return self._method_handlers[method]


class _TolerantServer:
    """What a generated `add_*Servicer_to_server` registers with, passing on `_TolerantHandler`s."""

    def __init__(self, server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers):
        self._server.add_generic_rpc_handlers(tuple(_TolerantHandler(h) for h in handlers))


def create_server(
    port,
    manager,
    inference,
    metrics,
    max_threads,
    socket_path="",
    channel_arguments=(),
    credentials=None,
    health_check=False,
    tensor_content=False,
):
    """A gRPC server with both services (not yet started).

    Args:
        port: the TCP port, on all interfaces; 0 for none.
        max_threads: the threads handling calls (`--grpc_max_threads`).
        socket_path: a UNIX socket to listen on as well, or empty.
        channel_arguments: (key, value) gRPC server options, applied last.
        credentials: `grpc.ServerCredentials`, or None for insecure ports.
        health_check: also serve `grpc.health.v1.Health` (`--enable_grpc_healthcheck_service`).
        tensor_content: write numeric Predict outputs as `tensor_content`.
    """
    options = {
        "grpc.max_receive_message_length": _MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": _MAX_MESSAGE_BYTES,
    }
    options.update(channel_arguments)
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="grpc"),
        options=list(options.items()),
    )
    tolerant = _TolerantServer(server)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, inference, metrics, tensor_content), tolerant
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), tolerant)
    if health_check:
        health.add_health_service(tolerant)
    addresses = ([f"0.0.0.0:{port}"] if port else []) + (
        [f"unix:{socket_path}"] if socket_path else []
    )
    for address in addresses:
        if credentials is None:
            server.add_insecure_port(address)
        else:
            server.add_secure_port(address, credentials)
    return server
