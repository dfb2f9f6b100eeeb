"""Hostile clients: requests built to exhaust the server are refused cheaply, and the next valid one succeeds.

gRPC tensors are checked before they are allocated (tensor_protos.py); the REST
transport bounds bodies, slow clients and its workers (rest_service.py); every
error body is encodable whatever the request held.
"""

import contextlib
import http.client
import json
import re
import socket
import threading
import time

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.model_server import monitoring, rest_service, versions
from tests.serving.model_servers import serving_rest_api
from tests.serving.protos import predict_request

BILLION = 1_000_000_000


def _declared_only(dtype, *shape, **values):
    proto = tensor_pb2.TensorProto(dtype=dtype, **values)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def _assert_serving(server):
    response = server.prediction.Predict(
        predict_request("text", {"text": np.array([b"ok"], dtype=object)}), timeout=30
    )
    assert list(response.outputs["length"].int_val) == [2]
    status, body = server.rest("POST", "/v1/models/text:predict", {"instances": ["ok"]})
    assert status == 200, body


TENSOR_CASES = {
    "a billion floats declared, none sent": (
        {"x": _declared_only(types_pb2.DT_FLOAT, 1, BILLION)},
        "tensor parsing error: x: float_val holds 0 values for shape [1, 1000000000]",
    ),
    "a billion strings declared, one sent": (
        {"text": _declared_only(types_pb2.DT_STRING, BILLION, string_val=[b"a"])},
        "tensor parsing error: text: string_val holds 1 values",
    ),
    "more values than the shape holds": (
        {"x": _declared_only(types_pb2.DT_FLOAT, 1, 3, float_val=[1.0] * 4)},
        "tensor parsing error: x: float_val holds 4 values, more than the 3",
    ),
    "tensor_content longer than the shape": (
        {"x": _declared_only(types_pb2.DT_FLOAT, 1, 3, tensor_content=b"\0" * 16)},
        "tensor parsing error: x: tensor_content holds 16 bytes; shape [1, 3] of float32 needs 12",
    ),
    "a negative dimension": (
        {"x": _declared_only(types_pb2.DT_FLOAT, -1, float_val=[1.0])},
        "tensor parsing error: x: tensor_shape [-1] has a negative dimension",
    ),
}


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_a_tensor_its_content_cannot_fill_is_refused_before_allocation(main_server, case):
    inputs, message = TENSOR_CASES[case]
    signature = "scale" if "x" in inputs else None
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Predict(
            predict_request("text", inputs, signature=signature), timeout=10
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in failure.value.details()
    assert time.monotonic() - started < 5
    _assert_serving(main_server)


def test_inputs_the_signature_does_not_name_are_not_decoded(main_server):
    inputs = {
        "text": np.array([b"ok"], dtype=object),
        "junk": _declared_only(types_pb2.DT_FLOAT, BILLION, tensor_content=b"\0" * 4),
    }
    with pytest.raises(grpc.RpcError) as failure:
        main_server.prediction.Predict(predict_request("text", inputs), timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "junk" in failure.value.details()
    assert "tensor parsing error" not in failure.value.details()
    _assert_serving(main_server)


def _exchange(port, request, timeout=10):
    """Sends raw bytes; returns (HTTP status, body) of the answer (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _post(headers, body=b"", path="/v1/models/text:predict"):
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


VALID = b'{"instances": ["ok"]}'
TRANSPORT_CASES = {
    "negative Content-Length": (_post(["Content-Length: -1"]), 400, "Content-Length: -1"),
    "Content-Length not a number": (_post(["Content-Length: 1e3"]), 400, "Content-Length: 1e3"),
    "conflicting Content-Lengths": (
        _post(["Content-Length: 3", "Content-Length: 4"], b"abcd"),
        400,
        "Content-Length: 3, 4",
    ),
    "a terabyte declared": (
        _post([f"Content-Length: {10**12}"]),
        413,
        f"exceeds the limit of {rest_service.DEFAULT_MAX_BODY_BYTES} bytes",
    ),
    "a terabyte chunk declared": (
        _post(["Transfer-Encoding: chunked"], b"E8D4A51000\r\n"),
        413,
        "Chunked body exceeds the limit",
    ),
    "a chunk size that is not hexadecimal": (
        _post(["Transfer-Encoding: chunked"], b"-5\r\nhello\r\n0\r\n\r\n"),
        400,
        "chunk size is not hexadecimal",
    ),
    "a chunk longer than its size": (
        _post(["Transfer-Encoding: chunked"], b"2\r\nhello\r\n0\r\n\r\n"),
        400,
        "a chunk is longer than its size",
    ),
    "a body that ends early": (
        _post(["Content-Length: 100"], b"{}"),
        400,
        "98 bytes before the end of the body",
    ),
    "both length headers": (
        _post(["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n"),
        400,
        "Content-Length and Transfer-Encoding are both set",
    ),
    "an unknown transfer coding": (
        _post(["Transfer-Encoding: gzip"]),
        501,
        "Transfer-Encoding: gzip is not supported",
    ),
}


@pytest.mark.parametrize("case", sorted(TRANSPORT_CASES))
def test_malformed_or_oversized_bodies_are_refused_unread(main_server, case):
    request, http_status, message = TRANSPORT_CASES[case]
    if case == "a body that ends early":  # the client half-closes: no more bytes will come
        with socket.create_connection(("127.0.0.1", main_server.rest_port), timeout=10) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
    else:
        status, body = _exchange(main_server.rest_port, request)
    assert status == http_status, body
    assert message in json.loads(body)["error"]
    _assert_serving(main_server)


def test_a_chunked_body_is_read(main_server):
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (5, VALID[:5], 16, VALID[5:])
    status, body = _exchange(main_server.rest_port, _post(["Transfer-Encoding: chunked"], chunked))
    assert status == 200, body
    assert json.loads(body)["predictions"][0]["length"] == 2


def test_a_body_of_many_reads_is_read_whole(main_server):
    body = b'{"instances": ["ok"]' + b" " * 300_000 + b"}"
    status, answer = _exchange(main_server.rest_port, _post([f"Content-Length: {len(body)}"], body))
    assert status == 200 and len(json.loads(answer)["predictions"]) == 1


def test_error_bodies_holding_lone_surrogates_are_valid_json(main_server):
    body = b'{"signature_name": "\\ud800", "instances": ["a"]}'
    status, answer = main_server.rest("POST", "/v1/models/text:predict", body)
    assert status == 400
    assert 'Serving signature name: "\ud800" not found' in answer["error"]
    status, answer = main_server.rest("POST", "/v1/models/%ED%A0%80:predict", {"instances": ["a"]})
    assert status == 404 and "error" in answer
    status, answer = main_server.rest(
        "POST", "/v1/models/text:predict", b'{"signature_name": "add", "instances": ["\\udfff"]}'
    )
    assert status == 400 and "error" in answer
    _assert_serving(main_server)


@contextlib.contextmanager
def _rest_server(**options):
    """An in-process REST server with `options`, serving until the block ends; yields its port.

    Its RestApi has no models: GET /v1/models/nope answers 404.
    """
    manager = versions.VersionManager(file_system_poll_wait_seconds=0)
    api = rest_service.RestApi(manager, None, monitoring.Metrics(manager.is_served), 0, None)
    with serving_rest_api(api, **options) as port:
        yield port


@pytest.fixture
def small_rest_server():
    """2 workers, 1 s read timeout, 0.5 s keep-alive, 1000-byte body cap."""
    with _rest_server(
        num_threads=2, timeout_seconds=1.0, keep_alive_seconds=0.5, max_body_bytes=1000
    ) as port:
        yield port


def _rest_workers():
    return [thread for thread in threading.enumerate() if thread.name.startswith("rest_")]


def _get_unknown_model(port):
    return _exchange(
        port, b"GET /v1/models/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10
    )


def test_a_slow_client_is_disconnected_after_the_read_timeout(small_rest_server):
    with socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) as slow:
        slow.sendall(b"POST /v1/models/nope:predict HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        started = time.monotonic()
        assert slow.recv(65536) == b""  # closed by the server, nothing answered
        assert 0.8 < time.monotonic() - started < 5
    assert _get_unknown_model(small_rest_server)[0] == 404


def test_an_idle_kept_alive_connection_gives_its_worker_back_sooner(small_rest_server):
    connection = http.client.HTTPConnection("127.0.0.1", small_rest_server, timeout=10)
    try:
        for _ in range(2):  # kept alive between two requests within the keep-alive time
            connection.request("GET", "/v1/models/nope")
            response = connection.getresponse()
            response.read()
            assert response.status == 404 and not response.will_close
        started = time.monotonic()
        assert connection.sock.recv(1) == b""  # then closed by the server
        assert 0.3 < time.monotonic() - started < 0.9
    finally:
        connection.close()


def test_connections_that_send_nothing_hold_no_worker_and_close_after_the_read_timeout(
    small_rest_server,
):
    idle = [socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) for _ in range(50)]
    try:
        started = time.monotonic()
        assert _get_unknown_model(small_rest_server)[0] == 404
        assert time.monotonic() - started < 0.5  # served at once: the idle ones hold no worker
        assert len(_rest_workers()) == 1
        assert all(connection.recv(1) == b"" for connection in idle)  # closed by the server
        assert 0.8 < time.monotonic() - started < 5
    finally:
        for connection in idle:
            connection.close()


def test_half_sent_requests_hold_no_worker_and_close_when_their_time_is_up(small_rest_server):
    # More stalled half-requests than workers: none of them takes a worker, as
    # under TF Serving's event loop, so a whole request is answered at once.
    halves = [
        b"GET /v1/models/nope HTTP/1.1\r\n",
        b"POST /v1/models/nope:predict HTTP/1.1\r\nContent-Length: 21\r\n\r\n{\"inst",
        b"POST /v1/models/nope:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] * 3
    stalled = [socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) for _ in halves]
    try:
        for connection, half in zip(stalled, halves):
            connection.sendall(half)
        time.sleep(0.2)
        started = time.monotonic()
        assert _get_unknown_model(small_rest_server)[0] == 404
        assert time.monotonic() - started < 0.5
        assert len(_rest_workers()) <= 1
        assert all(connection.recv(1) == b"" for connection in stalled)  # closed, unanswered
        assert 0.6 < time.monotonic() - started < 5
    finally:
        for connection in stalled:
            connection.close()


def test_a_request_sent_in_pieces_is_answered_once_whole(small_rest_server):
    request = _post(["Content-Length: 21"], VALID, path="/v1/models/nope:predict")
    with socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) as connection:
        for start in range(0, len(request), 16):
            connection.sendall(request[start : start + 16])
            time.sleep(0.02)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404") and "Servable not found" in json.loads(body)["error"]


def test_pipelined_requests_sent_at_once_are_all_answered_in_order(small_rest_server):
    first = b"GET /v1/models/nope HTTP/1.1\r\nHost: x\r\n\r\n"
    second = _post(["Content-Length: 21"], VALID, path="/v1/models/other:predict")  # closes after
    with socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) as connection:
        connection.sendall(first + second)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", answer)
    assert statuses == [b"404", b"404"]
    assert answer.index(b"nope") < answer.index(b"other")


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EXPECTING = ["Expect: 100-continue"]


def _read_response(connection):
    """(head, body) of one response on a kept-alive connection, its body Content-Length long."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])
    while len(body) < length:
        body += connection.recv(65536)
    assert len(body) == length
    return head, body


@pytest.mark.parametrize(
    "framing, body",
    [
        ("Content-Length: 21", VALID),
        ("Transfer-Encoding: chunked", b"15\r\n" + VALID + b"\r\n0\r\n\r\n"),
    ],
)
def test_expect_100_continue_is_answered_once_as_soon_as_the_headers_arrive(
    small_rest_server, framing, body
):
    request = _post([*EXPECTING, framing], path="/v1/models/nope:predict")
    with socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) as connection:
        connection.sendall(request)
        connection.settimeout(0.5)  # well before the read timeout: no waiting on the body
        assert connection.recv(65536) == CONTINUE
        connection.settimeout(10)
        connection.sendall(body)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 404 ") and b"100 Continue" not in answer


def test_each_kept_alive_request_gets_its_own_100_continue(small_rest_server):
    request = b"POST /v1/models/nope:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    with socket.create_connection(("127.0.0.1", small_rest_server), timeout=10) as connection:
        for _ in range(2):
            connection.sendall(request + b"Content-Length: 21\r\n\r\n")
            assert connection.recv(len(CONTINUE)) == CONTINUE
            connection.sendall(VALID)
            head, _ = _read_response(connection)
            assert head.startswith(b"HTTP/1.1 404 ")


def test_no_100_continue_is_sent_when_no_body_is_due(small_rest_server):
    for headers, body, http_status in (
        (["Content-Length: 21"], VALID, 404),  # the body came with the headers
        (["Content-Length: 0"], b"", 400),  # no body
        (["Content-Length: 1001"], b"", 413),  # over the cap: the error instead
        (["Content-Length: x"], b"", 400),
    ):
        request = _post([*EXPECTING, *headers], body, path="/v1/models/nope:predict")
        status, answer = _exchange(small_rest_server, request)
        assert status == http_status, answer


def test_headers_over_the_limit_are_431_and_the_server_keeps_serving(small_rest_server):
    headers = [f"X-Filler-{index}: {'x' * 1000}" for index in range(70)]
    status, body = _exchange(small_rest_server, _post(headers))
    assert status == 431
    assert f"exceed {rest_service.MAX_HEADER_BYTES} bytes" in json.loads(body)["error"]
    assert _get_unknown_model(small_rest_server)[0] == 404


def test_a_body_over_the_cap_is_413_and_one_under_it_is_read(small_rest_server):
    status, body = _exchange(small_rest_server, _post(["Content-Length: 1001"], b"x" * 1001))
    assert status == 413
    assert "Content-Length: 1001 exceeds the limit of 1000 bytes" in json.loads(body)["error"]
    status, body = _exchange(
        small_rest_server,
        _post(["Transfer-Encoding: chunked"], (b"200\r\n" + b"x" * 512 + b"\r\n") * 2 + b"0\r\n\r\n"),
    )
    assert status == 413
    status, body = _exchange(
        small_rest_server, _post(["Content-Length: 21"], VALID, path="/v1/models/nope:predict")
    )
    assert status == 404 and "Servable not found" in json.loads(body)["error"]


def _start_large_posts(port, count, sent_bytes):
    """`count` connections that each declare a 1 MB body, send `sent_bytes` of it and stall."""
    head = b"POST /v1/models/nope:predict HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"
    stalled = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    for connection in stalled:
        connection.sendall(head + b" " * sent_bytes)
    time.sleep(0.2)
    return stalled


def test_large_bodies_sent_slowly_hold_no_worker():
    # Each has sent more than one read of the selector's (64 KiB): it holds them all the same.
    with _rest_server(num_threads=1, timeout_seconds=1.0, max_body_bytes=2_000_000) as port:
        stalled = _start_large_posts(port, 3, 300_000)
        try:
            started = time.monotonic()
            assert _get_unknown_model(port)[0] == 404
            assert time.monotonic() - started < 0.5
            assert all(connection.recv(1) == b"" for connection in stalled)  # closed, unanswered
            assert 0.6 < time.monotonic() - started < 5
        finally:
            for connection in stalled:
                connection.close()


def test_past_the_buffer_budget_a_worker_reads_the_body_within_the_request_deadline():
    with _rest_server(
        num_threads=2, timeout_seconds=1.0, max_body_bytes=2_000_000, max_buffered_bytes=100_000
    ) as port:
        # Past the selector's budget: handed to a worker, which keeps the
        # request's deadline however often the client sends a little more.
        (trickling,) = _start_large_posts(port, 1, 150_000)
        try:
            started = time.monotonic()
            with pytest.raises(OSError):  # closed by the server: a reset or a broken pipe
                while time.monotonic() - started < 5:
                    trickling.sendall(b" ")
                    time.sleep(0.1)
            assert time.monotonic() - started < 2
        finally:
            trickling.close()
        body = b'{"instances": ["ok"]' + b" " * 150_000 + b"}"  # a whole one is still read
        status, answer = _exchange(port, _post([f"Content-Length: {len(body)}"], body))
        assert status == 404, answer
