"""TensorFlow Serving's configuration files, read as TF Serving reads them.

All are protocol buffers in text format:
- `--model_config_file`: a `tensorflow.serving.ModelServerConfig`
  (`model_config_list { config { name base_path model_version_policy
  version_labels } ... }`), or the one-model config built from
  `--model_name`/`--model_base_path`.
- `--batching_parameters_file`: a `tensorflow.serving.BatchingParameters`
  (`max_batch_size { value: 8 }`, `allowed_batch_sizes: 4`, ...).
- `--monitoring_config_file`: a `tensorflow.serving.MonitoringConfig`
  (`prometheus_config { enable: true path: "..." }`).
- `--ssl_config_file`: a `tensorflow.serving.SSLConfig` (`server_key`,
  `server_cert`, `custom_ca`, `client_verify`).
- `--tensorflow_session_config_file`: a `tensorflow.ConfigProto`.

A file that does not parse is INVALID_ARGUMENT with the message of
TF Serving's protobuf library: `Error parsing text-format
tensorflow.serving.ModelServerConfig: LINE:COLUMN: ...`.

The tensorflow-serving-api wheel ships the `ModelServerConfig` message but not
BatchingParameters, MonitoringConfig or SSLConfig, so they are declared here
field for field from TF Serving's `session_bundle_config.proto`,
`monitoring_config.proto` and `ssl_config.proto`, in a private descriptor pool
so they never clash with a registration of the real ones.
"""

import os

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf import wrappers_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.model_server import errors

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"

_FieldProto = descriptor_pb2.FieldDescriptorProto


def _declare_messages():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="keras_simpletf/serving/tensorflow_serving_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )

    def field(message, name, number, kind, type_name=None, repeated=False):
        message.field.add(
            name=name,
            number=number,
            type=kind,
            type_name=type_name,
            label=_FieldProto.LABEL_REPEATED if repeated else _FieldProto.LABEL_OPTIONAL,
        )

    batching = file.message_type.add(name="BatchingParameters")
    int64_value = ".google.protobuf.Int64Value"
    field(batching, "max_batch_size", 1, _FieldProto.TYPE_MESSAGE, int64_value)
    field(batching, "batch_timeout_micros", 2, _FieldProto.TYPE_MESSAGE, int64_value)
    field(batching, "max_enqueued_batches", 3, _FieldProto.TYPE_MESSAGE, int64_value)
    field(batching, "num_batch_threads", 4, _FieldProto.TYPE_MESSAGE, int64_value)
    field(batching, "thread_pool_name", 5, _FieldProto.TYPE_MESSAGE, ".google.protobuf.StringValue")
    field(batching, "allowed_batch_sizes", 6, _FieldProto.TYPE_INT64, repeated=True)
    field(batching, "pad_variable_length_inputs", 7, _FieldProto.TYPE_BOOL)
    field(
        batching,
        "enable_large_batch_splitting",
        8,
        _FieldProto.TYPE_MESSAGE,
        ".google.protobuf.BoolValue",
    )
    field(batching, "max_execution_batch_size", 9, _FieldProto.TYPE_MESSAGE, int64_value)

    prometheus = file.message_type.add(name="PrometheusConfig")
    field(prometheus, "enable", 1, _FieldProto.TYPE_BOOL)
    field(prometheus, "path", 2, _FieldProto.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    field(
        monitoring,
        "prometheus_config",
        1,
        _FieldProto.TYPE_MESSAGE,
        ".tensorflow.serving.PrometheusConfig",
    )

    ssl = file.message_type.add(name="SSLConfig")
    field(ssl, "server_key", 1, _FieldProto.TYPE_STRING)
    field(ssl, "server_cert", 2, _FieldProto.TYPE_STRING)
    field(ssl, "custom_ca", 3, _FieldProto.TYPE_STRING)
    field(ssl, "client_verify", 4, _FieldProto.TYPE_BOOL)

    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("BatchingParameters", "MonitoringConfig", "SSLConfig")
    )


BatchingParameters, MonitoringConfig, SSLConfig = _declare_messages()


def _parse(path, message):
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise errors.invalid_argument(
            f"Cannot read {message.DESCRIPTOR.full_name} from {path}: {error}"
        ) from error
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as error:
        position = f"{error.GetLine()}:{error.GetColumn()}: " if error.GetLine() else ""
        reason = str(error).split(" : ", 1)[-1]
        raise errors.invalid_argument(
            f"Error parsing text-format {message.DESCRIPTOR.full_name}: {position}{reason} "
            f"(in {path})"
        ) from error


def read_model_server_config(path):
    """The `ModelServerConfig` in the text-format file `path`."""
    return _parse(path, model_server_config_pb2.ModelServerConfig())


def single_model_config(model_name, model_base_path):
    """The config TF Serving builds from `--model_name` and `--model_base_path`."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=model_name, base_path=model_base_path)
    model.model_platform = "tensorflow"
    return config


def read_batching_parameters(path):
    """The `BatchingParameters` in the text-format file `path` (all defaults if no file)."""
    return _parse(path, BatchingParameters()) if path else BatchingParameters()


def read_prometheus_path(path):
    """The metrics path enabled by the `MonitoringConfig` file `path`, or None when disabled."""
    if not path:
        return None
    prometheus = _parse(path, MonitoringConfig()).prometheus_config
    if not prometheus.enable:
        return None
    return prometheus.path or DEFAULT_PROMETHEUS_PATH


def read_ssl_config(path):
    """The `SSLConfig` in the text-format file `path`."""
    return _parse(path, SSLConfig())


def _usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def read_session_config(path):
    """The `tensorflow.ConfigProto` in the text-format file `path`, used as it is written.

    Without a file, the server's default, which differs from TensorFlow's (and
    TF Serving's) in two ways, because this server's gRPC and HTTP front end is
    Python and needs a CPU of its own between and around model runs:
    - its threads do not spin when idle (`experimental.disable_thread_spinning`):
      on 2 cores at one client, spinning made a gRPC request 0.2-0.3 ms slower
      and bought no throughput at 32 clients;
    - an op runs on all but one of the process's CPUs
      (`intra_op_parallelism_threads`, where TensorFlow takes them all): on 2
      cores, one intra-op thread ran a one-example request in process in
      0.38 ms against 0.94 and served more requests a second at 32 clients
      without batching, about as many with batching (BENCHMARKS.md). Large
      batches of a large model run faster on more threads:
      `--tensorflow_intra_op_parallelism`.
    """
    if path:
        return _parse(path, config_pb2.ConfigProto())
    config = config_pb2.ConfigProto()
    config.experimental.disable_thread_spinning = True
    config.intra_op_parallelism_threads = max(1, _usable_cpus() - 1)
    return config
