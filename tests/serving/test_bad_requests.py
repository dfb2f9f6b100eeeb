"""Bad requests get TF Serving's status and a message naming the fault, and never take the server down.

Every case is followed by a valid request, which must succeed (errors.py maps
the codes; servables.py, json_tensors.py and tensor_protos.py find the faults).
"""

import base64

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer, write_model_config
from tests.serving.protos import classification_request, example_input, predict_request

TEN_MB = 10 * 1024 * 1024


def _strings(*values):
    return np.array(values, dtype=object)


def _float_tensor_with_too_few_bytes():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\0" * 8)
    proto.tensor_shape.dim.add(size=1)
    proto.tensor_shape.dim.add(size=3)
    return proto


GRPC_CASES = {
    "unknown model": (
        predict_request("nope", {"text": _strings(b"x")}),
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ),
    "unknown version": (
        predict_request("text", {"text": _strings(b"x")}, version=7),
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Specific(text, 7)",
    ),
    "unknown label": (
        predict_request("text", {"text": _strings(b"x")}, label="nope"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Unrecognized servable version label: nope",
    ),
    "unknown signature": (
        predict_request("text", {"text": _strings(b"x")}, signature="nope"),
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    ),
    "missing model name": (
        predict_request("", {"text": _strings(b"x")}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ModelSpec has no name specified.",
    ),
    "wrong tensor name": (
        predict_request("text", {"txt": _strings(b"x")}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Signature input alias: text(feed name: serving_default_text:0) not found in request",
    ),
    "empty request": (
        predict_request("text", {}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing but required: {text}.",
    ),
    "wrong dtype": (
        predict_request("text", {"text": np.array([1.0], dtype=np.float32)}),
        grpc.StatusCode.INVALID_ARGUMENT,
        'input tensor "text" of signature "serving_default" has dtype float32',
    ),
    "mismatched batch sizes": (
        predict_request(
            "text", {"a": np.ones([2], np.float32), "b": np.ones([3], np.float32)}, signature="add"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "a: float32[2], b: float32[3]",
    ),
    "malformed tensor": (
        predict_request("text", {"x": _float_tensor_with_too_few_bytes()}, signature="scale"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    ),
    "unknown output filter": (
        predict_request("text", {"text": _strings(b"x")}, output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: nope",
    ),
    # TF Serving's PreProcessPrediction checks the inputs (their number, aliases
    # and protos) before the output filter; their dtypes only the Session run checks.
    "wrong tensor name, unknown output filter": (
        predict_request("text", {"txt": _strings(b"x")}, output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Signature input alias: text(feed name: serving_default_text:0) not found in request",
    ),
    "empty request, unknown output filter": (
        predict_request("text", {}, output_filter=["nope"]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing but required: {text}.",
    ),
    "malformed tensor, unknown output filter": (
        predict_request(
            "text", {"x": _float_tensor_with_too_few_bytes()}, signature="scale", output_filter=["z"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    ),
    "wrong dtype, duplicate output filter": (
        predict_request(
            "text", {"text": np.array([1.0], np.float32)}, output_filter=["length", "length"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "duplicate output tensor alias: length",
    ),
}


@pytest.mark.parametrize("case", sorted(GRPC_CASES))
def test_bad_grpc_predict_request(main_server, case):
    request, code, message = GRPC_CASES[case]
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Predict(request, timeout=30)
    assert failure.value.code() == code
    assert message in failure.value.details()
    valid = main_server.prediction.Predict(
        predict_request("text", {"text": _strings(b"ok")}), timeout=30
    )
    assert list(valid.outputs["length"].int_val) == [2]


def test_bad_grpc_classify_requests(main_server):
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Classify(
            classification_request("examples", example_input()), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Input is empty." in failure.value.details()
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Classify(
            classification_request("examples", example_input(1.0), "regress"), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        'Expected classification signature outputs to contain at least one of "classes" or "scores"'
        in failure.value.details()
    )
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Classify(
            classification_request("text", example_input(1.0), "scale"), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    response = main_server.prediction.Classify(
        classification_request("examples", example_input(1.0)), timeout=30
    )
    assert len(response.result.classifications) == 1


def test_a_10_mb_string_is_served_over_grpc_and_rest(main_server):
    big = b"a" * TEN_MB
    response = main_server.prediction.Predict(
        predict_request("text", {"text": _strings(big, b"b")}), timeout=60
    )
    assert list(response.outputs["length"].int_val) == [TEN_MB, 1]
    status, body = main_server.rest(
        "POST", "/v1/models/text:predict", {"instances": [big.decode()]}
    )
    assert status == 200
    assert body["predictions"] == [{"length": TEN_MB, "version": 2}]


REST_CASES = {
    "malformed JSON": (
        "/v1/models/text:predict",
        b'{"instances": ["a",',
        400,
        "JSON Parse error",
    ),
    "empty body": ("/v1/models/text:predict", b"", 400, "JSON Parse error: The document is empty"),
    "not an object": ("/v1/models/text:predict", b'["a"]', 400, "Is not object"),
    "no instances or inputs": (
        "/v1/models/text:predict",
        {},
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    "empty instances": (
        "/v1/models/text:predict",
        {"instances": []},
        400,
        "No values in 'instances' array",
    ),
    "invalid base64": (
        "/v1/models/text:predict",
        {"instances": [{"b64": "not base64!"}]},
        400,
        "Unable to base64 decode",
    ),
    "unknown model": ("/v1/models/nope:predict", {"instances": ["a"]}, 404, "Servable not found"),
    "unknown label": (
        "/v1/models/text/labels/nope:predict",
        {"instances": ["a"]},
        400,
        "label: nope",
    ),
    "unknown signature": (
        "/v1/models/text:predict",
        {"signature_name": "nope", "instances": ["a"]},
        400,
        'Serving signature name: "nope" not found',
    ),
    "wrong tensor name": (
        "/v1/models/text:predict",
        {"inputs": {"txt": ["a"]}},
        400,
        "Missing named input: text in 'inputs' object.",
    ),
    "wrong instance keys": (
        "/v1/models/text:predict",
        {"signature_name": "add", "instances": [{"a": 1.0, "c": 2.0}]},
        400,
        "key: c of 'instances' list",
    ),
    "wrong dtype": (
        "/v1/models/text:predict",
        {"instances": [1]},
        400,
        "is not of expected type: string",
    ),
    "lossy float": (
        "/v1/models/text:predict",
        {"signature_name": "add", "inputs": {"a": [16777217], "b": [1]}},
        400,
        "without loss of precision",
    ),
    "ragged instances": (
        "/v1/models/text:predict",
        {"signature_name": "scale", "instances": [[1, 2, 3], [1, 2]]},
        400,
        "Failed to process element: 1 of 'instances' list. Error: "
        "Expecting tensor size: 3 but got: 2",
    ),
    "instances of one size and different shapes": (
        "/v1/models/text:predict",
        {"signature_name": "scale", "instances": [[[1, 2], [3, 4]], [[1, 2, 3, 4]]]},
        400,
        "Failed to process element: 1 of 'instances' list. Error: "
        "Expecting shape [2,2] but got: [1,4]",
    ),
    "mismatched batch sizes": (
        "/v1/models/text:predict",
        {"signature_name": "add", "inputs": {"a": [1, 2], "b": [1, 2, 3]}},
        400,
        "a: float32[2], b: float32[3]",
    ),
    "no examples": (
        "/v1/models/examples:classify",
        {"signature_name": "classify"},
        400,
        "'examples'",
    ),
    "malformed path": (
        "/v1/models/text:explode",
        {"instances": ["a"]},
        400,
        "Malformed request: POST",
    ),
}


@pytest.mark.parametrize("case", sorted(REST_CASES))
def test_bad_rest_request(main_server, case):
    path, body, http_status, message = REST_CASES[case]
    status, answer = main_server.rest("POST", path, body)
    assert status == http_status, answer
    assert set(answer) == {"error"}
    assert message in answer["error"]
    status, answer = main_server.rest("POST", "/v1/models/text:predict", {"instances": ["ok"]})
    assert status == 200, answer


def test_b64_decoding_rejects_what_is_not_base64(main_server):
    encoded = base64.b64encode(b"\xff\x00").decode()
    status, body = main_server.rest(
        "POST", "/v1/models/text:predict", {"instances": [{"b64": encoded}, {"b64": "%%%"}]}
    )
    assert status == 400
    assert "Failed to process element: 1" in body["error"]


# Output dtypes TF Serving's JSON writer refuses (json_tensor.cc AddSingleValueAndAdvance).
UNWRITABLE_OUTPUTS = ("complex64", "half", "bfloat16", "uint16")


def _write_casts_model(base_path):
    """A SavedModel with a signature `<dtype>` casting x to it, for UNWRITABLE_OUTPUTS and float32."""
    signatures = {
        name: tf.function(
            lambda x, dtype=tf.as_dtype(name): {"y": tf.cast(x, dtype)},
            input_signature=[tf.TensorSpec([None], tf.float32, name="x")],
        )
        for name in (*UNWRITABLE_OUTPUTS, "float32")
    }
    tf.saved_model.save(tf.Module(), str(base_path / "1"), signatures=signatures)


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory):
    """A server with --enable_batching serving `examples` and the casts model."""
    directory = tmp_path_factory.mktemp("batching_server")
    saved_models.write_examples_model(directory / "examples", 1)
    _write_casts_model(directory / "casts")
    server = ModelServer(
        directory,
        f"--model_config_file={write_model_config(directory, 'examples', 'casts')}",
        "--enable_batching",
    )
    try:
        server.wait_until_serving("examples")
        server.wait_until_serving("casts")
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("server_name", ["main_server", "batching_server"])
def test_a_model_error_quoting_bytes_that_are_not_utf8_is_invalid_argument(request, server_name):
    # ParseExample's error quotes the input, here the byte 0xff.
    server = request.getfixturevalue(server_name)
    status, body = server.rest(
        "POST", "/v1/models/examples:predict", {"instances": [{"b64": "/w=="}]}
    )
    assert status == 400, body
    assert "Could not parse example input, value: '\ufffd'" in body["error"]
    with pytest.raises(grpc.RpcError) as failure:
        server.prediction.Predict(
            predict_request("examples", {"inputs": _strings(b"\xff")}), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Could not parse example input, value: '\ufffd'" in failure.value.details()
    response = server.prediction.Classify(
        classification_request("examples", example_input(1.0)), timeout=30
    )
    assert len(response.result.classifications) == 1


@pytest.mark.parametrize("dtype", UNWRITABLE_OUTPUTS)
def test_an_output_json_cannot_carry_is_invalid_argument(batching_server, dtype):
    for values in ("instances", "inputs"):
        body = {"signature_name": dtype, values: [1.0]}
        status, answer = batching_server.rest("POST", "/v1/models/casts:predict", body)
        assert status == 400, answer
        assert answer == {"error": f"Failed to write JSON value for tensor type: {dtype}"}
    status, answer = batching_server.rest(
        "POST", "/v1/models/casts:predict", {"signature_name": "float32", "instances": [1.0]}
    )
    assert status == 200 and answer == {"predictions": [1.0]}, answer


def _nested(value, depth):
    for _ in range(depth):
        value = [value]
    return value


def _string_tensor_of_rank(rank):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"abc"])
    for _ in range(rank):
        proto.tensor_shape.dim.add(size=1)
    return proto


def test_inputs_of_too_many_dimensions_are_invalid_argument(main_server):
    # numpy holds 64 dimensions, TensorFlow's Python feed of strings 32 (more crashes it).
    ones = _nested(1.0, 64)
    for request in (
        {"inputs": _nested("abc", 32)},
        {"signature_name": "add", "inputs": {"a": ones, "b": ones}},
    ):
        status, body = main_server.rest("POST", "/v1/models/text:predict", request)
        assert status == 200, body
    response = main_server.prediction.Predict(
        predict_request("text", {"text": _string_tensor_of_rank(32)}), timeout=30
    )
    assert list(response.outputs["length"].int_val) == [3]
    string_message = 'input tensor "text" of signature "serving_default" has 33 dimensions'
    for request, message in (
        ({"inputs": _nested("abc", 33)}, string_message),
        ({"instances": [_nested("abc", 32)]}, string_message),
        (
            {"signature_name": "add", "inputs": {"a": _nested(1.0, 65), "b": 1.0}},
            "Input: a has 65 dimensions, more than the 64 supported",
        ),
        (
            {"signature_name": "add", "instances": [{"a": ones, "b": 1.0}]},
            "key: a of 'instances' list. Error: Input: a has 65 dimensions",
        ),
        ({"instances": [_nested("abc", 70)]}, "Input: text has 71 dimensions"),
    ):
        status, body = main_server.rest("POST", "/v1/models/text:predict", request)
        assert status == 400, body
        assert message in body["error"]
    for rank, message in (
        (33, string_message),
        (65, "tensor parsing error: text: tensor_shape has 65 dimensions, more than the 64"),
    ):
        with pytest.raises(grpc.RpcError) as failure:
            main_server.prediction.Predict(
                predict_request("text", {"text": _string_tensor_of_rank(rank)}), timeout=30
            )
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in failure.value.details()
    status, body = main_server.rest("POST", "/v1/models/text:predict", {"instances": ["ok"]})
    assert status == 200, body
