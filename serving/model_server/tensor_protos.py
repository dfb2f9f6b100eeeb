"""TensorProto <-> numpy for the gRPC API, encoded as TF Serving encodes them.

Request tensors may use the typed value fields or `tensor_content`, and are
checked before anything is allocated, as TensorFlow's `Tensor::FromProto`
checks them: `tensor_content` must hold exactly the bytes of the declared
shape, a value field no more values than the shape holds, and a shape may
have at most `MAX_RANK` dimensions, numpy's limit (TensorFlow's is 254).
Fewer values than the shape holds repeat the last one (none: zeros), as in
TensorFlow, but only up to `MAX_FILLED_BYTES`: a ~30-byte proto declaring a
billion elements is refused instead of filled. A request tensor whose value field holds exactly its
elements becomes an array directly (the common case: a client's strings);
every other goes through `tf.make_ndarray`. Response tensors use the typed value fields
(`float_val`, `int64_val`, `string_val`, ...) like TF Serving's
`Tensor::AsProtoField`, so clients that read `outputs["y"].float_val` work;
dtypes without such a field fall back to `tensor_content`.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving.model_server import errors

MAX_FILLED_BYTES = 64 * 2**20  # largest tensor made by repeating fewer values than it holds
MAX_RANK = 64  # the most dimensions a numpy array has (NPY_MAXDIMS)

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


# Request-only dtypes: the field their values are read from, and the entries per element.
_REQUEST_VALUE_FIELDS = {
    **{dtype: (field, 1) for dtype, field in _VALUE_FIELDS.items()},
    tf.float16: ("half_val", 1),
    tf.bfloat16: ("half_val", 1),
    tf.complex64: ("scomplex_val", 2),
    tf.complex128: ("dcomplex_val", 2),
}
_STRING_ELEMENT_BYTES = 8  # a numpy object array holds one pointer per string

# DataType enums whose `_VALUE_FIELDS` field holds one entry per element, in the dtype's own
# numpy type: (field, numpy type).
_DIRECT_FIELDS = {
    dtype.as_datatype_enum: (_VALUE_FIELDS[dtype], dtype.as_numpy_dtype)
    for dtype in (tf.string, tf.float32, tf.float64, tf.int32, tf.int64, tf.bool)
}


def tensor_dtype(array):
    """The TensorFlow dtype of a numpy array (object and bytes arrays hold strings)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return tf.string
    return tf.as_dtype(array.dtype)


def _parsing_error(alias, message):
    return errors.invalid_argument(f"tensor parsing error: {alias}: {message}")


def _checked(alias, proto):
    """The proto's (dtype, shape); INVALID_ARGUMENT unless its content fills the shape (see module doc)."""
    if proto.tensor_shape.unknown_rank:
        raise _parsing_error(alias, "tensor_shape has unknown rank")
    shape = [dim.size for dim in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise _parsing_error(alias, f"tensor_shape {shape} has a negative dimension")
    if len(shape) > MAX_RANK:
        raise _parsing_error(
            alias, f"tensor_shape has {len(shape)} dimensions, more than the {MAX_RANK} supported"
        )
    try:
        dtype = tf.as_dtype(proto.dtype)
    except TypeError as error:
        raise _parsing_error(alias, f"dtype {proto.dtype} is not a DataType") from error
    if dtype not in _REQUEST_VALUE_FIELDS:
        raise _parsing_error(alias, f"dtype {dtype.name} is not supported in requests")
    count = math.prod(shape)
    element_bytes = _STRING_ELEMENT_BYTES if dtype == tf.string else dtype.size
    if proto.tensor_content:
        if dtype == tf.string:
            raise _parsing_error(alias, "a string tensor cannot use tensor_content")
        if len(proto.tensor_content) != count * element_bytes:
            raise _parsing_error(
                alias,
                f"tensor_content holds {len(proto.tensor_content)} bytes; shape {shape} of "
                f"{dtype.name} needs {count * element_bytes}",
            )
        return dtype, shape
    field, entries_per_element = _REQUEST_VALUE_FIELDS[dtype]
    values = len(getattr(proto, field)) // entries_per_element
    if values > count:
        raise _parsing_error(
            alias, f"{field} holds {values} values, more than the {count} of shape {shape}"
        )
    if values < count and count * element_bytes > MAX_FILLED_BYTES:
        raise _parsing_error(
            alias,
            f"{field} holds {values} values for shape {shape}: filling {count} elements "
            f"would take more than {MAX_FILLED_BYTES} bytes",
        )
    return dtype, shape


def to_ndarray(alias, proto):
    """The numpy array of a request's TensorProto; INVALID_ARGUMENT naming `alias` if it is malformed."""
    direct = _DIRECT_FIELDS.get(proto.dtype)
    if direct is not None and not proto.tensor_content and not proto.tensor_shape.unknown_rank:
        # A value field holding exactly the elements of a shape of no negative dimension
        # and at most MAX_RANK dimensions passes every check of `_checked`: the array is
        # built without them.
        shape = [dim.size for dim in proto.tensor_shape.dim]
        values = getattr(proto, direct[0])
        if (
            len(values) == math.prod(shape)
            and all(size >= 0 for size in shape)
            and len(shape) <= MAX_RANK
        ):
            return np.array(values, dtype=direct[1]).reshape(shape)
    _checked(alias, proto)
    try:
        return tf.make_ndarray(proto)
    except Exception as error:
        raise _parsing_error(alias, error) from error


def to_tensor_proto(array):
    """The TensorProto of a response's numpy array."""
    dtype = tensor_dtype(array)
    field = _VALUE_FIELDS.get(dtype)
    if field is None:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(array.reshape(-1).tolist())
    return proto
