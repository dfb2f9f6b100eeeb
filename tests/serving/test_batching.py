"""Server-side batching (serving/model_server/batching.py): concurrent requests share model calls.

The server batches up to 4 rows, pads batches to 2 or 4 rows, waits up to 1.5 s
for a batch to fill, runs one batch at a time and queues at most one; REST
requests give up after 1 s. The
`scale` signature reports the rows of the call that served it (`batch_size`)
and one timestamp per call (`call_time`), so requests that shared a call are
visible from outside.

The scheduler's bounds (abandoned tasks leave their queue, at most
`batching.MAX_QUEUES` input layouts queue at once) are tested in-process, over
a servable stand-in whose calls wait until released, as a slow model's would.
"""

import concurrent.futures
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving.model_server import batching, configs, errors
from tests.serving import saved_models
from tests.serving.model_servers import ModelServer
from tests.serving.protos import (
    example_input,
    multi_inference_request,
    predict_request,
    rpc_error,
)

BATCHING_PARAMETERS = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 1500000 }
num_batch_threads { value: 1 }
max_enqueued_batches { value: 1 }
allowed_batch_sizes: 2
allowed_batch_sizes: 4
"""


def _start_batching_server(tmp_path_factory, name, write_model, *flags):
    """A server batching with `BATCHING_PARAMETERS`, serving the model `write_model` writes as `name`."""
    directory = tmp_path_factory.mktemp(f"{name}_batching_server")
    write_model(directory / name, 1)
    parameters = directory / "batching.config"
    parameters.write_text(BATCHING_PARAMETERS)
    server = ModelServer(
        directory,
        f"--model_name={name}",
        f"--model_base_path={directory / name}",
        "--enable_batching",
        f"--batching_parameters_file={parameters}",
        *flags,
    )
    try:
        server.wait_until_serving(name)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory):
    server = _start_batching_server(
        tmp_path_factory,
        "text",
        saved_models.write_text_model,
        "--grpc_max_threads=16",
        "--rest_api_timeout_in_ms=1000",
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def half_plus_two_batching_server(tmp_path_factory):
    server = _start_batching_server(
        tmp_path_factory, "half_plus_two", saved_models.write_half_plus_two
    )
    try:
        yield server
    finally:
        server.stop()


def _grpc_scale(server, rows):
    response = server.prediction.Predict(
        predict_request("text", {"x": rows}, signature="scale"), timeout=30
    )
    return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}


def _rest_scale(server, rows):
    status, body = server.rest(
        "POST",
        "/v1/models/text:predict",
        {"signature_name": "scale", "inputs": {"x": rows.tolist()}},
    )
    assert status == 200, body
    return {name: np.array(value) for name, value in body["outputs"].items()}


def _rows(first, count=1):
    return np.arange(first, first + 3 * count, dtype=np.float32).reshape(count, 3)


def test_concurrent_grpc_and_rest_requests_share_one_model_call(batching_server):
    inputs = [_rows(3 * i) for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(_grpc_scale if i % 2 else _rest_scale, batching_server, rows)
            for i, rows in enumerate(inputs)
        ]
        outputs = [future.result() for future in futures]
    for rows, output in zip(inputs, outputs):
        np.testing.assert_allclose(output["y"], rows * 2)  # each request gets its own rows back
        assert output["batch_size"].tolist() == [4]
    assert len({output["call_time"].item() for output in outputs}) == 1


def test_a_partial_batch_is_padded_to_the_next_allowed_size(batching_server):
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda i: _grpc_scale(batching_server, _rows(i)), range(3)))
    assert [output["batch_size"].tolist() for output in outputs] == [[4]] * 3
    assert len({output["call_time"].item() for output in outputs}) == 1
    alone = _grpc_scale(batching_server, _rows(0))
    assert alone["batch_size"].tolist() == [2]


def test_a_full_queue_refuses_requests_as_unavailable(batching_server):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            _grpc_scale, batching_server, _rows(0, count=3)
        )  # opens the one batch, 3 of 4 rows
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as failure:
            _grpc_scale(
                batching_server, _rows(0, count=2)
            )  # does not fit, and no second batch may queue
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert (
            "The batch scheduling queue to which this task was submitted is full"
            in failure.value.details()
        )
        status, body = batching_server.rest(
            "POST",
            "/v1/models/text:predict",
            {"signature_name": "scale", "inputs": {"x": _rows(0, 2).tolist()}},
        )
        assert status == 503
        assert "is full" in body["error"]
        assert waiting.result()["batch_size"].tolist() == [4, 4, 4]  # padded from 3
    assert _grpc_scale(batching_server, _rows(0, count=2))["batch_size"].tolist() == [2, 2]


def test_a_request_larger_than_a_batch_is_invalid(batching_server):
    with pytest.raises(grpc.RpcError) as failure:
        _grpc_scale(batching_server, _rows(0, count=5))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 5 is larger than maximum input batch size 4" in failure.value.details()


def test_a_rest_request_waiting_past_its_deadline_is_deadline_exceeded(batching_server):
    start = time.monotonic()
    status, body = batching_server.rest(
        "POST", "/v1/models/text:predict", {"signature_name": "scale", "instances": [[1, 2, 3]]}
    )
    assert status == 504, body
    assert "Deadline exceeded" in body["error"]
    assert (
        time.monotonic() - start >= 0.9
    )  # it waited for its deadline, and gave up before its batch ran
    assert _grpc_scale(batching_server, _rows(0))["batch_size"].tolist() == [2]


def _regress_and_classify(*xs):
    return multi_inference_request(
        "half_plus_two",
        example_input(*xs),
        ("regress", "regress_x_to_y"),
        ("classify", "classify_x_to_y"),
    )


def test_multi_inference_runs_through_the_batcher(half_plus_two_batching_server):
    prediction = half_plus_two_batching_server.prediction
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        responses = list(
            pool.map(
                lambda xs: prediction.MultiInference(_regress_and_classify(*xs), timeout=30),
                [(2.0, 4.0), (6.0,)],
            )
        )
    regressions = [
        [r.value for r in response.results[0].regression_result.regressions]
        for response in responses
    ]
    assert regressions == [[3.0, 4.0], [5.0]]  # y = 0.5 x + 2, each request its own rows
    error = rpc_error(prediction.MultiInference, _regress_and_classify(*range(5)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Task size 5 is larger than maximum input batch size 4" in error.details()


# How long the in-process scheduler test waits for a thread to get somewhere:
# far longer than it takes even on a loaded machine, and only a failure waits it out.
_PATIENCE = 120.0


class _SlowServable:
    """Answers each call with its inputs once `release` is set; counts the calls begun."""

    def __init__(self):
        self.release = threading.Event()
        self._calls = 0
        self._called = threading.Condition()

    def run(self, signature_name, inputs):
        with self._called:
            self._calls += 1
            self._called.notify_all()
        if not self.release.wait(_PATIENCE):
            raise TimeoutError("the test never released the model")
        return dict(inputs)

    def wait_for_calls(self, count):
        """Whether `count` calls have begun, waiting up to `_PATIENCE` seconds for them."""
        with self._called:
            return self._called.wait_for(lambda: self._calls >= count, _PATIENCE)


def _one_row(width):
    return {"x": np.zeros([1, width], np.float32)}


def _wait_for_queues(batcher, count):
    """Whether `batcher` holds `count` queues, waiting up to `_PATIENCE` seconds.

    Reads the scheduler's own state: a task joins its queue on a worker
    thread, and nothing outside says when. Every enqueue notifies the
    condition waited on here.
    """
    with batcher._condition:
        return batcher._condition.wait_for(lambda: len(batcher._queues) == count, _PATIENCE)


def test_queues_hold_only_waited_for_tasks_and_at_most_max_queues_layouts():
    parameters = configs.BatchingParameters()
    parameters.num_batch_threads.value = 1
    batcher = batching.Batcher(parameters)
    servable = _SlowServable()
    workers = concurrent.futures.ThreadPoolExecutor(2 * batching.MAX_QUEUES + 2)
    try:
        running = workers.submit(batcher.run, servable, "scale", _one_row(1))
        # The only batch thread now waits in the model, its batch off the queues.
        assert servable.wait_for_calls(1), "the batch thread never called the model"

        def expire(width):
            with pytest.raises(errors.ServingError) as failure:
                batcher.run(servable, "scale", _one_row(width), time.monotonic() + 0.3)
            return failure.value.code

        widths = range(2, 2 + batching.MAX_QUEUES)
        assert set(workers.map(expire, widths)) == {grpc.StatusCode.DEADLINE_EXCEEDED}
        # Those tasks left their queues: as many new layouts fit again, and one more does not.
        waiting = [
            workers.submit(
                batcher.run, servable, "scale", _one_row(width), time.monotonic() + _PATIENCE
            )
            for width in widths
        ]
        assert _wait_for_queues(batcher, batching.MAX_QUEUES), "the new layouts were not all queued"
        with pytest.raises(errors.ServingError) as failure:
            batcher.run(servable, "scale", _one_row(1000), time.monotonic() + _PATIENCE)
        assert failure.value.code == grpc.StatusCode.UNAVAILABLE
        assert f"at most {batching.MAX_QUEUES}" in failure.value.message
        servable.release.set()
        assert running.result(timeout=_PATIENCE)["x"].shape == (1, 1)
        assert [task.result(timeout=_PATIENCE)["x"].shape[1] for task in waiting] == list(widths)
    finally:
        servable.release.set()
        workers.shutdown()
