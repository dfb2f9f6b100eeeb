"""JSON <-> tensors and tf.Examples for the REST API, exactly as TF Serving's json_tensor does it.

Predict requests hold either `"instances"` (row format: a list with one entry
per example; with several inputs each entry is an object keyed by input name)
or `"inputs"` (columnar format: one value or list for a single input, an object
keyed by input name otherwise), plus an optional `"signature_name"`. Values are
converted to the dtype the signature declares: numbers must convert without
loss (`Cannot convert JSON value: ... to float without loss of precision`),
integers must be integers, strings are UTF-8 text or `{"b64": "..."}` for
binary data. Nested lists must be dense, and a tensor may have at most
`MAX_RANK` dimensions (numpy's limit).

Responses mirror the request: `{"predictions": [...]}` for the row format (a
list of values, or of objects when there are several outputs) and
`{"outputs": ...}` for the columnar one. Floats are written in their shortest
form that reads back to the same float32/float64, whole numbers with a `.0`,
non-finite ones as `NaN`/`Infinity`; string outputs whose name ends in `_bytes`
are written as `{"b64": "..."}`, other strings as text (bytes that are not
UTF-8 become U+FFFD, where TF Serving would write invalid JSON). Outputs of
other dtypes than TF Serving writes (float, double, bool, string and the
integers but uint16) are INVALID_ARGUMENT, `Failed to write JSON value for
tensor type: half`, as in TF Serving.

Classify and Regress requests hold `"examples"` (a list of objects, one per
tf.Example, each feature a value or list of strings, `{"b64": ...}`, integers
or floats) and an optional `"context"` example; the responses are
`{"results": [[[label, score], ...], ...]}` and `{"results": [value, ...]}`.

Every error is INVALID_ARGUMENT (UNIMPLEMENTED for input dtypes JSON cannot
carry) with TF Serving's message, which names the input, element and value at
fault.
"""

import base64
import binascii
import json
import math

import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import input_pb2

from serving.model_server import errors
from serving.model_server.tensor_protos import MAX_RANK, tensor_dtype

ROW = "row"
COLUMNAR = "columnar"
_SHOWN_CHARS = 256  # longest JSON value quoted in an error message
_MAX_DIGITS = {np.float32: 9, np.float64: 17}  # digits that always round-trip
# The integer dtypes TF Serving's JSON writer (json_tensor.cc AddSingleValueAndAdvance)
# writes: all but uint16.
_INTEGER_OUTPUTS = (tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint32, tf.uint64)


def _show(value):
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _dtype_name(dtype):
    return types_pb2.DataType.Name(dtype.as_datatype_enum)[len("DT_") :].lower()


def _type_error(value, dtype):
    return errors.invalid_argument(
        f"JSON Value: {_show(value)} Type: {_json_type(value)} is not of expected type: {_dtype_name(dtype)}"
    )


def _lossy_error(value, target):
    return errors.invalid_argument(
        f"Cannot convert JSON value: {_show(value)} to {target} without loss of precision."
    )


def parse(body):
    """The JSON object of a request body.

    Args:
        body: the request body, bytes.
    """
    if not body.strip():
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise errors.invalid_argument(f"JSON Parse error: {error}") from error
    except RecursionError as error:
        raise errors.invalid_argument(
            "JSON Parse error: the document is nested too deeply"
        ) from error
    if not isinstance(document, dict):
        raise errors.invalid_argument(f"JSON Value: {_show(document)} Is not object")
    return document


def signature_name(document):
    """The request's optional `signature_name` ("" when absent)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {_show(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def _utf8(text):
    return text.encode("utf-8", errors="surrogatepass")  # JSON may escape lone surrogates


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value):
    if not _is_b64(value):
        raise errors.invalid_argument(
            f"JSON Value: {_show(value)} not formatted correctly for base64 data"
        )
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise errors.invalid_argument(f"Unable to base64 decode: {_show(value)}") from error


def _is_lossless(value, dtype):
    if isinstance(value, float) and not math.isfinite(value):
        return True
    info = np.finfo(dtype.as_numpy_dtype)
    if isinstance(value, int):
        return abs(value) <= 2 ** (info.nmant + 1) - 1
    return float(info.min) <= value <= float(info.max)


def _scalar(value, dtype):
    """One JSON leaf as a value of `dtype`."""
    if dtype == tf.string:
        if isinstance(value, dict):
            return _decode_b64(value)
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return _utf8(value)
    if isinstance(value, dict):
        raise _type_error(value, dtype)
    if dtype == tf.bool:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype in (tf.float32, tf.float64):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        if not _is_lossless(value, dtype):
            raise _lossy_error(value, "float" if dtype == tf.float32 else "double")
        return value
    if dtype.is_integer:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not dtype.min <= value <= dtype.max
        ):
            raise _type_error(value, dtype)
        return value
    raise errors.unimplemented(
        f"Conversion of JSON Value: {_show(value)} to type: {_dtype_name(dtype)}"
    )


def _dense_shape(value):
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value, level, shape, dtype, flat):
    if not isinstance(value, list):
        if level != len(shape):
            raise errors.invalid_argument(
                f"JSON Value: {_show(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        flat.append(_scalar(value, dtype))
        return
    if level >= len(shape):
        raise errors.invalid_argument(
            f"Encountered list at unexpected level: {level} expected < {len(shape)}"
        )
    if len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    for element in value:
        _flatten(element, level + 1, shape, dtype, flat)


def _array(flat, shape, dtype):
    if dtype == tf.string:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.array(flat, dtype=dtype.as_numpy_dtype).reshape(shape)


def _check_rank(name, rank):
    """INVALID_ARGUMENT naming input `name` if its tensor would have over `MAX_RANK` dimensions."""
    if rank > MAX_RANK:
        raise errors.invalid_argument(
            f"Input: {name} has {rank} dimensions, more than the {MAX_RANK} supported"
        )


def _tensor(value, shape, dtype):
    """A dense JSON value (scalar or nested lists) of `shape` as a numpy array of `dtype`."""
    flat = []
    _flatten(value, 0, shape, dtype, flat)
    return _array(flat, shape, dtype)


def _from_instances(instances, dtypes):
    if not isinstance(instances, list):
        raise errors.invalid_argument("Expecting 'instances' to be an list/array")
    if not instances:
        raise errors.invalid_argument("No values in 'instances' array")

    def is_object(value):
        return isinstance(value, dict) and not _is_b64(value)

    if not isinstance(instances[0], dict) and len(dtypes) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            f"required as per tensorinfo_map: {','.join(sorted(dtypes))}"
        )
    named = is_object(instances[0])
    flats = {}
    shapes = {}

    def add(name, value):
        # TF Serving's AddInstanceItem: an instance's element count, then its
        # shape, must be those of the input's first instance.
        if name not in dtypes:
            raise errors.invalid_argument(f"JSON object: does not have named input: {name}")
        shape = _dense_shape(value)
        _check_rank(name, len(shape) + 1)
        flat = []
        _flatten(value, 0, shape, dtypes[name], flat)
        if name in shapes:
            size = math.prod(shapes[name])
            if len(flat) != size:
                raise errors.invalid_argument(
                    f"Expecting tensor size: {size} but got: {len(flat)}"
                )
            if shapes[name] != shape:
                raise errors.invalid_argument(
                    f"Expecting shape {errors.shape_text(shapes[name])} but got: "
                    f"{errors.shape_text(shape)}"
                )
        shapes[name] = shape
        flats.setdefault(name, []).extend(flat)

    for index, element in enumerate(instances):
        if named:
            if not is_object(element):
                raise errors.invalid_argument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in element.items():
                try:
                    add(name, value)
                except errors.ServingError as error:
                    raise errors.invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {error.message}"
                    ) from error
            if set(element) != set(dtypes):
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_show(element)} must only have keys: {','.join(sorted(dtypes))}"
                )
        else:
            if is_object(element):
                raise errors.invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                add(next(iter(dtypes)), element)
            except errors.ServingError as error:
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {error.message}"
                ) from error
    return {
        name: _array(flat, [len(instances)] + shapes[name], dtypes[name])
        for name, flat in flats.items()
    }


def _from_inputs(inputs, dtypes):
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(dtypes) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                f"required as per tensorinfo_map: {','.join(sorted(dtypes))}"
            )
        named_values = {next(iter(dtypes)): inputs}
    else:
        for name in sorted(dtypes):
            if name not in inputs:
                raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        named_values = {name: inputs[name] for name in dtypes}
    tensors = {}
    for name, value in named_values.items():
        shape = _dense_shape(value)
        _check_rank(name, len(shape))
        try:
            tensors[name] = _tensor(value, shape, dtypes[name])
        except errors.ServingError as error:
            raise errors.ServingError(error.code, f"{error.message} (input: {name})") from error
    return tensors


def predict_inputs(document, signature_inputs):
    """The input tensors of a predict request, and its format (ROW or COLUMNAR).

    Args:
        document: the parsed request.
        signature_inputs: the signature's map of input alias to TensorInfo.
    """
    dtypes = {alias: tf.as_dtype(info.dtype) for alias, info in signature_inputs.items()}
    if "instances" in document and "inputs" in document:
        raise errors.invalid_argument(
            f"JSON Value: {_show(document)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist"
        )
    if "instances" in document:
        return _from_instances(document["instances"], dtypes), ROW
    if "inputs" in document:
        return _from_inputs(document["inputs"], dtypes), COLUMNAR
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def _float_text(value, dtype):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    if dtype(text) != dtype(value):
        text = f"{value:.{_MAX_DIGITS[dtype]}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _leaf_writer(name, array):
    dtype = tensor_dtype(array)
    if dtype in (tf.float32, tf.float64):
        float_type = array.dtype.type
        return lambda value: _float_text(value, float_type)
    if dtype == tf.bool:
        return lambda value: "true" if value else "false"
    if dtype in _INTEGER_OUTPUTS:
        return str
    if dtype != tf.string:
        raise errors.invalid_argument(
            f"Failed to write JSON value for tensor type: {_dtype_name(dtype)}"
        )
    if name.endswith("_bytes"):
        return lambda value: json.dumps({"b64": base64.b64encode(value).decode("ascii")})
    return lambda value: json.dumps(value.decode("utf-8", errors="replace"), ensure_ascii=False)


def _renderer(name, array):
    """A function writing the JSON of (nested lists of) values taken from the output `array`."""
    write = _leaf_writer(name, array)

    def render(value):
        if isinstance(value, list):
            return "[" + ",".join(render(element) for element in value) + "]"
        return write(value)

    return render


def predict_response(outputs, request_format):
    """The JSON body answering a predict request in `request_format`."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    render = {name: _renderer(name, outputs[name]) for name in names}
    if request_format == COLUMNAR:
        values = {name: render[name](outputs[name].tolist()) for name in names}
        if len(names) == 1:
            return f'{{"outputs": {values[names[0]]}}}'
        return (
            '{"outputs": {'
            + ",".join(f"{json.dumps(name)}: {values[name]}" for name in names)
            + "}}"
        )
    batch_size = None
    for name in names:
        array = outputs[name]
        if array.ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {name} has no shape information ")
        if array.shape[0] < 1:
            raise errors.invalid_argument(
                f"Tensor name: {name} has invalid batch size: {array.shape[0]}"
            )
        if batch_size is not None and array.shape[0] != batch_size:
            raise errors.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch_size}"
            )
        batch_size = array.shape[0]
    items = {name: outputs[name].tolist() for name in names}
    rows = []
    for index in range(batch_size):
        values = {name: render[name](items[name][index]) for name in names}
        if len(names) == 1:
            rows.append(values[names[0]])
        else:
            rows.append(
                "{" + ",".join(f"{json.dumps(name)}: {values[name]}" for name in names) + "}"
            )
    return '{"predictions": [' + ",".join(rows) + "]}"


def _feature_kind_error(name, feature):
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}[
        feature.WhichOneof("kind")
    ]
    return errors.invalid_argument(
        f"Unexpected element type in feature: {name} expecting type: {kind}"
    )


def _add_to_feature(value, name, feature):
    def values_of(kind):
        if feature.WhichOneof("kind") not in (None, kind):
            raise _feature_kind_error(name, feature)
        return getattr(feature, kind).value

    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64(value)):
        raise errors.invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}"
        )
    if isinstance(value, bool):
        values_of("int64_list").append(int(value))
    elif isinstance(value, dict):
        values_of("bytes_list").append(_decode_b64(value))
    elif isinstance(value, str):
        values_of("bytes_list").append(_utf8(value))
    elif isinstance(value, float):
        values = values_of("float_list")
        if not _is_lossless(value, tf.float32):
            raise _lossy_error(value, "float")
        values.append(value)
    else:
        values = values_of("int64_list")
        if not -(2**63) <= value < 2**63:
            raise errors.invalid_argument(
                f"Feature: {name} has uint64 element. Only int64 is supported."
            )
        values.append(value)


def _example(value):
    if not isinstance(value, dict):
        raise errors.invalid_argument(
            f"Example must be JSON object but got JSON {_json_type(value)}"
        )
    example = example_pb2.Example()
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for element in content if isinstance(content, list) else [content]:
            _add_to_feature(element, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def examples_input(document):
    """The `tensorflow.serving.Input` of a classify or regress request."""
    request_input = input_pb2.Input()
    examples = document.get("examples")
    if examples is None:
        raise errors.invalid_argument(
            f"JSON Value: {_show(document)} key 'examples' is expected and was not found"
        )
    if not isinstance(examples, list):
        raise errors.invalid_argument(
            f"JSON Value: {_show(document)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise errors.invalid_argument(
            f"JSON Value: {_show(document)} 'examples' value is an empty array"
        )
    if "context" in document:
        with_context = request_input.example_list_with_context
        with_context.context.CopyFrom(_example(document["context"]))
        with_context.examples.extend(_example(value) for value in examples)
    else:
        request_input.example_list.examples.extend(_example(value) for value in examples)
    return request_input


def classify_response(result):
    """The JSON body of a ClassificationResult: `{"results": [[[label, score], ...], ...]}`."""
    if not result.classifications:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = (
        "["
        + ",".join(
            f"[{json.dumps(cls.label, ensure_ascii=False)}, {_float_text(cls.score, np.float32)}]"
            for cls in classifications.classes
        )
        + "]"
        for classifications in result.classifications
    )
    return '{"results": [' + ",".join(rows) + "]}"


def regress_response(result):
    """The JSON body of a RegressionResult: `{"results": [value, ...]}`."""
    if not result.regressions:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return (
        '{"results": ['
        + ",".join(_float_text(r.value, np.float32) for r in result.regressions)
        + "]}"
    )
