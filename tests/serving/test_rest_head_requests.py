"""HEAD requests get TF Serving's status and Content-Type, without a body (rest_service.py).

TF Serving's libevent server accepts HEAD (evhttp_server.cc allows GET, POST,
HEAD, PUT, DELETE, OPTIONS and PATCH) and its REST handler answers any method
other than GET and POST under /v1/ with INVALID_ARGUMENT, "Malformed request:
HEAD <path>" (http_rest_api_handler.cc), so 400 with Content-Type
application/json; libevent sends a HEAD answer no Content-Length.
"""

import contextlib
import http.client
import json
import socket

import pytest

from serving.model_server import monitoring, rest_service, versions
from tests.serving.model_servers import serving_rest_api

METRICS_PATH = "/monitoring/prometheus/metrics"


def _rest_api():
    manager = versions.VersionManager(file_system_poll_wait_seconds=0)
    return rest_service.RestApi(manager, None, monitoring.Metrics(manager.is_served), 0, METRICS_PATH)


@pytest.fixture(scope="module")
def rest_port():
    """An in-process REST server with no models (GET /v1/models/nope answers 404)."""
    with serving_rest_api(_rest_api(), num_threads=2) as port:
        yield port


@pytest.mark.parametrize(
    "path, status, content_type",
    [
        ("/v1/models/nope", 400, "application/json"),
        ("/v1/models/nope/metadata", 400, "application/json"),
        ("/v1/models/nope:predict", 400, "application/json"),
        ("/V1/whatever", 400, "application/json"),
        ("/v2/models/nope", 404, "application/json"),
        (METRICS_PATH, 200, monitoring.CONTENT_TYPE),
    ],
)
def test_head_gets_the_status_and_content_type_without_a_body(rest_port, path, status, content_type):
    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=30)
    try:
        connection.request("HEAD", path)
        response = connection.getresponse()
        assert response.status == status
        assert response.getheader("Content-Type") == content_type
        assert response.getheader("Content-Length") is None
        assert response.read() == b""
        assert not response.will_close
        # Nothing was sent after the headers: the kept-alive connection answers the next request.
        connection.request("GET", "/v1/models/nope")
        response = connection.getresponse()
        assert response.status == 404
        assert json.loads(response.read()) == {"error": "Could not find any versions of model nope"}
    finally:
        connection.close()


def test_head_is_malformed_like_every_method_but_get_and_post(rest_port):
    """The answer's status comes from the message TF Serving gives it (not sent, as HEAD has no body)."""
    for method in ("HEAD", "PUT"):
        status, headers, text = _rest_api().handle(method, "/v1/models/nope", b"")
        assert (status, headers) == (400, [("Content-Type", "application/json")])
        assert json.loads(text) == {"error": f"Malformed request: {method} /v1/models/nope"}
    with socket.create_connection(("127.0.0.1", rest_port), timeout=30) as client:
        client.sendall(
            b"HEAD /v1/models/nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"PUT /v1/models/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := client.recv(65536):
                received += chunk
    head, put = received.split(b"HTTP/1.1 ")[1:]
    assert head.startswith(b"400 ")
    assert head.endswith(b"\r\n\r\n")  # headers only
    assert put.startswith(b"400 ")
    assert put.endswith(b'{"error": "Malformed request: PUT /v1/models/nope"}')
