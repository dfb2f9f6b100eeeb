"""Where the job runs: one `tf.distribute` strategy factory, the precision policy, the chief.

Create the strategy before anything else touches TensorFlow: splitting the CPU
into replicas and joining a multi-worker cluster both have to happen before
TensorFlow initialises its devices.
"""

import json
import os
import threading

import keras
import tensorflow as tf

from trainers.config import SettingsError
from trainers.flags import PRECISIONS, STRATEGIES


def create_strategy(name, num_gpus=None, cpu_replicas=None, tpu=None, tpu_timeout_s=300.0):
    """A `tf.distribute.Strategy` by name.

    Args:
        name: one of `STRATEGIES`:
            - `"default"`: TensorFlow's default (no distribution);
            - `"one_device"`: the first GPU, else the CPU;
            - `"mirrored"`: synchronous data parallelism over this machine's
              GPUs, or over `cpu_replicas` logical CPUs;
            - `"multi_worker_mirrored"`: the same across the workers that
              the `TF_CONFIG` environment variable describes (one worker
              when it is unset);
            - `"tpu"`: a Cloud TPU.
        num_gpus: int, how many GPUs `one_device`/`mirrored` may use; `None`
            for all of them, 0 for the CPU only.
        cpu_replicas: int, with `mirrored`: the number of logical CPU devices
            to split the CPU into, one replica each. Must run before
            TensorFlow initialises its devices (see the module docstring).
        tpu: str, with `tpu`: a TPU name, a `grpc://host:port` address, or
            `"local"` on a TPU VM; `None` reads the environment (`TPU_NAME`).
        tpu_timeout_s: float, seconds to wait for the TPU system to
            initialise before giving up.

    Returns:
        The strategy. Its `num_replicas_in_sync` counts every replica of
        every worker.

    Raises:
        SettingsError: an unknown `name`, more GPUs than there are, CPU
            replicas asked for too late or with GPUs in use, a malformed
            `TF_CONFIG`, or a TPU that cannot be reached within
            `tpu_timeout_s`. The message names the flag.

    Example:

    ```python
    strategy = create_strategy("mirrored", cpu_replicas=2)
    strategy.num_replicas_in_sync   # 2
    ```
    """
    if name not in STRATEGIES:
        raise SettingsError(f"--strategy={name!r} is not one of {list(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "tpu":
        return _tpu_strategy(tpu, tpu_timeout_s)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=_tf_config_resolver())
    if cpu_replicas is not None:
        return tf.distribute.MirroredStrategy(_split_cpu(cpu_replicas, num_gpus))
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if num_gpus is not None and num_gpus > len(gpus):
        raise SettingsError(
            f"--num_gpus={num_gpus}: TensorFlow found {len(gpus)} GPU(s); ask for at most that "
            "many, or leave --num_gpus unset to use all there are."
        )
    gpus = gpus[:num_gpus]
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy(gpus or ["/cpu:0"])


def set_precision(policy):
    """Sets Keras's global dtype policy; call it before building the model.

    Under `mixed_bfloat16` and `mixed_float16` variables stay float32 and
    layers compute in the lower precision; the task models' output heads
    compute in float32 whatever the policy.

    Args:
        policy: one of `PRECISIONS`.

    Returns:
        The `keras.DTypePolicy` now in force.
    """
    if policy not in PRECISIONS:
        raise SettingsError(
            f"--mixed_precision={policy!r} is not one of {list(PRECISIONS)}."
        )
    keras.mixed_precision.set_global_policy(policy)
    return keras.mixed_precision.global_policy()


def is_chief(strategy):
    """Whether this process is the one that writes the job's outputs.

    That is the `chief` task of a multi-worker cluster, worker 0 when the
    cluster has no chief, and the only process otherwise.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return not has_chief and resolver.task_type == "worker" and resolver.task_id == 0


def task_id(strategy):
    """This worker's index in a multi-worker cluster, 0 elsewhere."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return (resolver.task_id or 0) if resolver is not None else 0


def _split_cpu(cpu_replicas, num_gpus):
    """The names of `cpu_replicas` logical CPU devices, created now if need be."""
    if num_gpus or (num_gpus is None and tf.config.list_physical_devices("GPU")):
        raise SettingsError(
            "--cpu_replicas splits the CPU, but GPUs are in use; pass --num_gpus=0 to "
            "train on the CPU, or leave --cpu_replicas unset to mirror over the GPUs."
        )
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if len(configured or [None]) != cpu_replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
            )
        except RuntimeError:
            raise SettingsError(
                f"--cpu_replicas={cpu_replicas}: TensorFlow has already initialised its "
                f"devices (as {len(configured or [None])} CPU device(s)), and logical devices "
                "can only be configured before that; create the strategy before any other "
                "TensorFlow call of the process."
            ) from None
    return [f"/cpu:{index}" for index in range(cpu_replicas)]


def _tf_config_resolver():
    """The cluster of `TF_CONFIG`, with a clear error when it is malformed."""
    tf_config = os.environ.get("TF_CONFIG")
    if tf_config:
        try:
            cluster = json.loads(tf_config)["cluster"]
            if not isinstance(cluster, dict):
                raise TypeError(f"'cluster' is a {type(cluster).__name__}")
        except (ValueError, KeyError, TypeError) as error:
            raise SettingsError(
                f"--strategy=multi_worker_mirrored: TF_CONFIG is not a JSON object with a "
                f"'cluster' and a 'task' ({error!r}): {tf_config[:200]}"
            ) from None
    return tf.distribute.cluster_resolver.TFConfigClusterResolver()


def _tpu_strategy(tpu, timeout_s):
    """Connects to the TPU and initialises it, giving up after `timeout_s`.

    Resolving a TPU name or connecting to an address where no TPU answers can
    block indefinitely inside TensorFlow, so both run in a daemon thread that
    is abandoned (and dies with the process) when the time is up.
    """
    outcome = {}

    def connect():
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            outcome["resolver"] = resolver
        except Exception as error:  # Re-raised in the calling thread below.
            outcome["error"] = error

    thread = threading.Thread(target=connect, name="tpu-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "error" in outcome:
        raise SettingsError(
            f"--tpu={tpu}: initialising the TPU system failed: {outcome['error']}"
        ) from outcome["error"]
    if "resolver" not in outcome:
        raise SettingsError(
            f"--tpu={tpu}: no TPU answered within --tpu_timeout_s={timeout_s:g} seconds; "
            "check the TPU name or grpc://host:port address and that the TPU is up "
            "(on a TPU VM use --tpu=local)."
        )
    return tf.distribute.TPUStrategy(outcome["resolver"])
