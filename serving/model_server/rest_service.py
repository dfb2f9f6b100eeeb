"""The REST API: TF Serving's HTTP/JSON endpoints on a threaded `http.server`.

    GET  /v1/models/NAME[/versions/V | /labels/L]            model status (GetModelStatus)
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata   model metadata (GetModelMetadata)
    POST /v1/models/NAME[/versions/V | /labels/L]:predict    also :classify and :regress
    GET  /monitoring/prometheus/metrics                      when --monitoring_config_file enables it

As in TF Serving, the paths match case-insensitively, model names and labels
are URL-decoded, any other request under `/v1/` is INVALID_ARGUMENT
(`Malformed request: ...`), bodies are JSON as `json_tensors` describes, and a
failure is answered with the HTTP status of its code and `{"error": "..."}`.
Inference requests get a deadline `--rest_api_timeout_in_ms` away; it bounds
their wait for a batch (a model call already running is not interrupted).
"""

import http.server
import json
import re
import time
import urllib.parse

import grpc
from absl import logging
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving.model_server import errors, json_tensors
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
_API_NAMES = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}


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
    """

    def __init__(self, manager, inference, metrics, timeout_seconds, prometheus_path):
        self._manager = manager
        self._inference = inference
        self._metrics = metrics
        self._timeout_seconds = timeout_seconds
        self._prometheus_path = prometheus_path

    def handle(self, method, path, body):
        """Returns (HTTP status, content type, body text) for one request."""
        if self._prometheus_path is not None and path == self._prometheus_path:
            return 200, "text/plain", self._metrics.prometheus_page()
        if not _API_PATH.fullmatch(path):
            return 404, _JSON, json.dumps({"error": f"Not found: {method} {path}"})
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
            return (
                error.http_status,
                _JSON,
                json.dumps({"error": error.message}, ensure_ascii=False),
            )
        return 200, _JSON, text

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
                    raise errors.invalid_argument(f"Failed to get input map for signature: {name}")
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


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailer fields
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _respond(self):
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Malformed HTTP message body")
            return
        path = urllib.parse.urlsplit(self.path).path
        status, content_type, text = self.server.rest_api.handle(self.command, path, body)
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _respond

    def log_message(self, format, *args):
        logging.vlog(1, "REST %s", format % args)


class _Server(http.server.ThreadingHTTPServer):
    # socketserver listens with a backlog of 5, which refuses connections as
    # soon as a few dozen clients connect at once (every urllib request is a
    # new connection); TensorFlow Serving's server takes them.
    request_queue_size = 1024
    daemon_threads = True


def create_server(port, rest_api, num_threads=None):
    """A threaded HTTP server answering with `rest_api` on `port` of all interfaces (not yet serving).

    `num_threads` (`--rest_api_num_threads`) is accepted for the bounded
    worker pool; until that lands, every connection gets its own thread.
    """
    server = _Server(("0.0.0.0", port), _Handler)
    server.rest_api = rest_api
    return server
