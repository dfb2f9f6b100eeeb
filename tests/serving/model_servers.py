"""`ModelServer`: a real `python -m serving.model_server` process on free ports, with real clients.

It waits until the server's gRPC ModelService reports a model AVAILABLE, and
gives the tests TF Serving's own gRPC stubs and plain HTTP requests (urllib).
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from serving.model_server import rest_service

ROOT = Path(__file__).resolve().parents[2]
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving_rest_api(api, **options):
    """An in-process REST server of `api` (a `RestApi`) with `create_server`'s `options`,
    serving until the block ends; yields its port."""
    server = rest_service.create_server(free_port(), api, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_model_config(directory, *names):
    """Writes `directory/models.config` serving each model `name` from `directory/name`; returns its path."""
    config = Path(directory) / "models.config"
    config.write_text(
        "model_config_list {"
        + "".join(
            f' config {{ name: "{name}" base_path: "{Path(directory) / name}" model_platform: "tensorflow" }}'
            for name in names
        )
        + " }"
    )
    return config


class ModelServer:
    """A model server process with gRPC stubs and a REST helper.

    Args:
        directory: where its log goes.
        flags: model server flags besides --port and --rest_api_port.
        credentials: `grpc.ChannelCredentials` for a server with TLS; None for insecure.
    """

    def __init__(self, directory, *flags, credentials=None):
        self.port = free_port()
        self.rest_port = free_port()
        self.log_path = Path(directory) / f"model_server_{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "serving.model_server",
                    f"--port={self.port}",
                    f"--rest_api_port={self.rest_port}",
                    *flags,
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
            )
        options = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ]
        if credentials is None:
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=options)
        else:
            self.channel = grpc.secure_channel(f"localhost:{self.port}", credentials, options)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self, model_name, timeout=120):
        """Polls GetModelStatus until `model_name` has an AVAILABLE version."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model_name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"model server exited with {self.process.returncode}:\n{self.log()[-5000:]}"
                )
            try:
                status = self.models.GetModelStatus(request, timeout=5)
                if any(
                    version.state == version.AVAILABLE for version in status.model_version_status
                ):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        pytest.fail(
            f"model server did not serve {model_name} in {timeout} s:\n{self.log()[-5000:]}"
        )

    def rest(self, method, path, body=None):
        """Sends one HTTP request; returns (status, parsed JSON body or text)."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rest_port}{path}", data=data, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
                content_type = response.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, payload, content_type = (
                error.code,
                error.read(),
                error.headers.get("Content-Type"),
            )
        text = payload.decode("utf-8")
        return status, json.loads(text) if content_type == "application/json" else text

    def stop(self):
        self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
