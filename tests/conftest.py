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
