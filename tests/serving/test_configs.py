"""The config files the model server reads (serving/model_server/configs.py), as TF Serving writes them.

The deployment configs in serving/deploy are written for TF Serving 2.20; our
server must read the very same files.
"""

import os
from pathlib import Path

import grpc
import pytest

from serving.model_server import configs, errors
from serving.model_server.batching import Batcher

DEPLOY = Path(__file__).resolve().parents[2] / "serving" / "deploy"


def test_the_deploy_configs_are_read_as_tf_serving_reads_them():
    models = configs.read_model_server_config(DEPLOY / "models.config").model_config_list.config
    assert [(model.name, model.model_version_policy.latest.num_versions) for model in models] == [
        ("sentiment", 2),
        ("ner", 1),
    ]
    batcher = Batcher(configs.read_batching_parameters(DEPLOY / "batching.config"))
    assert (
        batcher.max_batch_size,
        batcher.batch_timeout_seconds,
        batcher.max_enqueued_batches,
    ) == (32, 0.002, 64)
    assert batcher.allowed_batch_sizes == [1, 4, 8, 16, 32]
    assert (
        configs.read_prometheus_path(DEPLOY / "monitoring.config")
        == "/monitoring/prometheus/metrics"
    )


def test_unset_batching_parameters_take_tf_serving_defaults():
    batcher = Batcher(configs.read_batching_parameters(""))
    assert (
        batcher.max_batch_size,
        batcher.batch_timeout_seconds,
        batcher.max_enqueued_batches,
    ) == (1000, 0, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 4",
            "final entry in allowed_batch_sizes must equal",
        ),
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 8 allowed_batch_sizes: 4",
            "monotonically increasing",
        ),
        ("max_batch_size: 8", "max_batch_size"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be non-negative; was -1"),
        ("batch_size { value: 8 }", 'has no field named "batch_size"'),
    ],
)
def test_invalid_batching_parameters_are_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "batching.config"
    path.write_text(text)
    with pytest.raises(errors.ServingError) as failure:
        Batcher(configs.read_batching_parameters(path))
    assert failure.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in failure.value.message


def test_tf_serving_2_20_batching_parameters_are_read_and_unhonoured_ones_logged(tmp_path, caplog):
    path = tmp_path / "batching.config"
    # As TF Serving's saved_model_bundle_factory_test writes them.
    path.write_text(
        "max_batch_size { value: 4 } enable_large_batch_splitting { value: True } "
        "max_execution_batch_size { value: 2 }"
    )
    parameters = configs.read_batching_parameters(path)
    assert parameters.enable_large_batch_splitting.value
    assert parameters.max_execution_batch_size.value == 2
    assert Batcher(parameters).max_batch_size == 4
    assert "enable_large_batch_splitting is accepted but not honoured" in caplog.text


def test_zero_max_enqueued_batches_means_one_as_in_tf_serving(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("max_enqueued_batches { value: 0 }")
    assert Batcher(configs.read_batching_parameters(path)).max_enqueued_batches == 1


def test_monitoring_can_be_enabled_on_the_default_path_or_left_off(tmp_path):
    enabled, disabled = tmp_path / "on.config", tmp_path / "off.config"
    enabled.write_text("prometheus_config { enable: true }")
    disabled.write_text('prometheus_config { path: "/metrics" }')
    assert configs.read_prometheus_path(enabled) == configs.DEFAULT_PROMETHEUS_PATH
    assert configs.read_prometheus_path(disabled) is None
    assert configs.read_prometheus_path("") is None


def test_the_session_config_stops_idle_threads_spinning_unless_a_file_says_otherwise(tmp_path):
    assert configs.read_session_config("").experimental.disable_thread_spinning
    written = tmp_path / "session.config"
    written.write_text("intra_op_parallelism_threads: 3\n")
    from_file = configs.read_session_config(written)
    assert from_file.intra_op_parallelism_threads == 3
    assert not from_file.experimental.disable_thread_spinning


def test_the_session_config_leaves_a_cpu_to_the_front_end_unless_a_file_says_otherwise(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    assert configs.read_session_config("").intra_op_parallelism_threads == max(1, cpus - 1)
    written = tmp_path / "session.config"
    written.write_text("inter_op_parallelism_threads: 2\n")
    assert configs.read_session_config(written).intra_op_parallelism_threads == 0
