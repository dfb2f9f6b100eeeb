"""The model server's REST API (serving/model_server/rest_service.py, json_tensors.py), over plain HTTP."""

import base64
import http.client
import json

import pytest


def test_row_format_predict_answers_one_object_per_instance(main_server):
    status, body = main_server.rest(
        "POST", "/v1/models/text:predict", {"instances": ["ab", "héllo"]}
    )
    assert status == 200, body
    assert body == {"predictions": [{"length": 2, "version": 2}, {"length": 6, "version": 2}]}


def test_row_format_with_named_inputs_and_a_single_output(main_server):
    status, body = main_server.rest(
        "POST",
        "/v1/models/text:predict",
        {"signature_name": "add", "instances": [{"a": 1, "b": 2.5}, {"a": -1.0, "b": 0.25}]},
    )
    assert status == 200, body
    assert body == {"predictions": [3.5, -0.75]}


def test_columnar_format_predict_answers_one_value_per_output(main_server):
    status, body = main_server.rest(
        "POST",
        "/v1/models/text:predict",
        {"signature_name": "scale", "inputs": {"x": [[1, 2, 3], [0.5, 0, -1]]}},
    )
    assert status == 200, body
    assert body["outputs"]["y"] == [[2.0, 4.0, 6.0], [1.0, 0.0, -2.0]]
    assert body["outputs"]["batch_size"] == [2, 2]


def test_b64_strings_in_and_b64_out_for_bytes_outputs(main_server):
    binary = bytes(range(256))
    encoded = base64.b64encode(binary).decode()
    status, body = main_server.rest(
        "POST",
        "/v1/models/text:predict",
        {"signature_name": "echo", "instances": [{"b64": encoded}]},
    )
    assert status == 200, body
    assert body == {"predictions": [{"b64": encoded}]}
    status, body = main_server.rest("POST", "/v1/models/text:predict", {"inputs": {"b64": encoded}})
    assert status == 400  # a scalar, where the signature wants a [n] vector
    assert "text" in body["error"]


@pytest.mark.parametrize(
    "path, version",
    [
        ("/v1/models/text/versions/1:predict", 1),
        ("/v1/models/text/labels/stable:predict", 1),
        ("/v1/models/text/labels/canary:predict", 2),
        ("/V1/Models/text:PREDICT", 2),
    ],
)
def test_predict_paths_select_versions_and_labels(main_server, path, version):
    status, body = main_server.rest("POST", path, {"instances": ["x"]})
    assert status == 200, body
    assert body["predictions"][0]["version"] == version


def test_classify_and_regress_tf_examples(main_server):
    examples = {"examples": [{"x": 1.5}, {"x": [0.0]}]}
    status, body = main_server.rest(
        "POST", "/v1/models/examples:classify", {"signature_name": "classify", **examples}
    )
    assert status == 200, body
    labels = [[label for label, _ in classes] for classes in body["results"]]
    assert labels == [["pos", "neg"], ["pos", "neg"]]
    assert body["results"][1][0][1] == pytest.approx(0.5)
    status, body = main_server.rest(
        "POST", "/v1/models/examples/versions/1:regress", {"signature_name": "regress", **examples}
    )
    assert status == 200, body
    assert body == {"results": [4.0, 1.0]}


def test_regress_with_a_context_example(main_server):
    status, body = main_server.rest(
        "POST",
        "/v1/models/examples:regress",
        {"signature_name": "regress", "context": {"x": 2.0}, "examples": [{}, {"x": 3.0}]},
    )
    assert status == 200, body
    assert body == {"results": [5.0, 7.0]}


def test_model_status_and_metadata(main_server):
    status, body = main_server.rest("GET", "/v1/models/text")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": version,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for version in ("2", "1")
        ]
    }
    status, body = main_server.rest("GET", "/v1/models/text/versions/1")
    assert [entry["version"] for entry in body["model_version_status"]] == ["1"]
    status, body = main_server.rest("GET", "/v1/models/text/labels/stable/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "text", "signature_name": "", "version": "1"}
    serving_default = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert serving_default["inputs"]["text"]["dtype"] == "DT_STRING"
    assert serving_default["method_name"] == "tensorflow/serving/predict"


def test_chunked_request_bodies_and_unknown_paths(main_server):
    connection = http.client.HTTPConnection("127.0.0.1", main_server.rest_port, timeout=30)
    body = iter([b'{"instances": ', b'["chunked"]}'])
    connection.request("POST", "/v1/models/text:predict", body=body, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {"predictions": [{"length": 7, "version": 2}]}
    connection.request("GET", "/v2/models/text")
    response = connection.getresponse()
    assert response.status == 404
    response.read()
    connection.close()


# What libevent's evhttp (evhttp_make_header_response) sets on an answer with
# a body but no Content-Type.
LIBEVENT_CONTENT_TYPE = "text/html; charset=ISO-8859-1"


@pytest.mark.parametrize(
    "origin, status",
    [
        ("http://example.com", 200),
        ("https://example.com:8080", 200),
        ("null", 400),
        ("example.com", 400),
        (None, 400),
    ],
)
@pytest.mark.parametrize("path", ["/v1/models/text:predict", "/V1/anything"])
def test_options_under_v1_is_a_cors_preflight_checked_by_its_origin(
    main_server, path, origin, status
):
    """200 for an http(s):// Origin, else 400, with an empty body.

    TF Serving's RestApiRequestDispatcher (PR #1817) answers an OPTIONS under
    /v1/ itself: OK or FAILED_PRECONDITION, no output and no Content-Type
    (libevent then adds its own).
    """
    connection = http.client.HTTPConnection("127.0.0.1", main_server.rest_port, timeout=30)
    headers = {"Access-Control-Request-Method": "POST"}
    if origin is not None:
        headers["Origin"] = origin
    try:
        connection.request("OPTIONS", path, headers=headers)
        response = connection.getresponse()
        assert response.status == status
        assert response.read() == b""
        assert response.getheader("Content-Length") == "0"
        assert response.getheader("Content-Type") == LIBEVENT_CONTENT_TYPE
        # No CORS headers without --rest_api_enable_cors_support.
        assert not [name for name, _ in response.getheaders() if name.lower().startswith("access")]
        connection.request("POST", "/v1/models/text:predict", body=b'{"instances": ["ab"]}')
        response = connection.getresponse()  # the connection is kept alive
        assert response.status == 200
        assert json.loads(response.read())["predictions"][0]["length"] == 2
    finally:
        connection.close()


def test_options_outside_v1_is_not_found(main_server):
    connection = http.client.HTTPConnection("127.0.0.1", main_server.rest_port, timeout=30)
    try:
        connection.request("OPTIONS", "/v2/models/text", headers={"Origin": "http://example.com"})
        response = connection.getresponse()
        assert response.status == 404
        response.read()
    finally:
        connection.close()
