"""Tests for trainers/strategy.py: the strategy factory, the precision policy, the chief."""

import json
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from trainers.config import SettingsError
from trainers.strategy import create_strategy, is_chief, set_precision

ROOT = Path(__file__).resolve().parents[2]


def test_default_and_one_device_strategies_have_one_replica():
    assert create_strategy("default") is tf.distribute.get_strategy()
    one_device = create_strategy("one_device", num_gpus=0)
    assert isinstance(one_device, tf.distribute.OneDeviceStrategy)
    assert one_device.num_replicas_in_sync == 1


def test_mirrored_over_cpu_replicas_already_configured():
    # conftest.py split the CPU in two before TensorFlow started.
    strategy = create_strategy("mirrored", cpu_replicas=2)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2


def test_cpu_replicas_asked_for_too_late_name_the_flag():
    with pytest.raises(SettingsError, match="--cpu_replicas=3: TensorFlow has already initialised"):
        create_strategy("mirrored", cpu_replicas=3)


@pytest.mark.parametrize("name", ["one_device", "mirrored"])
def test_more_gpus_than_there_are_name_the_flag(name):
    found = len(tf.config.list_physical_devices("GPU"))
    with pytest.raises(SettingsError, match=rf"--num_gpus={found + 1}: .*{found} GPU"):
        create_strategy(name, num_gpus=found + 1)


def test_an_unknown_strategy_is_named():
    with pytest.raises(SettingsError, match="--strategy='mirorred'"):
        create_strategy("mirorred")


def test_a_malformed_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(SettingsError, match="TF_CONFIG"):
        create_strategy("multi_worker_mirrored")


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_set_precision_sets_the_global_policy(policy):
    assert set_precision(policy).name == policy
    assert keras.mixed_precision.global_policy().name == policy


def test_an_unknown_precision_is_named():
    with pytest.raises(SettingsError, match="--mixed_precision='float16'"):
        set_precision("float16")


@pytest.mark.parametrize(
    "task, chief",
    [({"type": "worker", "index": 0}, True), ({"type": "worker", "index": 1}, False)],
)
def test_worker_zero_is_the_chief_of_a_cluster_without_one(monkeypatch, task, chief):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    # A stand-in for a MultiWorkerMirroredStrategy, which would join the cluster.
    assert is_chief(types.SimpleNamespace(cluster_resolver=resolver)) is chief
    assert is_chief(tf.distribute.get_strategy())


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_tpu_fails_within_the_timeout_naming_the_address():
    address = f"grpc://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "trainers.train", "--strategy=tpu", f"--tpu={address}",
         "--tpu_timeout_s=3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode != 0
    assert f"--tpu={address}: no TPU answered within --tpu_timeout_s=3 seconds" in result.stderr
    assert time.monotonic() - start < 60
