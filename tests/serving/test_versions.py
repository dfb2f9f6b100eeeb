"""The version manager (serving/model_server/versions.py) seen from outside: versions come and go under load.

One server polls a base path every second and re-reads its config file every
second; the tests add versions to it while clients keep sending requests, and
give it directories, files and configs that must not stop it. A few tests run
a `VersionManager` in-process, its loader returning the version's path.
"""

import shutil
import subprocess
import threading
import time
import uuid

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2, model_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.model_server import errors, versions
from tests.serving import saved_models
from tests.serving.model_servers import ModelServer
from tests.serving.protos import predict_request, status_request

State = get_model_status_pb2.ModelVersionStatus
CONFIG = """
model_config_list {{
  config {{
    name: "live"
    base_path: "{base_path}"
    model_platform: "tensorflow"
    {labels}
  }}
}}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    directory = tmp_path_factory.mktemp("live_server")
    base_path = directory / "live"
    saved_models.write_text_model(base_path, 1)
    config = directory / "models.config"
    config.write_text(CONFIG.format(base_path=base_path, labels=""))
    server = ModelServer(
        directory,
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
    )
    server.base_path = base_path
    server.config_path = config
    try:
        server.wait_until_serving("live")
        yield server
    finally:
        server.stop()


def _predict(server, timeout=10, **selector):
    request = predict_request("live", {"text": np.array([b"abc"], dtype=object)}, **selector)
    return server.prediction.Predict(request, timeout=timeout)


def serving_version(server):
    return _predict(server).outputs["version"].int64_val[0]


def rest_serving_version(server):
    status, body = server.rest("POST", "/v1/models/live:predict", {"instances": ["abc"]})
    assert status == 200, body
    return body["predictions"][0]["version"]


def states(server):
    response = server.models.GetModelStatus(status_request("live"), timeout=10)
    return {status.version: status for status in response.model_version_status}


def wait_for(condition, timeout=30, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


class _Client(threading.Thread):
    """Sends requests in a loop and records the version of every answer, or its error."""

    def __init__(self, send):
        super().__init__(daemon=True)
        self.send = send
        self.versions = []
        self.failures = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.versions.append(self.send())
            except Exception as failure:  # every failure is a finding
                self.failures.append(failure)
            time.sleep(0.01)


def test_a_new_version_is_served_without_a_failed_request(live):
    old = serving_version(live)
    clients = [_Client(lambda: serving_version(live)), _Client(lambda: rest_serving_version(live))]
    for client in clients:
        client.start()
    saved_models.write_text_model(live.base_path, old + 1)
    wait_for(lambda: all(old + 1 in client.versions[-3:] for client in clients))
    for client in clients:
        client.stopped.set()
        client.join()
        assert not client.failures
        assert client.versions == sorted(client.versions)  # switched once, never back
        assert {old, old + 1} <= set(client.versions)
    wait_for(lambda: states(live)[old].state == State.END)
    assert states(live)[old + 1].state == State.AVAILABLE


def test_an_old_version_is_unloaded_only_after_its_in_flight_requests(live):
    old = serving_version(live)
    slow = {}
    request = predict_request("live", {"seconds": np.array([4.0], np.float32)}, signature="wait")
    in_flight = threading.Thread(
        target=lambda: slow.update(response=live.prediction.Predict(request, timeout=30))
    )
    in_flight.start()
    time.sleep(0.5)
    saved_models.write_text_model(live.base_path, old + 1)
    wait_for(lambda: states(live)[old].state == State.UNLOADING, timeout=3.4, interval=0.05)
    assert states(live)[old + 1].state == State.AVAILABLE
    assert serving_version(live) == old + 1  # new requests go to the new version at once
    in_flight.join()
    assert slow["response"].outputs["version"].int64_val[0] == old
    wait_for(lambda: states(live)[old].state == State.END, timeout=5)


def test_polls_go_on_while_an_unloading_version_has_requests_in_flight(live):
    old = serving_version(live)
    slow = {}
    request = predict_request("live", {"seconds": np.array([8.0], np.float32)}, signature="wait")
    in_flight = threading.Thread(
        target=lambda: slow.update(response=live.prediction.Predict(request, timeout=30))
    )
    in_flight.start()
    time.sleep(0.5)
    saved_models.write_text_model(live.base_path, old + 1)
    wait_for(lambda: states(live)[old].state == State.UNLOADING, timeout=5, interval=0.05)
    saved_models.write_text_model(live.base_path, old + 2)
    wait_for(lambda: serving_version(live) == old + 2, timeout=5)  # before the request ends
    assert in_flight.is_alive()
    in_flight.join()
    assert slow["response"].outputs["version"].int64_val[0] == old
    wait_for(lambda: states(live)[old].state == State.END, timeout=5)


def test_a_version_that_fails_to_load_leaves_the_serving_one_untouched(live):
    good = serving_version(live)
    saved_models.write_broken_model(live.base_path, good + 1)
    wait_for(lambda: good + 1 in states(live) and states(live)[good + 1].state == State.END)
    broken = states(live)[good + 1].status
    assert broken.error_code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "saved_model" in broken.error_message
    assert states(live)[good].state == State.AVAILABLE
    assert serving_version(live) == good
    status, body = live.rest("GET", "/v1/models/live")
    assert body["model_version_status"][0]["status"]["error_code"] == "DATA_LOSS"
    saved_models.write_text_model(live.base_path, good + 2)  # a later good version takes over
    wait_for(lambda: serving_version(live) == good + 2)
    assert states(live)[good + 1].state == State.END


def test_a_version_that_failed_to_load_is_loaded_again_once_removed_and_put_back(live):
    good = serving_version(live)
    saved_models.write_broken_model(live.base_path, good + 1)
    wait_for(lambda: good + 1 in states(live) and states(live)[good + 1].state == State.END)
    shutil.rmtree(live.base_path / str(good + 1))
    time.sleep(2.5)  # a poll sees it gone: no longer aspired, as TF Serving's FlushServables wants
    saved_models.write_text_model(live.base_path, good + 1)
    wait_for(lambda: serving_version(live) == good + 1, timeout=15)
    assert states(live)[good + 1].status.error_code == 0


def reload_models(live, **base_paths):
    """Serves "live" and the models of `base_paths` (name: base path), by a reload request."""
    config = model_server_config_pb2.ModelServerConfig()
    for name, base_path in {"live": live.base_path, **base_paths}.items():
        config.model_config_list.config.add(
            name=name, base_path=str(base_path), model_platform="tensorflow"
        )
    live.models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=60
    )


def test_a_base_path_left_with_no_versions_unloads_every_version(live, tmp_path):
    saved_models.write_text_model(tmp_path / "emptied", 1)
    reload_models(live, emptied=tmp_path / "emptied")
    emptied = predict_request("emptied", {"text": np.array([b"abc"], dtype=object)})
    try:
        assert live.prediction.Predict(emptied, timeout=10).model_spec.version.value == 1
        shutil.move(tmp_path / "emptied" / "1", tmp_path / "away")  # the base path stays, empty

        def unloaded():
            status = live.models.GetModelStatus(status_request("emptied"), timeout=10)
            return status.model_version_status[0].state == State.END

        wait_for(unloaded, timeout=10)
        with pytest.raises(grpc.RpcError) as failure:
            live.prediction.Predict(emptied, timeout=10)
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        reload_models(live)


def test_labels_follow_the_config_file_and_reload_requests(live):
    version = serving_version(live)
    live.config_path.write_text(
        CONFIG.format(
            base_path=live.base_path, labels=f'version_labels {{ key: "stable" value: {version} }}'
        )
    )

    def stable_answers():
        try:
            return _predict(live, label="stable").model_spec.version.value == version
        except grpc.RpcError:
            return False

    wait_for(stable_answers, timeout=15)

    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name="live", base_path=str(live.base_path), model_platform="tensorflow"
    )
    model.version_labels["next"] = version + 100
    with pytest.raises(grpc.RpcError) as failure:
        live.models.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"version {version + 100} of model live" in failure.value.details()
    assert (
        _predict(live, label="stable").model_spec.version.value == version
    )  # the failed reload changed nothing

    model.version_labels["next"] = version
    response = live.models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=30
    )
    assert response.status.error_code == 0
    assert _predict(live, label="next").model_spec.version.value == version


def test_reload_requests_add_and_remove_models(live, tmp_path):
    saved_models.write_text_model(tmp_path / "extra", 7)
    reload_models(live, extra=tmp_path / "extra")
    extra = predict_request("extra", {"text": np.array([b"abc"], dtype=object)})
    assert (
        live.prediction.Predict(extra, timeout=10).model_spec.version.value == 7
    )  # available on return

    reload_models(live)
    with pytest.raises(grpc.RpcError) as failure:
        live.prediction.Predict(extra, timeout=10)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    response = live.models.GetModelStatus(status_request("extra"), timeout=10)
    assert [(s.version, s.state) for s in response.model_version_status] == [(7, State.END)]
    assert serving_version(live) >= 1


def test_the_config_poll_outlives_bad_files_and_models_that_never_load(live, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (live.base_path / "\u00b2").mkdir()  # isdigit(), but no version: int() raises
    (live.base_path / "\u0661").mkdir()  # an Arabic-Indic one
    never = CONFIG.format(base_path=live.base_path, labels="").replace(
        "model_config_list {",
        f'model_config_list {{ config {{ name: "never" base_path: "{empty}" }}',
    )
    live.config_path.write_text(never)
    time.sleep(2.5)  # a poll waits at most one interval for "never"
    live.config_path.unlink()
    time.sleep(1.5)
    live.config_path.write_text("model_config_list { config { garbled")
    time.sleep(1.5)
    version = serving_version(live)
    live.config_path.write_text(
        CONFIG.format(
            base_path=live.base_path, labels=f'version_labels {{ key: "after" value: {version} }}'
        )
    )

    def label_applied():
        try:
            return _predict(live, label="after").model_spec.version.value == version
        except grpc.RpcError:
            return False

    wait_for(label_applied, timeout=15)
    saved_models.write_text_model(live.base_path, version + 1)  # base path polls go on too
    wait_for(lambda: serving_version(live) == version + 1)
    assert "Traceback" in live.log()  # the failures were logged, and outlived


def test_a_reload_request_waits_for_a_model_with_no_versions_until_its_deadline(live, tmp_path):
    config = model_server_config_pb2.ModelServerConfig()
    models = config.model_config_list.config
    models.add(name="live", base_path=str(live.base_path), model_platform="tensorflow")
    models.add(name="never", base_path=str(tmp_path), model_platform="tensorflow")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        live.models.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=2
        )
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5
    del models[1]
    response = live.models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=30
    )
    assert response.status.error_code == 0
    assert serving_version(live) >= 1


def test_only_ascii_digit_directory_names_are_versions(tmp_path):
    for name in ("1", "007", "\u00b2", "\u0661", "3x", "-4", str(2**63)):
        (tmp_path / name).mkdir()
    (tmp_path / "9").write_text("a file, not a version")
    assert versions.versions_on_disk(str(tmp_path)) == {
        1: str(tmp_path / "1"),
        7: str(tmp_path / "007"),
    }
    assert versions.versions_on_disk(str(tmp_path / "missing")) is None


def _manager_serving(name, base_path):
    manager = versions.VersionManager(
        file_system_poll_wait_seconds=0, load=lambda name, version, path: path
    )
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=name, base_path=base_path)
    model.model_version_policy.all.SetInParent()
    manager.reload_config(config)
    return manager


def _available(manager, name):
    response = manager.status(model_pb2.ModelSpec(name=name))
    return sorted(s.version for s in response.model_version_status if s.state == State.AVAILABLE)


def test_base_paths_are_read_through_tf_io_gfile():
    base_path = f"ram://versions-{uuid.uuid4().hex}/model"  # a URI, as gs:// or s3:// would be
    for version in (3, 5):
        tf.io.gfile.makedirs(f"{base_path}/{version}")
    manager = _manager_serving("remote", base_path)
    assert _available(manager, "remote") == [3, 5]
    with manager.acquire(model_pb2.ModelSpec(name="remote")) as loaded_path:
        assert loaded_path == f"{base_path}/5"


def test_a_failed_listing_keeps_every_serving_version(tmp_path):
    base_path = tmp_path / "model"
    for version in (1, 2):
        (base_path / str(version)).mkdir(parents=True)
    manager = _manager_serving("model", str(base_path))
    assert _available(manager, "model") == [1, 2]
    shutil.move(base_path, tmp_path / "away")
    manager.poll()
    assert _available(manager, "model") == [1, 2]
    shutil.move(tmp_path / "away", base_path)
    shutil.rmtree(base_path / "1")
    manager.poll()
    assert _available(manager, "model") == [2]


def test_a_reload_stops_waiting_at_its_deadline(tmp_path):
    manager = versions.VersionManager(file_system_poll_wait_seconds=0.1)
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="never", base_path=str(tmp_path))
    started = time.monotonic()
    with pytest.raises(errors.ServingError) as failure:
        manager.reload_config(config, deadline=time.monotonic() + 0.5)
    assert failure.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "never" in failure.value.message
    assert time.monotonic() - started < 2
    assert manager.is_served("never")


def test_the_server_does_not_start_when_a_model_has_no_version_that_loads(tmp_path):
    saved_models.write_broken_model(tmp_path / "broken", 1)
    server = ModelServer(
        tmp_path,
        "--model_name=broken",
        f"--model_base_path={tmp_path / 'broken'}",
        "--max_num_load_retries=0",
    )
    try:
        assert server.process.wait(timeout=120) != 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server kept running:\n{server.log()[-3000:]}")
    finally:
        server.stop()
    assert "1 model(s) did not become available" in server.log()


def test_a_version_between_load_retries_is_loading_with_an_ok_status(tmp_path):
    """A failed attempt's error shows only once the version ends.

    TF Serving's BasicManager::ExecuteLoad publishes {LOADING, OK} once, and
    LoaderHarness::Load retries without publishing.
    """
    saved_models.write_text_model(tmp_path / "flaky", 1)
    saved_models.write_broken_model(tmp_path / "flaky", 2)
    config = tmp_path / "models.config"
    config.write_text(f"""
        model_config_list {{
          config {{
            name: "flaky"
            base_path: "{tmp_path / 'flaky'}"
            model_platform: "tensorflow"
            model_version_policy {{ all {{}} }}
          }}
        }}
        """)
    server = ModelServer(
        tmp_path,
        f"--model_config_file={config}",
        "--max_num_load_retries=3",
        "--load_retry_interval_micros=600000000",
    )
    try:
        server.wait_until_serving("flaky")
        # Startup tried every version once: version 2 failed and waits for its retry.
        assert "Loading servable: {name: flaky version: 2} failed" in server.log()
        response = server.models.GetModelStatus(status_request("flaky", version=2), timeout=10)
        [status] = response.model_version_status
        assert (status.version, status.state) == (2, State.LOADING)
        assert (status.status.error_code, status.status.error_message) == (0, "")
        assert server.rest("GET", "/v1/models/flaky/versions/2") == (
            200,
            {
                "model_version_status": [
                    {
                        "version": "2",
                        "state": "LOADING",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )
    finally:
        server.stop()
