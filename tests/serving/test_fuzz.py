"""Fuzzing a running model server: random and mutated requests never take it down or grow it without bound.

For `FUZZ_SECONDS`, `CLIENTS` threads send a random mix of: PredictRequests
built from random parts (dtypes, shapes up to 2**62 elements, value fields,
aliases, signatures, versions, labels), valid PredictRequests with bytes
flipped, inserted, dropped or cut; JSON bodies built from random values
(strings with lone surrogates, huge numbers, deep nesting) or mutated from
valid ones; random methods on URLs made of the API's pieces and percent
escapes; and mutated health checks (`grpc.health.v1.Health/Check`). Every
gRPC call must end with a status code and every HTTP request with a status
line; the server must still run, answer a valid request
correctly, and its peak resident memory (VmHWM, printed) must stay within
`MAX_GROWTH_BYTES` of what it held before, with no more than
`MAX_LATE_GROWTH_BYTES` of growth after the first third of the run (memory that
grows with the number of requests is a leak, whatever the peak).
"""

import concurrent.futures
import http.client
import json
import random
import re
import time

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer
from tests.serving.protos import predict_request

FUZZ_SECONDS = 30
CLIENTS = 4
MAX_GROWTH_BYTES = 1024 * 2**20
MAX_LATE_GROWTH_BYTES = 64 * 2**20
_CALL_TIMEOUT = 30
_PREDICT = "/tensorflow.serving.PredictionService/Predict"
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_HEALTH_CHECK_REQUEST = b"\x0a\x00"  # HealthCheckRequest{service: ""}
_DTYPES = list(types_pb2.DataType.values())
_SIZES = [0, 1, 2, 3, 7, 1000, 10**9, 2**62, -1]
_VALUE_FIELDS = ["float_val", "double_val", "int_val", "int64_val", "bool_val", "string_val"]
_SIGNATURES = ["", "serving_default", "scale", "add", "nope", "\ud800", "x" * 300]
_ALIASES = ["text", "x", "a", "b", "", "junk", "\u00e9"]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzzed_server")
    saved_models.write_text_model(directory / "text", 1)
    server = ModelServer(
        directory,
        "--model_name=text",
        f"--model_base_path={directory / 'text'}",
        "--enable_batching",
        "--enable_grpc_healthcheck_service",
    )
    try:
        server.wait_until_serving("text")
        yield server
    finally:
        server.stop()


def _memory(pid):
    """(VmRSS, VmHWM) of a process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status.read(), re.M))
    return int(fields["VmRSS"]) * 1024, int(fields["VmHWM"]) * 1024


def _random_text(rng):
    return "".join(rng.choice(["a", "\u00e9", "\ud800", "\x00", '"', "\\", "\n", "%"]) for _ in range(rng.randrange(8)))


def _random_tensor(rng):
    proto = tensor_pb2.TensorProto(dtype=rng.choice(_DTYPES))
    for _ in range(rng.randrange(4)):
        proto.tensor_shape.dim.add(size=rng.choice(_SIZES))
    field = rng.choice(_VALUE_FIELDS + ["tensor_content"])
    count = rng.choice([0, 1, 3, 6])
    if field == "tensor_content":
        proto.tensor_content = rng.randbytes(count * rng.choice([1, 4, 8]))
    elif field == "string_val":
        proto.string_val.extend(rng.randbytes(rng.randrange(5)) for _ in range(count))
    elif field == "bool_val":
        proto.bool_val.extend(rng.random() < 0.5 for _ in range(count))
    elif field in ("float_val", "double_val"):
        getattr(proto, field).extend(rng.uniform(-1e30, 1e30) for _ in range(count))
    else:
        bits = 63 if field == "int64_val" else 31
        getattr(proto, field).extend(rng.randrange(-(2**bits), 2**bits) for _ in range(count))
    return proto


def _random_predict_request(rng):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = rng.choice(["text", "text", "nope", ""])
    request.model_spec.signature_name = rng.choice(_SIGNATURES).encode("utf-8", "replace").decode()
    choice = rng.random()
    if choice < 0.2:
        request.model_spec.version.value = rng.choice([0, 1, 2**63 - 1, -5])
    elif choice < 0.3:
        request.model_spec.version_label = rng.choice(["stable", "", "x"])
    for _ in range(rng.randrange(4)):
        alias = rng.choice(_ALIASES)
        request.inputs[alias].CopyFrom(_random_tensor(rng))
    request.output_filter.extend(rng.choice(["length", "y", "nope"]) for _ in range(rng.randrange(3)))
    return request.SerializeToString()


_VALID_REQUESTS = [
    predict_request("text", {"text": np.array([b"abc", b"de"], dtype=object)}).SerializeToString(),
    predict_request("text", {"x": np.ones([2, 3], np.float32)}, signature="scale").SerializeToString(),
    predict_request(
        "text", {"a": np.ones([2], np.float32), "b": np.ones([2], np.float32)}, signature="add"
    ).SerializeToString(),
]


def _mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        position = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4 and position < len(data):
            data[position] = rng.randrange(256)
        elif action < 0.6:
            data[position:position] = rng.randbytes(rng.randrange(1, 8))
        elif action < 0.8:
            del data[position : position + rng.randrange(1, 8)]
        else:
            data = data[:position]
    return bytes(data)


def _random_json_value(rng, depth=0):
    kind = rng.randrange(8 if depth < 5 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**70, 16777217, 1e308, float("nan"), 0.5])
    if kind in (2, 3):
        return _random_text(rng)
    if kind == 4:
        return {"b64": rng.choice(["YWJj", "%%%", "", _random_text(rng)])}
    if kind in (5, 6):
        return [_random_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_ALIASES): _random_json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


_VALID_BODIES = [
    b'{"instances": ["abc", "de"]}',
    b'{"signature_name": "scale", "inputs": {"x": [[1, 2, 3]]}}',
    b'{"signature_name": "add", "instances": [{"a": 1.0, "b": 2.0}]}',
    b'{"examples": [{"x": 1.0}], "context": {"y": "a"}}',
]


def _random_body(rng):
    choice = rng.random()
    if choice < 0.4:
        document = {
            rng.choice(["instances", "inputs", "signature_name", "examples", "x"]): _random_json_value(rng)
            for _ in range(rng.randrange(1, 4))
        }
        return json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if choice < 0.5:
        return b"[" * rng.choice([10, 1000, 100000]) + b"]" * rng.randrange(3)
    return _mutate(rng, rng.choice(_VALID_BODIES))


def _random_path(rng):
    name = rng.choice(["text", "nope", "", "%0Afoo%201", "%ED%A0%80", "x%22%7D", "%" + rng.randbytes(1).hex()])
    pieces = [rng.choice(["/v1/models/", "/v1/models", "/v1/", "/monitoring/prometheus/metrics", "/"]), name]
    pieces.append(rng.choice(["", "/versions/1", "/versions/99999999999999999999", "/labels/x", "/labels/"]))
    pieces.append(rng.choice([":predict", ":classify", ":regress", "/metadata", "", ":nope"]))
    pieces.append(rng.choice(["", "?a=b", "#frag", "/" * 3]))
    return "".join(pieces)


def _http(server, method, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=_CALL_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _fuzz(server, seed, stop_at):
    """Sends random requests until `stop_at`; returns the statuses seen, as a Counter-like dict."""
    rng = random.Random(seed)
    predict = server.channel.unary_unary(_PREDICT)  # raw bytes in and out
    health_check = server.channel.unary_unary(_HEALTH_CHECK)
    seen = {}
    while time.monotonic() < stop_at:
        kind = rng.randrange(6)
        if kind in (0, 1, 5):
            if kind == 5:
                method, request = health_check, _mutate(rng, _HEALTH_CHECK_REQUEST)
            else:
                method = predict
                request = _random_predict_request(rng) if kind == 0 else _mutate(rng, rng.choice(_VALID_REQUESTS))
            try:
                method(request, timeout=_CALL_TIMEOUT)
                status = "grpc OK"
            except grpc.RpcError as error:
                assert error.code() != grpc.StatusCode.DEADLINE_EXCEEDED, "the server stalled"
                status = f"grpc {error.code().name}"
        else:
            method = rng.choice(["POST", "POST", "GET", "PUT", "DELETE"])
            path = _random_path(rng) if kind == 4 else "/v1/models/text:" + rng.choice(["predict", "regress"])
            status = f"http {_http(server, method, path, _random_body(rng))}"
        seen[status] = seen.get(status, 0) + 1
    return seen


def test_the_server_outlives_half_a_minute_of_random_requests_in_bounded_memory(fuzzed_server, capsys):
    pid = fuzzed_server.process.pid
    before, _ = _memory(pid)
    stop_at = time.monotonic() + FUZZ_SECONDS
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as clients:
        running = clients.map(lambda seed: _fuzz(fuzzed_server, seed, stop_at), range(CLIENTS))
        time.sleep(FUZZ_SECONDS / 3)
        early, _ = _memory(pid)
        results = list(running)
    assert fuzzed_server.process.poll() is None, fuzzed_server.log()[-5000:]
    after, peak = _memory(pid)
    seen = {}
    for result in results:
        for status, count in result.items():
            seen[status] = seen.get(status, 0) + count
    with capsys.disabled():
        print(
            f"\nfuzz: {sum(seen.values())} requests in {FUZZ_SECONDS} s, {dict(sorted(seen.items()))}; "
            f"server RSS {before / 2**20:.0f} MiB before, {early / 2**20:.0f} MiB after a third, "
            f"{after / 2**20:.0f} MiB after, peak {peak / 2**20:.0f} MiB"
        )
    assert peak - before < MAX_GROWTH_BYTES
    assert after - early < MAX_LATE_GROWTH_BYTES
    assert "Internal error while serving" not in fuzzed_server.log()  # no bug of ours was hit
    response = fuzzed_server.prediction.Predict(
        predict_request("text", {"text": np.array([b"ok"], dtype=object)}), timeout=30
    )
    assert list(response.outputs["length"].int_val) == [2]
