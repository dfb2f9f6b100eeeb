"""Request TensorProtos decode to the arrays TensorFlow's `tf.make_ndarray` gives; responses round-trip."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from serving.model_server import errors
from serving.model_server.tensor_protos import to_ndarray, to_tensor_proto

# dtype: (value field, four values as the field holds them)
FIELDS = {
    tf.string: ("string_val", [b"a", "\u00e9".encode(), b"", b"\0z"]),
    tf.float32: ("float_val", [1.5, -0.25, 3e38, 0.0]),
    tf.float64: ("double_val", [1e300, -2.5, 0.1, 7.0]),
    tf.int32: ("int_val", [1, -(2**31), 2**31 - 1, 0]),
    tf.int64: ("int64_val", [2**62, -7, 0, 5]),
    tf.bool: ("bool_val", [True, False, False, True]),
    tf.uint8: ("int_val", [255, 0, 1, 2]),
    tf.float16: ("half_val", np.array([0.5, -1.0, 2.0, 0.0], np.float16).view(np.uint16).tolist()),
}
SHAPES = ([], [4], [2, 2], [1, 4, 1])


def _proto(dtype, shape, count):
    """A proto of `shape` whose value field holds the first `count` of the dtype's values."""
    field, values = FIELDS[dtype]
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values[:count])
    return proto


def _assert_same(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tolist() == expected.tolist()


@pytest.mark.parametrize("dtype", list(FIELDS), ids=lambda dtype: dtype.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_value_fields_decode_as_tensorflow_decodes_them(dtype, shape):
    elements = int(np.prod(shape))
    for count in sorted({0, 1, elements}):  # none (zeros), one (repeated), every element
        proto = _proto(dtype, shape, count)
        _assert_same(to_ndarray("x", proto), tf.make_ndarray(proto))


@pytest.mark.parametrize("dtype", [d for d in FIELDS if d != tf.string], ids=lambda d: d.name)
def test_tensor_content_decodes_as_tensorflow_decodes_it(dtype):
    array = tf.make_ndarray(_proto(dtype, [2, 2], 4))
    proto = _proto(dtype, [2, 2], 0)
    proto.tensor_content = array.tobytes()
    _assert_same(to_ndarray("x", proto), array)


def test_more_values_than_the_shape_holds_are_refused_naming_the_input():
    with pytest.raises(errors.ServingError, match="tensor parsing error: text: string_val holds 4"):
        to_ndarray("text", _proto(tf.string, [2], 4))


def test_negative_dimensions_are_refused_even_when_the_values_fill_their_product():
    proto = _proto(tf.float32, [2, 2], 4)
    proto.tensor_shape.dim[0].size = -2
    proto.tensor_shape.dim[1].size = -2
    with pytest.raises(errors.ServingError, match=r"tensor_shape \[-2, -2\] has a negative dimension"):
        to_ndarray("x", proto)


@pytest.mark.parametrize(
    "array",
    [
        np.array([b"positive", b"negative"], dtype=object),
        np.array([[0.25, 0.75]], dtype=np.float32),
        np.array(7, dtype=np.int64),
        np.zeros((2, 0, 3), dtype=np.float64),
        np.array([[True], [False]]),
    ],
    ids=lambda array: f"{array.dtype}{list(array.shape)}",
)
def test_response_tensors_round_trip(array):
    proto = to_tensor_proto(array)
    assert [dim.size for dim in proto.tensor_shape.dim] == list(array.shape)
    _assert_same(tf.make_ndarray(proto), array)
