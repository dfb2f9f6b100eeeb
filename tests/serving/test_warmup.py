"""Model warmup (serving/model_server/warmup.py): the requests a SavedModel ships run before it serves."""

import types

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_log_pb2

from serving.model_server import errors, warmup
from tests.serving import saved_models
from tests.serving.model_servers import ModelServer
from tests.serving.protos import example_input, predict_request, regression_request


def _half_plus_two_with_warmup(directory, *logs):
    version_dir = saved_models.write_half_plus_two(directory / "half_plus_two", 1)
    saved_models.write_warmup_requests(version_dir, *logs)
    return [
        "--model_name=half_plus_two",
        f"--model_base_path={directory / 'half_plus_two'}",
        "--max_num_load_retries=0",
    ]


def _predict_log(signature):
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(
        predict_request("half_plus_two", {"x": np.array([2.0], np.float32)}, signature=signature)
    )
    return log


def test_warmup_requests_run_each_iteration_before_the_version_serves(tmp_path):
    regress = prediction_log_pb2.PredictionLog()
    regress.regress_log.request.CopyFrom(
        regression_request("half_plus_two", example_input(1.0), "regress_x_to_y")
    )
    # TF Serving skips records of no log type and predict_streamed_logs, and loads the version.
    no_log_type = prediction_log_pb2.PredictionLog()
    streamed = prediction_log_pb2.PredictionLog()
    streamed.predict_streamed_log.request.add().CopyFrom(
        predict_request("half_plus_two", {"x": np.array([2.0], np.float32)})
    )
    flags = _half_plus_two_with_warmup(
        tmp_path, _predict_log("serving_default"), no_log_type, streamed, regress
    )
    server = ModelServer(tmp_path, *flags, "--num_request_iterations_for_warmup=3")
    try:
        server.wait_until_serving("half_plus_two")
        assert "Number of warmup records read: 4." in server.log()
        status, body = server.rest(
            "POST", "/v1/models/half_plus_two:predict", {"instances": [2.0]}
        )
        assert (status, body) == (200, {"predictions": [3.0]})
    finally:
        server.stop()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_failing_warmup_request_fails_the_load_unless_warmup_is_off(tmp_path, enabled):
    flags = _half_plus_two_with_warmup(tmp_path, _predict_log("nope"))
    server = ModelServer(tmp_path, *flags, f"--enable_model_warmup={str(enabled).lower()}")
    try:
        if enabled:
            assert server.process.wait(timeout=120) != 0
            assert 'Serving signature key "nope" not found.' in server.log()
        else:
            server.wait_until_serving("half_plus_two")
    finally:
        server.stop()


def test_a_session_run_log_fails_the_load_as_unimplemented(tmp_path):
    log = prediction_log_pb2.PredictionLog()
    log.session_run_log.request.feed.add(name="x")
    version_dir = saved_models.write_half_plus_two(tmp_path / "half_plus_two", 1)
    saved_models.write_warmup_requests(version_dir, log)
    with pytest.raises(errors.ServingError) as failure:  # as the server's load runs it
        warmup.replay(types.SimpleNamespace(path=version_dir), inference=None)
    assert failure.value.code == grpc.StatusCode.UNIMPLEMENTED
    assert failure.value.message == "Unsupported log_type for warmup: 5"
