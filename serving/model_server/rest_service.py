"""The REST API: TF Serving's HTTP/JSON endpoints on a threaded `http.server`.

    GET  /v1/models/NAME[/versions/V | /labels/L]            model status (GetModelStatus)
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata   model metadata (GetModelMetadata)
    POST /v1/models/NAME[/versions/V | /labels/L]:predict    also :classify and :regress
    GET  /monitoring/prometheus/metrics                      when --monitoring_config_file enables it

As in TF Serving, the paths match case-insensitively, model names and labels
are URL-decoded, any other request under `/v1/` is INVALID_ARGUMENT
(`Malformed request: ...`), bodies are JSON as `json_tensors` describes, and a
failure is answered with the HTTP status of its code and `{"error": "..."}`.
A HEAD request gets TF Serving's status and Content-Type (under `/v1/`, 400
for `Malformed request: HEAD ...`) and, as libevent sends a HEAD answer, no
Content-Length; the body is not sent (libevent writes it after the headers
all the same, which HTTP forbids and breaks a kept-alive connection).
OPTIONS under `/v1/` is a CORS preflight, as TF Serving's
RestApiRequestDispatcher::ProcessRequest answers it (tensorflow/serving PR
#1817) without calling the REST handler: 200 when its `Origin` header holds
`http://` or `https://` (RE2::PartialMatch), else FAILED_PRECONDITION ("Origin
header is missing in CORS preflight"), so 400; either way with an empty body
and, as no Content-Type is set, libevent's default one
(`LIBEVENT_CONTENT_TYPE`). With `--rest_api_enable_cors_support` every answer
under `/v1/` (errors and OPTIONS included, not the Prometheus page, which TF
Serving serves with a handler of its own) also gets `CORS_HEADERS`, TF
Serving's AddCORSHeaders (http_rest_api_util.cc).
Inference requests get a deadline `--rest_api_timeout_in_ms` away; it bounds
their wait for a batch (a model call already running is not interrupted).

The HTTP server itself is bounded against clients that misbehave:
- requests are served by `num_threads` workers (`--rest_api_num_threads`);
- a connection holds a worker only while a whole request of it is answered:
  one selector thread reads every request until it is complete (headers, and
  the body its `Content-Length` or chunks declare), as TF Serving's libevent
  server does, so clients that connect and send nothing, or send half a
  request and stall, take no worker; a connection is closed if its first
  request does not start within `timeout_seconds` (its next one within
  `keep_alive_seconds`) or is not complete `timeout_seconds` after it
  started; at most `MAX_OPEN_CONNECTIONS` are open, further ones wait in the
  listen backlog;
- headers longer than `MAX_HEADER_BYTES` are answered 431 and the connection
  closed; a request whose body is malformed or over `max_body_bytes` goes to
  a worker at once, which answers it without reading its body;
- the selector holds at most `max_buffered_bytes` for all connections
  together: past that, a request goes to a worker with what it sent so far,
  and the worker reads the rest, still within the request's
  `timeout_seconds`;
- a body is read from a valid `Content-Length` (none: no body) or from
  `Transfer-Encoding: chunked`, never more than `max_body_bytes`: a larger one
  is answered 413 and a malformed one 400, without reading it, and the
  connection is closed;
- an HTTP/1.1 request with `Expect: 100-continue` gets `100 Continue` from
  the selector thread as soon as its headers have arrived, as libevent's
  evhttp sends it: once, and only if it declares a body within
  `max_body_bytes` of which nothing has arrived yet (a request pipelined
  behind another is read by a worker, which sends none);
- every answer is a status with an encodable body, whatever the request held.
"""

import collections
import concurrent.futures
import contextlib
import http.server
import io
import json
import os
import re
import selectors
import socket
import threading
import time
import urllib.parse

import grpc
from absl import logging
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving.model_server import errors, json_tensors, monitoring
from serving.model_server.inference import SIGNATURE_DEF_FIELD
from serving.model_server.servables import DEFAULT_SIGNATURE

_VERSION_OR_LABEL = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_INFERENCE_PATH = re.compile(
    rf"/v1/models/(?P<name>[^/:]+){_VERSION_OR_LABEL}:(?P<method>classify|regress|predict)",
    re.IGNORECASE,
)
_MODEL_PATH = re.compile(
    rf"/v1/models(?:/(?P<name>[^/:]+))?{_VERSION_OR_LABEL}(?:/(?P<metadata>metadata))?",
    re.IGNORECASE,
)
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_JSON = "application/json"
# The Content-Type libevent's evhttp gives an answer with a body when none is
# set (evhttp_new's evhttp_set_default_content_type; TF Serving keeps it).
LIBEVENT_CONTENT_TYPE = "text/html; charset=ISO-8859-1"
# What a CORS preflight's Origin must hold (RE2::PartialMatch in http_server.cc).
_PREFLIGHT_ORIGIN = re.compile(r"https?://")
# TF Serving's AddCORSHeaders (http_rest_api_util.cc), in its order.
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
)
_API_NAMES = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
DEFAULT_NUM_THREADS = 4 * (os.cpu_count() or 1)  # TF Serving's --rest_api_num_threads default
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_KEEP_ALIVE_SECONDS = 5.0
DEFAULT_MAX_BODY_BYTES = 256 * 2**20
MAX_OPEN_CONNECTIONS = 4096
# What the selector thread holds of all requests still arriving: two of the largest.
DEFAULT_MAX_BUFFERED_BYTES = 2 * DEFAULT_MAX_BODY_BYTES
MAX_HEADER_BYTES = 65536  # the request line and headers together
_RECEIVE_BYTES = 65536
_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_LINE_BYTES = 8192  # a chunk-size or trailer line
_MAX_TRAILER_LINES = 64
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _error_json(message):
    """An error body; ASCII escapes keep any message (a lone surrogate too) encodable."""
    return json.dumps({"error": message})


def _model_spec(match):
    if not match["name"]:
        raise errors.invalid_argument("Missing model name in request.")
    spec = model_pb2.ModelSpec(name=urllib.parse.unquote(match["name"]))
    if match["version"] is not None:
        version = int(match["version"])
        if version >= 2**63:
            raise errors.invalid_argument(
                f"Failed to convert version: {match['version']} to numeric."
            )
        spec.version.value = version
    if match["label"] is not None:
        spec.version_label = urllib.parse.unquote(match["label"])
    return spec


def _proto_json(message):
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        indent=1,
    )


def _metadata_json(response):
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_defs)
    return (
        f'{{\n"model_spec": {_proto_json(response.model_spec)},\n'
        f'"metadata": {{"signature_def": {_proto_json(signature_defs)}}}\n}}'
    )


class RestApi:
    """Answers REST requests with a `VersionManager`, an `Inference` and `Metrics`.

    Args:
        timeout_seconds: the deadline of inference requests; 0 for none.
        prometheus_path: the path serving the metrics page, or None.
        cors: add `CORS_HEADERS` to every answer under `/v1/`
            (`--rest_api_enable_cors_support`).
    """

    def __init__(
        self, manager, inference, metrics, timeout_seconds, prometheus_path, cors=False
    ):
        self._manager = manager
        self._inference = inference
        self._metrics = metrics
        self._timeout_seconds = timeout_seconds
        self._prometheus_path = prometheus_path
        self._cors = cors

    def handle(self, method, path, body, origin=""):
        """Returns (HTTP status, headers, body text) for one request.

        `origin` is the request's `Origin` header ("" for none); the headers
        are (name, value) pairs, Content-Type first.
        """
        if self._prometheus_path is not None and path == self._prometheus_path:
            return 200, [("Content-Type", monitoring.CONTENT_TYPE)], self._metrics.prometheus_page()
        if not _API_PATH.fullmatch(path):
            return 404, [("Content-Type", _JSON)], _error_json(f"Not found: {method} {path}")
        if method == "OPTIONS":
            # A CORS preflight: the REST handler is not called, nothing is
            # written (not even the error) and no Content-Type is set.
            status = 200 if _PREFLIGHT_ORIGIN.search(origin) else 400
            headers, text = [("Content-Type", LIBEVENT_CONTENT_TYPE)], ""
        else:
            status, text = self._api_request(method, path, body)
            headers = [("Content-Type", _JSON)]
        if self._cors:
            headers.extend(CORS_HEADERS)
        return status, headers, text

    def _api_request(self, method, path, body):
        """(HTTP status, JSON text) of a request under `/v1/` other than OPTIONS."""
        start = time.monotonic()
        inference_match = _INFERENCE_PATH.fullmatch(path)
        model_match = _MODEL_PATH.fullmatch(path)
        api, model_name = None, ""
        try:
            if method == "POST" and inference_match:
                api = _API_NAMES[inference_match["method"].lower()]
                model_name = urllib.parse.unquote(inference_match["name"])
                text = self._inference_request(api, _model_spec(inference_match), body, start)
            elif method == "GET" and model_match and model_match["metadata"]:
                api = "GetModelMetadata"
                model_name = urllib.parse.unquote(model_match["name"] or "")
                text = self._metadata_request(_model_spec(model_match))
            elif method == "GET" and model_match:
                text = _proto_json(self._manager.status(_model_spec(model_match)))
            else:
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
            error = None
        except Exception as exception:
            error = errors.from_exception(exception)
            if error.code == grpc.StatusCode.INTERNAL:
                logging.exception("Internal error while serving %s %s", method, path)
        if api is not None:
            status = "OK" if error is None else error.code.name
            self._metrics.record_request(model_name, api, "REST", status, time.monotonic() - start)
        if error is not None:
            return error.http_status, _error_json(error.message)
        return 200, text

    def _metadata_request(self, spec):
        with self._manager.acquire(spec) as servable:
            return _metadata_json(self._inference.metadata(servable, [SIGNATURE_DEF_FIELD]))

    def _inference_request(self, api, spec, body, start):
        deadline = start + self._timeout_seconds if self._timeout_seconds > 0 else None
        document = json_tensors.parse(body)
        signature_name = json_tensors.signature_name(document)
        with self._manager.acquire(spec) as servable:
            if api == "Predict":
                name = signature_name or DEFAULT_SIGNATURE
                signature = servable.signature_def(name)
                if signature is None:
                    raise errors.invalid_argument(
                        f'Serving signature name: "{name}" not found in signature def'
                    )
                if not signature.inputs:
                    # json_tensor.cc: `signame.empty() ? "DEFAULT" : signame`.
                    raise errors.invalid_argument(
                        "Failed to get input map for signature: "
                        f"{signature_name or 'DEFAULT'}"
                    )
                inputs, request_format = json_tensors.predict_inputs(document, signature.inputs)
                _, outputs = self._inference.predict(
                    servable, signature_name, inputs, deadline=deadline
                )
                return json_tensors.predict_response(outputs, request_format)
            examples = json_tensors.examples_input(document)
            if api == "Classify":
                _, result = self._inference.classify(servable, signature_name, examples, deadline)
                return json_tensors.classify_response(result)
            _, result = self._inference.regress(servable, signature_name, examples, deadline)
            return json_tensors.regress_response(result)


class _BadBody(Exception):
    """A request body that is not read: its HTTP status and what was wrong."""

    def __init__(self, http_status, message):
        super().__init__(message)
        self.http_status = http_status
        self.message = message


class _PrefixedReader(io.RawIOBase):
    """A socket's reads, after the bytes the selector thread already received from it.

    While `deadline` (a `time.monotonic()` time) is set, a read that would
    end after it raises `TimeoutError`, however little each read waits.
    """

    def __init__(self, prefix, connection):
        super().__init__()
        self._prefix = memoryview(prefix)
        self._connection = connection
        self._socket = socket.SocketIO(connection, "rb")
        self.deadline = None

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self._prefix:
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the request did not arrive whole in time")
                self._connection.settimeout(remaining)
            return self._socket.readinto(buffer)
        size = min(len(buffer), len(self._prefix))
        buffer[:size] = self._prefix[:size]
        self._prefix = self._prefix[size:]
        return size


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.timeout = self.server.timeout_seconds  # applied to the socket by StreamRequestHandler
        super().setup()
        received, self._first_deadline = self.server.received.pop(self.connection)
        self.rfile = io.BufferedReader(_PrefixedReader(received, self.connection))

    def handle(self):
        """Answers the requests the client has sent; `keep_alive` says whether to wait for more."""
        self.keep_alive = False
        self.handle_one_request()
        while not self.close_connection:
            self.connection.settimeout(0)
            pipelined = self.rfile.peek(1)  # what the client sent after it, without waiting
            self.connection.settimeout(self.timeout)
            if not pipelined:
                self.keep_alive = True
                return
            self.handle_one_request()

    def _read_body(self):
        """The body, read by the deadline of the request (the first) or `timeout` from now."""
        deadline = self._first_deadline or time.monotonic() + self.timeout
        self._first_deadline = None
        self.rfile.raw.deadline = deadline
        try:
            return self._read_framed_body()
        finally:
            self.rfile.raw.deadline = None
            self.connection.settimeout(self.timeout)

    def _read_framed_body(self):
        max_bytes = self.server.max_body_bytes
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BadBody(501, f"Transfer-Encoding: {encoding} is not supported")
            if lengths:
                raise _BadBody(400, "Content-Length and Transfer-Encoding are both set")
            return self._read_chunked(max_bytes)
        if not lengths:
            return b""
        if len(set(lengths)) > 1 or not (lengths[0].isascii() and lengths[0].isdigit()):
            raise _BadBody(400, f"Content-Length: {', '.join(lengths)} is not a valid length")
        length = int(lengths[0])
        if length > max_bytes:
            raise _BadBody(413, f"Content-Length: {length} exceeds the limit of {max_bytes} bytes")
        return self._read_exactly(length, "the body")

    def _read_exactly(self, size, what):
        data = self.rfile.read(size)
        if len(data) < size:
            raise _BadBody(400, f"the connection closed {size - len(data)} bytes before the end of {what}")
        return data

    def _read_line(self, what):
        line = self.rfile.readline(_MAX_LINE_BYTES + 1)
        if len(line) > _MAX_LINE_BYTES or not line.endswith(b"\n"):
            raise _BadBody(400, f"Malformed chunked body: {what} line")
        return line.strip()

    def _read_chunked(self, max_bytes):
        chunks, total = [], 0
        while True:
            size_text = self._read_line("chunk size").split(b";")[0].strip()
            if not _HEX.fullmatch(size_text):
                raise _BadBody(400, "Malformed chunked body: chunk size is not hexadecimal")
            size = int(size_text, 16)
            if not size:
                break
            total += size
            if total > max_bytes:
                raise _BadBody(413, f"Chunked body exceeds the limit of {max_bytes} bytes")
            chunks.append(self._read_exactly(size, "a chunk"))
            if self._read_line("chunk end"):
                raise _BadBody(400, "Malformed chunked body: a chunk is longer than its size")
        for _ in range(_MAX_TRAILER_LINES):
            if not self._read_line("trailer"):
                return b"".join(chunks)
        raise _BadBody(400, f"Malformed chunked body: more than {_MAX_TRAILER_LINES} trailer lines")

    def _answer(self):
        try:
            body = self._read_body()
        except _BadBody as error:
            self.close_connection = True  # the rest of the body is still on the wire
            return error.http_status, [("Content-Type", _JSON)], _error_json(error.message)
        path = urllib.parse.urlsplit(self.path).path
        # evhttp_find_header: the first Origin header, "" without one.
        origin = str(self.headers.get("Origin", ""))  # str() of a header not UTF-8 too
        return self.server.rest_api.handle(self.command, path, body, origin)

    def _respond(self):
        try:
            status, headers, text = self._answer()
            payload = text.encode("utf-8")
        except (TimeoutError, ConnectionError):
            raise  # the client is gone or too slow: nothing to answer
        except Exception:
            logging.exception("Internal error while serving %s %s", self.command, self.path)
            status, headers = 500, [("Content-Type", _JSON)]
            payload = _error_json("Internal error while serving the request").encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command == "HEAD":
            # libevent's evhttp sends a HEAD answer no Content-Length
            # (evhttp_response_needs_body); the body is not sent either.
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # The methods TF Serving's evhttp server allows (evhttp_server.cc); others get 501.
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _respond

    def handle_expect_100(self):
        """Accepts `Expect: 100-continue` unanswered: `_Server._receive` sent what was due."""
        return True

    def log_message(self, format, *args):
        logging.vlog(1, "REST %s", format % args)


class _Waiting:
    """A connection in the selector thread: what it sent so far and until when it may wait.

    Once the request started, `deadline` is when it must be whole.
    """

    def __init__(self, client_address, deadline):
        self.client_address = client_address
        self.deadline = deadline
        self.received = bytearray()


def _headers(head):
    """The request line of `head` (a request up to its blank line) and its headers.

    The headers map lowercase names to their values, in order.
    """
    request_line, *lines = bytes(head).split(b"\r\n")
    headers = collections.defaultdict(list)
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()].append(value.strip())
    return request_line, headers


def _request_is_whole(received, max_body_bytes, may_buffer):
    """Whether `received` holds a whole request, or one a worker answers without its body.

    `None` while more bytes are needed; `False` for headers over
    `MAX_HEADER_BYTES`; `True` for a request whose declared body has arrived,
    for one whose body framing is malformed or over `max_body_bytes` (the
    worker answers 400, 413 or 501 without reading it), and, unless
    `may_buffer`, for one whose headers have arrived (the worker reads the
    rest of its body).
    """
    end = received.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
    if end < 0:
        return False if len(received) >= MAX_HEADER_BYTES + 4 else None
    _, headers = _headers(received[:end])
    lengths = headers[b"content-length"]
    encodings = [encoding.lower() for encoding in headers[b"transfer-encoding"]]
    body = memoryview(received)[end + 4 :]
    if encodings:
        if encodings != [b"chunked"] or lengths:
            return True
        whole = _chunks_are_whole(body, max_body_bytes)
    elif not lengths or len(set(lengths)) > 1 or not lengths[0].isdigit():
        return True
    else:
        length = int(lengths[0])
        whole = True if length > max_body_bytes or len(body) >= length else None
    return True if whole is None and not may_buffer else whole


def _should_continue(received, max_body_bytes):
    """Whether `received`, the start of a request, is due a `100 Continue` now.

    It is when its headers have all arrived and nothing after them, it is
    HTTP/1.1 with `Expect: 100-continue`, and it declares a body (chunked, or
    a valid `Content-Length` from 1 to `max_body_bytes`): libevent's rule.
    """
    end = received.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
    if end < 0 or len(received) > end + 4:
        return False
    request_line, headers = _headers(received[:end])
    expectations = [value.lower() for value in headers[b"expect"]]
    if request_line.rpartition(b" ")[2] != b"HTTP/1.1" or expectations != [b"100-continue"]:
        return False
    lengths, encodings = headers[b"content-length"], headers[b"transfer-encoding"]
    if encodings:
        return not lengths and [encoding.lower() for encoding in encodings] == [b"chunked"]
    return (
        len(set(lengths)) == 1
        and lengths[0].isdigit()
        and 0 < int(lengths[0]) <= max_body_bytes
    )


def _chunks_are_whole(body, max_body_bytes):
    """`_request_is_whole` for a chunked body: its last chunk and trailers arrived, or it is bad."""
    position, total = 0, 0
    while True:
        line_end = bytes(body[position : position + _MAX_LINE_BYTES + 2]).find(b"\r\n")
        if line_end < 0:
            return True if len(body) - position > _MAX_LINE_BYTES else None
        size_text = bytes(body[position : position + line_end]).split(b";")[0].strip()
        if not _HEX.fullmatch(size_text):
            return True
        size = int(size_text, 16)
        position += line_end + 2
        total += size
        if total > max_body_bytes:
            return True
        if not size:
            break
        position += size + 2
        if position > len(body):
            return None
    for _ in range(_MAX_TRAILER_LINES):
        line_end = bytes(body[position:]).find(b"\r\n")
        if line_end < 0:
            return None
        position += line_end + 2
        if not line_end:
            return True
    return True


class _Server(http.server.HTTPServer):
    """An HTTP server whose requests are served by a fixed pool of worker threads.

    Connections waiting for a request are watched by one selector thread,
    which reads each request until it is whole (or its bytes held would pass
    `max_buffered_bytes`), hands it to a worker, and closes connections whose
    wait is over.

    Args:
        address: `(host, port)` to listen on.
        rest_api: a `RestApi`, or anything with its `handle`.
        num_threads: the workers serving connections (`--rest_api_num_threads`).
        timeout_seconds: how long a request may take to arrive, from its first byte.
        keep_alive_seconds: how long a kept-alive connection may wait for its next request.
        max_body_bytes: the largest request body read; larger ones get 413.
        max_buffered_bytes: the most the selector thread holds of requests
            still arriving, all connections together.
    """

    # socketserver listens with a backlog of 5, which refuses connections as
    # soon as a few dozen clients connect at once (every urllib request is a
    # new connection); TensorFlow Serving's server takes them.
    request_queue_size = 1024

    def __init__(
        self,
        address,
        rest_api,
        num_threads=DEFAULT_NUM_THREADS,
        timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
        keep_alive_seconds=DEFAULT_KEEP_ALIVE_SECONDS,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        max_buffered_bytes=DEFAULT_MAX_BUFFERED_BYTES,
    ):
        if num_threads < 1:
            raise ValueError(f"num_threads must be positive; got {num_threads}")
        super().__init__(address, _Handler)
        self.rest_api = rest_api
        self.timeout_seconds = timeout_seconds
        self.keep_alive_seconds = keep_alive_seconds
        self.max_body_bytes = max_body_bytes
        self.max_buffered_bytes = max_buffered_bytes
        self._buffered = 0  # bytes of the requests the selector thread is reading
        self._workers = concurrent.futures.ThreadPoolExecutor(num_threads, thread_name_prefix="rest")
        self._open_connections = threading.Semaphore(MAX_OPEN_CONNECTIONS)
        self._selector = selectors.DefaultSelector()
        self._wake_up, self._wake_up_call = socket.socketpair()
        self._wake_up_call.setblocking(False)
        self._selector.register(self._wake_up, selectors.EVENT_READ)
        self._arrivals = collections.deque()  # (connection, address, seconds to wait), to register
        # connection -> (the bytes of its request so far, when it must be whole), for its worker
        self.received = {}
        self._closing = False
        self._watcher = threading.Thread(
            target=self._watch, name="rest-connections", daemon=True
        )
        self._watcher.start()

    def process_request(self, request, client_address):
        self._open_connections.acquire()  # too many open: stop accepting until one closes
        self._wait_for_request(request, client_address, self.timeout_seconds)

    def _wait_for_request(self, request, client_address, seconds):
        self._arrivals.append((request, client_address, seconds))
        self._call_watcher()

    def _call_watcher(self):
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes it up as well
            self._wake_up_call.send(b"\0")

    def _watch(self):
        waiting = {}  # connection -> _Waiting
        while not self._closing:
            first = min((entry.deadline for entry in waiting.values()), default=None)
            timeout = None if first is None else max(first - time.monotonic(), 0)
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._wake_up:
                    self._wake_up.recv(4096)
                else:
                    self._receive(key.fileobj, waiting)
            while self._arrivals:
                request, client_address, seconds = self._arrivals.popleft()
                self._selector.register(request, selectors.EVENT_READ)
                waiting[request] = _Waiting(client_address, time.monotonic() + seconds)
            now = time.monotonic()
            for request in [r for r, entry in waiting.items() if entry.deadline <= now]:
                self._stop_watching(request, waiting)
                self._close(request)
        for request in waiting:
            self._close(request)

    def _receive(self, request, waiting):
        """Reads what `request` sent; hands a whole request to a worker, closes a gone client."""
        entry = waiting[request]
        try:
            data = request.recv(_RECEIVE_BYTES)
        except OSError:  # reset: nothing can be answered
            self._stop_watching(request, waiting)
            self._close(request)
            return
        if not entry.received:  # the request started: it has timeout_seconds to arrive whole
            entry.deadline = time.monotonic() + self.timeout_seconds
        entry.received += data
        self._buffered += len(data)
        may_buffer = self._buffered <= self.max_buffered_bytes
        # The client closed its side: nothing more will come. Half a request
        # goes to a worker, which answers what is wrong with it; none, closes.
        whole = _request_is_whole(entry.received, self.max_body_bytes, may_buffer) if data else True
        if data and _should_continue(entry.received, self.max_body_bytes):
            # Due only while nothing of the body has arrived: sent at most once.
            with contextlib.suppress(OSError):
                request.sendall(_CONTINUE)
        if whole is None:
            return
        self._stop_watching(request, waiting)
        if entry.received and whole:
            self.received[request] = (bytes(entry.received), entry.deadline)
            self._workers.submit(self._serve, request, entry.client_address)
            return
        if entry.received:
            body = _error_json(f"The request's headers exceed {MAX_HEADER_BYTES} bytes").encode()
            with contextlib.suppress(OSError):
                request.sendall(_HEADERS_TOO_LARGE % (len(body), body))
        self._close(request)

    def _stop_watching(self, request, waiting):
        self._selector.unregister(request)
        self._buffered -= len(waiting.pop(request).received)

    def _serve(self, request, client_address):
        keep_alive = False
        try:
            keep_alive = self.RequestHandlerClass(request, client_address, self).keep_alive
        except Exception as error:  # the client reset or timed out mid-request
            logging.vlog(1, "REST connection from %s ended: %r", client_address, error)
        if keep_alive and not self._closing:
            self._wait_for_request(request, client_address, self.keep_alive_seconds)
        else:
            self._close(request)

    def _close(self, request):
        self.shutdown_request(request)
        self._open_connections.release()

    def server_close(self):
        super().server_close()
        self._closing = True
        self._call_watcher()
        self._watcher.join()
        self._selector.close()
        self._wake_up.close()
        self._wake_up_call.close()
        self._workers.shutdown(wait=False)


def create_server(port, rest_api, **options):
    """An HTTP server answering with `rest_api` on `port` of all interfaces (not yet serving).

    `options` are `_Server`'s: `num_threads`, `timeout_seconds`,
    `keep_alive_seconds`, `max_body_bytes`, `max_buffered_bytes`.
    """
    return _Server(("0.0.0.0", port), rest_api, **options)
