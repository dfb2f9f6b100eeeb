"""The model server takes `tensorflow_model_server`'s 2.20 command line (serving/model_server/__main__.py).

A harness that starts TF Serving's binary must be able to start ours with the
same flags: every flag of TF Serving 2.20's main.cc is accepted, those we
honour change what the server does (a UNIX socket, gRPC channel arguments,
MetaGraph tags, TLS), those we cannot are logged, and bad configurations stop
the server with TF Serving's messages.
"""

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.model_server import configs, monitoring, rest_service, versions
from tests.serving import saved_models
from tests.serving.model_servers import ROOT, ModelServer
from tests.serving.protos import predict_request, rpc_error

# Every flag of TF Serving 2.20's tensorflow_model_server with a value of the
# kind it takes, besides --port and --rest_api_port (ModelServer sets them) and
# the paths every_flag_server adds: --model_base_path, --grpc_socket_path,
# --ssl_config_file.
TF_SERVING_FLAGS = {
    "grpc_channel_arguments": "grpc.max_receive_message_length=4096",
    "grpc_max_threads": "8",
    "use_alts_credentials": "false",
    "enable_grpc_healthcheck_service": "true",
    "enable_profiler": "true",
    "enable_serialization_as_tensor_content": "true",
    "rest_api_num_threads": "4",
    "rest_api_timeout_in_ms": "30000",
    "rest_api_enable_cors_support": "true",
    "model_name": "half_plus_two",
    "model_config_file": "",
    "model_config_file_poll_wait_seconds": "0",
    "file_system_poll_wait_seconds": "1",
    "flush_filesystem_caches": "true",
    "allow_version_labels_for_unavailable_models": "false",
    "max_num_load_retries": "5",
    "load_retry_interval_micros": "60000000",
    "num_load_threads": "0",
    "num_unload_threads": "0",
    "saved_model_tags": "serve,tpu",
    "enable_model_warmup": "true",
    "num_request_iterations_for_warmup": "0",
    "remove_unused_fields_from_bundle_metagraph": "true",
    "platform_config_file": "",
    "monitoring_config_file": "",
    "enable_batching": "false",
    "batching_parameters_file": "",
    "enable_per_model_batching_parameters": "false",
    "tensorflow_session_parallelism": "0",
    "tensorflow_intra_op_parallelism": "2",
    "tensorflow_inter_op_parallelism": "2",
    "tensorflow_session_config_file": "",
    "per_process_gpu_memory_fraction": "0",
    "enable_signature_method_name_check": "false",
    "xla_cpu_compilation_enabled": "false",
    "xla_gpu_compilation_enabled": "false",
    "mixed_precision": "",
    "thread_pool_factory_config_file": "",
    "skip_initialize_tpu": "false",
    "prefer_tflite_model": "false",
    "num_tflite_pools": "1",
    "num_tflite_interpreters_per_pool": "1",
    "version": "false",
}
SMALL_X = {"x": np.array([2.0], np.float32)}


def _model_server_process(*flags):
    return subprocess.run(
        [sys.executable, "-m", "serving.model_server", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
    )


def _tls_files(directory):
    """A self-signed certificate for localhost and the SSLConfig file serving it: (cert, config path)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    ssl_config = directory / "ssl.config"
    ssl_config.write_text(
        text_format.MessageToString(
            configs.SSLConfig(server_key=key.read_text(), server_cert=cert.read_text())
        )
    )
    return cert.read_bytes(), ssl_config


@pytest.fixture(scope="module")
def every_flag_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flags")
    saved_models.write_half_plus_two(directory / "half_plus_two", 1, tags=("serve", "tpu"))
    cert, ssl_config = _tls_files(directory)
    # A UNIX socket path is limited to about 100 bytes: pytest's tmp_path can be longer.
    socket_directory = tempfile.mkdtemp(prefix="ms-")
    socket_path = os.path.join(socket_directory, "grpc.sock")
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    server = ModelServer(
        directory,
        *(f"--{name}={value}" for name, value in TF_SERVING_FLAGS.items()),
        f"--model_base_path={directory / 'half_plus_two'}",
        f"--grpc_socket_path={socket_path}",
        f"--ssl_config_file={ssl_config}",
        credentials=credentials,
    )
    try:
        server.wait_until_serving("half_plus_two")
        yield server, socket_path, credentials
    finally:
        server.stop()
        shutil.rmtree(socket_directory, ignore_errors=True)


def test_every_flag_is_accepted_and_tls_grpc_is_served_on_the_port_and_unix_socket(
    every_flag_server,
):
    server, socket_path, credentials = every_flag_server
    # saved_model_tags=serve,tpu loaded the MetaGraph saved with exactly those tags.
    response = server.prediction.Predict(predict_request("half_plus_two", SMALL_X), timeout=30)
    # enable_serialization_as_tensor_content: the float is in the raw bytes.
    assert list(response.outputs["y"].float_val) == []
    assert np.frombuffer(response.outputs["y"].tensor_content, np.float32).tolist() == [3.0]
    localhost = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(f"unix:{socket_path}", credentials, localhost) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request("half_plus_two", SMALL_X), timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.0]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(plain)
        assert rpc_error(stub.Predict, predict_request("half_plus_two", SMALL_X)).code() == (
            grpc.StatusCode.UNAVAILABLE
        )


def test_grpc_channel_arguments_are_server_options(every_flag_server):
    server, _, _ = every_flag_server
    big = {"x": np.zeros([2000], np.float32)}  # 8 KB, over the 4096 bytes the flag allows
    error = rpc_error(server.prediction.Predict, predict_request("half_plus_two", big))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_grpc_health_check_service_answers_for_the_server(every_flag_server):
    server, _, _ = every_flag_server
    # grpc.health.v1 messages as bytes: HealthCheckRequest{service}, HealthCheckResponse{status}.
    check = server.channel.unary_unary("/grpc.health.v1.Health/Check")
    assert check(b"", timeout=30) == b"\x08\x01"  # SERVING
    error = rpc_error(check, b"\x0a\x03foo")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(check, b"\xff\xff")  # no HealthCheckRequest: refused, as other methods refuse it
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INTERNAL,
        "Exception deserializing request!",
    )
    assert check(b"", timeout=30) == b"\x08\x01"


def test_flags_not_honoured_are_logged_at_startup(every_flag_server):
    server, _, _ = every_flag_server
    log = server.log()
    assert "--enable_profiler=True is accepted but not honoured" in log
    assert "--grpc_max_threads" not in log
    assert "--rest_api_enable_cors_support" not in log  # honoured


# TF Serving's AddCORSHeaders (http_rest_api_util.cc).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


def _http(port, method, path, headers=(), body=None):
    """(status, {header: value}, body bytes) of one request on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=dict(headers))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _cors_headers(headers):
    return {name: value for name, value in headers.items() if name.startswith("Access-Control-")}


@pytest.mark.parametrize(
    "method, path, headers, body, status",
    [
        ("GET", "/v1/models/half_plus_two", (), None, 200),
        ("GET", "/v1/models/half_plus_two/metadata", (), None, 200),
        ("POST", "/v1/models/half_plus_two:predict", (), b'{"instances": [1.0]}', 200),
        ("GET", "/v1/models/nope", (), None, 404),
        ("POST", "/v1/models/half_plus_two:predict", (), b"{", 400),
        ("PUT", "/v1/models/half_plus_two", (), None, 400),
        ("HEAD", "/v1/models/half_plus_two", (), None, 400),
        ("OPTIONS", "/v1/models/half_plus_two:predict", [("Origin", "http://a.example")], None, 200),
        ("OPTIONS", "/v1/models/half_plus_two:predict", (), None, 400),
    ],
)
def test_rest_api_enable_cors_support_adds_cors_headers_to_every_v1_reply(
    every_flag_server, method, path, headers, body, status
):
    """TF Serving's RestApiRequestDispatcher adds them whatever the status, OPTIONS included."""
    server, _, _ = every_flag_server
    answer_status, answer_headers, answer = _http(server.rest_port, method, path, headers, body)
    assert answer_status == status, answer
    assert _cors_headers(answer_headers) == CORS_HEADERS


def test_cors_headers_are_only_added_under_v1(every_flag_server):
    server, _, _ = every_flag_server
    status, headers, _ = _http(server.rest_port, "GET", "/v2/models/half_plus_two")
    assert status == 404
    assert _cors_headers(headers) == {}
    # Nor to the Prometheus page, which TF Serving serves with a handler of its own.
    manager = versions.VersionManager(file_system_poll_wait_seconds=0)
    metrics_path = "/monitoring/prometheus/metrics"
    api = rest_service.RestApi(
        manager, None, monitoring.Metrics(manager.is_served), 0, metrics_path, cors=True
    )
    status, headers, _ = api.handle("GET", metrics_path, b"")
    assert status == 200
    assert not [name for name, _ in headers if name.startswith("Access-Control-")]
    status, headers, _ = api.handle("GET", "/v1/models/nope", b"")
    assert status == 404
    assert _cors_headers(dict(headers)) == CORS_HEADERS


def test_version_prints_both_versions_and_exits():
    finished = _model_server_process("--version")
    assert finished.returncode == 0
    lines = finished.stdout.splitlines()
    assert lines[0].startswith("TensorFlow ModelServer: 2.20")
    assert lines[1].startswith("TensorFlow Library: 2.20")


@pytest.mark.parametrize(
    "case",
    ["bad model config", "session parallelism set twice", "unknown flag", "bad channel argument"],
)
def test_bad_configurations_stop_the_server_with_tf_serving_messages(tmp_path, case):
    config = tmp_path / "models.config"
    config.write_text('model_config_list {\n  config { nme: "x" }\n}\n')
    model = f"--model_base_path={tmp_path}"
    flags, message = {
        "bad model config": (
            [f"--model_config_file={config}"],
            "Error parsing text-format tensorflow.serving.ModelServerConfig: 2:",
        ),
        "session parallelism set twice": (
            [model]
            + [f"--tensorflow_{name}_parallelism=2" for name in ("session", "intra_op", "inter_op")],
            "Either configure --tensorflow_session_parallelism or",
        ),
        "unknown flag": ([model, "--no_such_flag=1"], "Unknown command line flag 'no_such_flag'"),
        "bad channel argument": (
            [model, "--grpc_channel_arguments=grpc.http2.max_pings_without_data"],
            "--grpc_channel_arguments: 'grpc.http2.max_pings_without_data' is not key=value",
        ),
    }[case]
    finished = _model_server_process(*flags)
    assert finished.returncode != 0
    assert message in finished.stderr



def test_a_grpc_port_in_use_stops_the_server(tmp_path):
    saved_models.write_half_plus_two(tmp_path / "half_plus_two", 1)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        finished = _model_server_process(
            f"--port={taken.getsockname()[1]}",
            "--model_name=half_plus_two",
            f"--model_base_path={tmp_path / 'half_plus_two'}",
        )
    assert finished.returncode != 0
    assert "Failed to start the model server: Failed to bind to address" in finished.stderr
