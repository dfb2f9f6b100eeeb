"""TensorProto <-> numpy for the gRPC API, encoded as TF Serving encodes them.

Request tensors may use the typed value fields or `tensor_content`; fewer
values than the shape holds repeat the last one, as in TensorFlow
(`tf.make_ndarray`). Response tensors use the typed value fields
(`float_val`, `int64_val`, `string_val`, ...) like TF Serving's
`Tensor::AsProtoField`, so clients that read `outputs["y"].float_val` work;
dtypes without such a field fall back to `tensor_content`.
"""

import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving.model_server import errors
from serving.model_server.servables import tensor_dtype

_VALUE_FIELDS = {
    tf.float32: "float_val",
    tf.float64: "double_val",
    tf.int32: "int_val",
    tf.int16: "int_val",
    tf.int8: "int_val",
    tf.uint8: "int_val",
    tf.uint16: "int_val",
    tf.int64: "int64_val",
    tf.uint32: "uint32_val",
    tf.uint64: "uint64_val",
    tf.bool: "bool_val",
    tf.string: "string_val",
}


def to_ndarray(alias, proto):
    """The numpy array of a request's TensorProto; INVALID_ARGUMENT naming `alias` if it is malformed."""
    try:
        return tf.make_ndarray(proto)
    except Exception as error:
        raise errors.invalid_argument(f"tensor parsing error: {alias}: {error}") from error


def to_tensor_proto(array):
    """The TensorProto of a response's numpy array."""
    dtype = tensor_dtype(array)
    field = _VALUE_FIELDS.get(dtype)
    if field is None:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(
        dtype=dtype.as_datatype_enum, tensor_shape=tf.TensorShape(array.shape).as_proto()
    )
    getattr(proto, field).extend(array.reshape(-1).tolist())
    return proto
