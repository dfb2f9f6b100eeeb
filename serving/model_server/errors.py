"""The one mapping of request failures to gRPC status codes and HTTP statuses.

Every failure the server reports is a `ServingError`: a gRPC status code plus a
message that names what was wrong. The gRPC service aborts the call with that
code; the REST service answers with TensorFlow Serving's HTTP status for the
code (`http_status`, the table of `ToHTTPStatusCode` in TF Serving's
`http_server.cc`) and a `{"error": "..."}` body.

Which code a failure gets follows TensorFlow Serving, API by API:
- NOT_FOUND: unknown model, version not loaded (`Servable not found for
  request: ...`), GetModelStatus of an unknown model/version.
- INVALID_ARGUMENT: malformed requests (JSON, base64, tensor names, dtypes,
  shapes, empty inputs), unknown version labels, unknown signatures for
  Classify/Regress/MultiInference and REST Predict.
- FAILED_PRECONDITION: unknown signature for gRPC Predict, a signature of the
  wrong kind, labels pointing at unavailable versions.
- UNAVAILABLE: the batching queue of a model is full (TF's batch scheduler
  answers `The batch scheduling queue to which this task was submitted is full`
  with UNAVAILABLE, which TF Serving passes through).
- DEADLINE_EXCEEDED: a request waited past its deadline for a batch slot.
- Errors raised by the TensorFlow runtime keep the code TensorFlow gave them.
"""

import grpc
import tensorflow as tf

_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# tensorflow.error.Code and grpc.StatusCode share their numbers.
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failure with the gRPC status code TF Serving would give it.

    Args:
        code: a `grpc.StatusCode`.
        message: what was wrong, naming the offending field or value.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        """The HTTP status TF Serving's REST API answers for this code."""
        return _HTTP_STATUS[self.code]

    @property
    def code_number(self):
        """The `tensorflow.error.Code` number, as carried by `StatusProto`."""
        return self.code.value[0]

    def __str__(self):
        return f"{self.code.name}: {self.message}"


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message):
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unavailable(message):
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def deadline_exceeded(message):
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def unknown(message):
    return ServingError(grpc.StatusCode.UNKNOWN, message)


def data_loss(message):
    return ServingError(grpc.StatusCode.DATA_LOSS, message)


def unimplemented(message):
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


def internal(message):
    return ServingError(grpc.StatusCode.INTERNAL, message)


def from_exception(exception):
    """The `ServingError` for any exception raised while serving a request.

    A `ServingError` is returned as is, a TensorFlow `OpError` keeps its code
    and message, and anything else is an INTERNAL error (a bug of the server,
    never of the request).
    """
    if isinstance(exception, ServingError):
        return exception
    if isinstance(exception, tf.errors.OpError):
        return ServingError(_CODE_BY_NUMBER[exception.error_code], exception.message)
    return internal(f"{type(exception).__name__}: {exception}")


def shape_text(shape):
    """A shape as TensorFlow's TensorShape::DebugString and TF Serving's ShapeToString write
    it: [2,3]."""
    return "[" + ",".join(str(size) for size in shape) + "]"
