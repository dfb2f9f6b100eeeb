"""TF2 SavedModels (tf.Module and Keras exports) through every API, as TF Serving serves them.

TF2 signatures all have method_name predict; TF Serving tells a classify or
regress signature by its inputs and outputs (serving/model_server/inference.py)
unless --enable_signature_method_name_check, and runs MultiInference over
several of them at once. The answers are those the models must give:
classify scores [1 - sigmoid(x), sigmoid(x)], regress 3x - 1, Keras 0.5x + 2.
"""

import math

import grpc
import pytest

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer, write_model_config
from tests.serving.protos import (
    classification_request,
    example_input,
    multi_inference_request,
    regression_request,
    rpc_error,
)


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tf2_signatures")
    saved_models.write_tf2_examples_module(directory / "module", 1)
    saved_models.write_keras_half_plus_two(directory / "keras", 1)
    return directory, write_model_config(directory, "module", "keras")


def _serve(directory, config, *flags):
    server = ModelServer(directory, f"--model_config_file={config}", *flags)
    server.wait_until_serving("module")
    server.wait_until_serving("keras")
    return server


@pytest.fixture(scope="module")
def server(models):
    server = _serve(*models)
    yield server
    server.stop()


def test_classify_and_regress_run_tf2_predict_signatures(server):
    response = server.prediction.Classify(
        classification_request("module", example_input(0.0, 2.0), "classify"), timeout=30
    )
    rows = [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]
    assert rows[0] == [("neg", 0.5), ("pos", 0.5)]
    assert [label for label, _ in rows[1]] == ["neg", "pos"]
    assert rows[1][1][1] == pytest.approx(_sigmoid(2.0), rel=1e-6)
    response = server.prediction.Regress(
        regression_request("module", example_input(1.0, 2.5), "regress"), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [2.0, 6.5]
    status, body = server.rest(
        "POST", "/v1/models/module:regress", {"signature_name": "regress", "examples": [{"x": 4.0}]}
    )
    assert (status, body) == (200, {"results": [11.0]})


def test_multi_inference_across_tf2_signatures(server):
    request = multi_inference_request(
        "module", example_input(1.0, -1.0), ("classify", "classify"), ("regress", "regress")
    )
    classification, regression = server.prediction.MultiInference(request, timeout=30).results
    scores = [row.classes[1].score for row in classification.classification_result.classifications]
    assert scores == pytest.approx([_sigmoid(1.0), _sigmoid(-1.0)], rel=1e-6)
    assert [r.value for r in regression.regression_result.regressions] == [2.0, -4.0]
    assert [classification.model_spec.signature_name, regression.model_spec.signature_name] == [
        "classify",
        "regress",
    ]


def test_a_signature_without_example_inputs_cannot_classify(server):
    error = rpc_error(
        server.prediction.Classify,
        classification_request("keras", example_input(1.0), "serving_default"),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No classification inputs found in SignatureDef" in error.details()


def test_keras_export_predicts_and_a_model_error_is_invalid_argument(server):
    status, body = server.rest(
        "POST", "/v1/models/keras:predict", {"instances": [[1.0], [2.0], [5.0]]}
    )
    assert (status, body) == (200, {"predictions": [[2.5], [3.0], [4.5]]})
    # Rank 1 reaches the model (no shape check): its MatMul refuses it.
    status, body = server.rest("POST", "/v1/models/keras:predict", {"instances": [1.0, 2.0]})
    assert status == 400
    assert "serving_default" in body["error"]


@pytest.mark.parametrize(
    "request_body, shown",
    [
        ({"instances": [1]}, "DEFAULT"),
        ({"signature_name": "", "inputs": [1]}, "DEFAULT"),
        ({"signature_name": "serving_default", "instances": [1]}, "serving_default"),
        ({"signature_name": "constant", "instances": [1]}, "constant"),
    ],
)
def test_rest_predict_on_a_signature_without_inputs_names_it_default_when_unnamed(
    server, request_body, shown
):
    """TF Serving's FillPredictRequestFromJson: `signame.empty() ? "DEFAULT" : signame`."""
    status, body = server.rest("POST", "/v1/models/module:predict", request_body)
    assert (status, body) == (400, {"error": f"Failed to get input map for signature: {shown}"})


def test_the_method_name_check_refuses_tf2_signatures_for_classify_and_regress(models):
    server = _serve(*models, "--enable_signature_method_name_check")
    try:
        error = rpc_error(
            server.prediction.Regress, regression_request("module", example_input(1.0), "regress")
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().endswith(
            "Expected regression signature method_name to be tensorflow/serving/regress. "
            "Was: tensorflow/serving/predict"
        )
        status, body = server.rest(
            "POST", "/v1/models/keras:predict", {"instances": [[1.0]]}
        )
        assert (status, body) == (200, {"predictions": [[2.5]]})
    finally:
        server.stop()
