"""TF1 SavedModels are served as TF Serving serves them (serving/model_server/servables.py).

The model is TF Serving's own half_plus_two, built as its testdata generator
builds it (tests/serving/saved_models.py), served by a real server process;
the answers are the values that model must give: y = 0.5 x + 2 for
serving_default, classify_x_to_y and regress_x_to_y, 0.5 x + 3 for
regress_x_to_y2. The requests are those of TF Serving's own integration test
(tensorflow_model_server_test.py) and its REST documentation.
"""

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer
from tests.serving.protos import (
    classification_request,
    example_input,
    multi_inference_request,
    regression_request,
    rpc_error,
)

VERSION = 123


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tf1_models")
    saved_models.write_half_plus_two(directory / "half_plus_two", VERSION)
    server = ModelServer(
        directory,
        "--model_name=half_plus_two",
        f"--model_base_path={directory / 'half_plus_two'}",
    )
    try:
        server.wait_until_serving("half_plus_two")
        yield server
    finally:
        server.stop()


def test_rest_predict_feeds_instances_whatever_the_signature_shape(server):
    # TF Serving's REST documentation's first example; the signature says x is [-1, 1].
    status, body = server.rest(
        "POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}
    )
    assert (status, body) == (200, {"predictions": [2.5, 3.0, 4.5]})
    status, body = server.rest(
        "POST", "/v1/models/half_plus_two:predict", {"instances": [[1.0], [2.0]]}
    )
    assert (status, body) == (200, {"predictions": [[2.5], [3.0]]})


@pytest.mark.parametrize("batch_input", [False, True])
def test_grpc_predict_as_tf_serving_integration_test_sends_it(server, batch_input):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    if batch_input:
        request.inputs["x"].tensor_shape.dim.add().size = 1
    request.output_filter.append("y")
    response = server.prediction.Predict(request, timeout=30)
    assert response.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(response.outputs["y"].float_val) == [3.0]
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [1] + [1] * batch_input
    assert (response.model_spec.name, response.model_spec.signature_name) == (
        "half_plus_two",
        "serving_default",
    )
    assert response.model_spec.version.value == VERSION


def test_classify_and_regress_parse_tf_examples_in_the_graph(server):
    response = server.prediction.Classify(
        classification_request("half_plus_two", example_input(2.0), "classify_x_to_y"), timeout=30
    )
    assert [[c.score for c in row.classes] for row in response.result.classifications] == [[3.0]]
    assert response.model_spec.signature_name == "classify_x_to_y"
    assert response.model_spec.version.value == VERSION
    for signature, expected in (("regress_x_to_y", [3.0, 4.0]), ("regress_x_to_y2", [4.0, 5.0])):
        response = server.prediction.Regress(
            regression_request("half_plus_two", example_input(2.0, 4.0), signature), timeout=30
        )
        assert [r.value for r in response.result.regressions] == expected


def test_a_regress_signature_over_a_float_tensor_is_a_model_error(server):
    error = rpc_error(
        server.prediction.Regress,
        regression_request("half_plus_two", example_input(2.0), "regress_x2_to_y3"),
    )
    assert (error.code(), "regress_x2_to_y3" in error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        True,
    )


def test_multi_inference_runs_regress_and_classify_in_one_call(server):
    request = multi_inference_request(
        "half_plus_two",
        example_input(2.0),
        ("regress", "regress_x_to_y"),
        ("classify", "classify_x_to_y"),
    )
    regression, classification = server.prediction.MultiInference(request, timeout=30).results
    assert [r.value for r in regression.regression_result.regressions] == [3.0]
    assert classification.classification_result.classifications[0].classes[0].score == 3.0
    assert (regression.model_spec.signature_name, regression.model_spec.version.value) == (
        "regress_x_to_y",
        VERSION,
    )


def test_rest_classify_and_regress(server):
    status, body = server.rest(
        "POST",
        "/v1/models/half_plus_two:regress",
        {"signature_name": "regress_x_to_y2", "examples": [{"x": 2.0}, {"x": 6.0}]},
    )
    assert (status, body) == (200, {"results": [4.0, 6.0]})
    status, body = server.rest(
        "POST",
        "/v1/models/half_plus_two:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
    )
    assert (status, body) == (200, {"results": [[["", 3.0]]]})


def test_a_string_fed_to_the_float_input_names_the_input(server):
    status, body = server.rest("POST", "/v1/models/half_plus_two:predict", {"inputs": {"x": 1}})
    assert status == 200
    assert body == {"outputs": 2.5}
    status, body = server.rest(
        "POST", "/v1/models/half_plus_two:predict", {"inputs": {"x": ["a"]}}
    )
    assert status == 400
    assert "x" in body["error"]
