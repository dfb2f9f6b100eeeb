"""Test-wide TensorFlow setup: two logical CPU devices, quiet logs, clean policies."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Mirrored-strategy tests need two devices; logical devices can only be
# configured before TensorFlow initialises its runtime, so it happens here.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

# The longest test files (a worker's seconds on each, measured 2026-12-04: 60-130 s) start
# first, so that under `--dist loadfile` none of them is left to run alone at the end while
# the other workers idle. It changes the order only: every test still runs.
LONGEST_FIRST = (
    "tests/test_readme.py",
    "tests/trainers/test_pretrained_backbone.py",
    "tests/trainers/test_preemption.py",
    "tests/trainers/test_distill_ner.py",
    "tests/models/test_seq2seq.py",
    "tests/trainers/test_loops.py",
    "tests/trainers/test_qa_task.py",
    "tests/trainers/test_seq2seq_task.py",
    "tests/trainers/test_distill_qa.py",
    "tests/trainers/test_distill_unlabelled.py",
)


def pytest_collection_modifyitems(items):
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True)
def _float32_policy_and_seed():
    """Every test starts in float32 with a fixed seed, whatever the last one did."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def two_cpu_strategy():
    """One MirroredStrategy over the two logical CPUs for the whole session.

    Several strategies in one process reuse collective instance keys and
    their all-reduces then mix up tensors of different tests.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
