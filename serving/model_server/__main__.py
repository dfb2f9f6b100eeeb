"""Runs the model server, with the flags of TensorFlow Serving's `tensorflow_model_server`.

    python -m serving.model_server --port=8500 --rest_api_port=8501 \\
        --model_name=NAME --model_base_path=/abs/path/to/versions
    python -m serving.model_server --model_config_file=/abs/path/models.config \\
        --enable_batching --batching_parameters_file=/abs/path/batching.config

Every flag `tensorflow_model_server --help` lists in TF Serving 2.20 is
accepted, with its default. Those this server cannot honour are logged at
startup (`_NOT_HONOURED`, and README's serving section says why).

Startup follows TF Serving's `Server::BuildAndStart`: read the config (a file
that does not parse exits non-zero with "Error parsing text-format
tensorflow.serving.ModelServerConfig: ..."), load every model and wait until
each has an available version (exit with an error if one has none that loads),
then serve gRPC on `--port` (and `--grpc_socket_path`) and, unless
`--rest_api_port` is 0 or equals `--port`, REST on `--rest_api_port`.
"""

import importlib.metadata
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# gRPC's TCP stack of grpcio up to 1.79 (iomgr) rather than its EventEngine, on in
# Python since 1.80: EventEngine reads a request on a thread of its own and hands it
# to the thread polling the completion queue, a hop that cost a one-example request
# about 0.1 ms on 2 cores (BENCHMARKS.md). Read when gRPC starts, so set before it
# is imported; a GRPC_EXPERIMENTS of the caller's is kept.
os.environ.setdefault("GRPC_EXPERIMENTS", "-event_engine_listener,-event_engine_client")

from absl import app, flags, logging  # noqa: E402

_CPUS = os.cpu_count() or 1

FLAGS = flags.FLAGS
# gRPC
flags.DEFINE_integer("port", 8500, "TCP port for the gRPC API; 0 disables it.")
flags.DEFINE_string(
    "grpc_socket_path", "", "If non-empty, also serve the gRPC API on this UNIX socket."
)
flags.DEFINE_string(
    "grpc_channel_arguments",
    "",
    "Comma-separated key=value gRPC server arguments (e.g. grpc.max_connection_age_ms=2000).",
)
flags.DEFINE_integer("grpc_max_threads", 4 * _CPUS, "Threads handling gRPC calls.")
flags.DEFINE_boolean("use_alts_credentials", False, "Serve gRPC with Google ALTS credentials.")
flags.DEFINE_string(
    "ssl_config_file", "", "A text-format tensorflow.serving.SSLConfig: serve gRPC over TLS."
)
flags.DEFINE_boolean(
    "enable_grpc_healthcheck_service", False, "Serve the standard gRPC health check service."
)
flags.DEFINE_boolean("enable_profiler", True, "Serve the profiler service on the gRPC port.")
flags.DEFINE_boolean(
    "enable_serialization_as_tensor_content",
    False,
    "Write PredictResponse tensors as tensor_content.",
)
# REST
flags.DEFINE_integer(
    "rest_api_port",
    0,
    "Port to listen on for the HTTP/REST API; 0 disables it. Must differ from --port.",
)
flags.DEFINE_integer("rest_api_num_threads", 4 * _CPUS, "Threads handling HTTP/REST requests.")
flags.DEFINE_integer(
    "rest_api_timeout_in_ms", 30000, "Timeout for HTTP/REST inference calls; 0 for none."
)
flags.DEFINE_boolean(
    "rest_api_enable_cors_support",
    False,
    "Add CORS headers (Access-Control-Allow-Origin: *, ...) to every /v1/ HTTP/REST response.",
)
# Models and versions
flags.DEFINE_string(
    "model_name", "default", "Name of the model (ignored with --model_config_file)."
)
flags.DEFINE_string(
    "model_base_path",
    "",
    "Absolute path holding the model's numbered version directories (ignored with --model_config_file).",
)
flags.DEFINE_string(
    "model_config_file",
    "",
    "A text-format tensorflow.serving.ModelServerConfig naming the models to serve.",
)
flags.DEFINE_integer(
    "model_config_file_poll_wait_seconds",
    0,
    "Seconds between two reads of --model_config_file; 0 reads it once, at startup.",
)
flags.DEFINE_integer(
    "file_system_poll_wait_seconds",
    1,
    "Seconds between two polls of the base paths for new versions; 0 polls once, at startup.",
)
flags.DEFINE_boolean(
    "flush_filesystem_caches", True, "Flush filesystem caches after loads (nothing to flush here)."
)
flags.DEFINE_boolean(
    "allow_version_labels_for_unavailable_models",
    False,
    "Allow new version labels to point at versions that are not available yet.",
)
flags.DEFINE_integer(
    "max_num_load_retries", 5, "Retries of a failed version load before giving up."
)
flags.DEFINE_integer(
    "load_retry_interval_micros", 60 * 1000 * 1000, "Microseconds between two load attempts."
)
flags.DEFINE_integer("num_load_threads", 0, "Threads loading versions; 0 loads them in turn.")
flags.DEFINE_integer("num_unload_threads", 0, "Threads unloading versions; 0 unloads in turn.")
flags.DEFINE_string(
    "saved_model_tags", "serve", "Comma-separated tags of the MetaGraph to load."
)
flags.DEFINE_boolean(
    "enable_model_warmup", True, "Replay assets.extra/tf_serving_warmup_requests at load."
)
flags.DEFINE_integer(
    "num_request_iterations_for_warmup", 0, "Times each warmup request is replayed, if > 0."
)
flags.DEFINE_boolean(
    "remove_unused_fields_from_bundle_metagraph",
    True,
    "Drop unused MetaGraphDef fields after loading (a memory saving; no effect on answers).",
)
flags.DEFINE_string("platform_config_file", "", "A text-format PlatformConfigMap.")
flags.DEFINE_string(
    "monitoring_config_file", "", "A text-format tensorflow.serving.MonitoringConfig."
)
# Batching
flags.DEFINE_boolean("enable_batching", False, "Merge concurrent requests into batches.")
flags.DEFINE_string(
    "batching_parameters_file",
    "",
    "A text-format tensorflow.serving.BatchingParameters replacing the batching defaults.",
)
flags.DEFINE_boolean(
    "enable_per_model_batching_parameters",
    False,
    "Read batching_params.pbtxt from each SavedModel directory.",
)
# TensorFlow runtime
flags.DEFINE_integer(
    "tensorflow_session_parallelism", 0, "Intra- and inter-op threads of each Session; 0: auto."
)
flags.DEFINE_integer("tensorflow_intra_op_parallelism", 0, "Intra-op threads; 0: auto.")
flags.DEFINE_integer("tensorflow_inter_op_parallelism", 0, "Inter-op threads; 0: auto.")
flags.DEFINE_string(
    "tensorflow_session_config_file", "", "A text-format tensorflow.ConfigProto for each Session."
)
flags.DEFINE_float(
    "per_process_gpu_memory_fraction",
    0.0,
    "Fraction of GPU memory to take; 0: TensorFlow's choice.",
)
flags.DEFINE_boolean(
    "enable_signature_method_name_check",
    False,
    "Require each API's method_name of the SignatureDef it runs.",
)
flags.DEFINE_boolean("xla_cpu_compilation_enabled", False, "Enable XLA:CPU JIT.")
flags.DEFINE_boolean("xla_gpu_compilation_enabled", False, "Enable XLA:CPU and XLA:GPU JIT.")
flags.DEFINE_string("mixed_precision", "", "Mixed precision mode.")
flags.DEFINE_string(
    "thread_pool_factory_config_file", "", "A text-format ThreadPoolConfig for request threads."
)
flags.DEFINE_boolean("skip_initialize_tpu", False, "Skip initializing a TPU system (none is).")
# TensorFlow Lite
flags.DEFINE_boolean(
    "prefer_tflite_model", False, "Serve model.tflite instead of saved_model.pb when present."
)
flags.DEFINE_integer("num_tflite_pools", _CPUS, "TensorFlow Lite interpreter pools.")
flags.DEFINE_integer("num_tflite_interpreters_per_pool", 1, "Interpreters per TFLite pool.")
flags.DEFINE_boolean("version", False, "Print the versions and exit.")

# Flags accepted but not honoured: (the value that asks for nothing, why), or
# (None, why) for flags logged whenever given.
_NOT_HONOURED = {
    "enable_profiler": (
        False,
        "TensorFlow's profiler service is C++ and cannot join a grpcio server",
    ),
    "enable_per_model_batching_parameters": (
        False,
        "batching_params.pbtxt is not read; --batching_parameters_file applies to every model",
    ),
    "num_load_threads": (0, "versions load one at a time"),
    "num_unload_threads": (0, "versions unload one at a time"),
    "platform_config_file": ("", "only the TensorFlow platform is served"),
    "thread_pool_factory_config_file": ("", "request thread pools are not configurable"),
    "mixed_precision": ("", "models run in the precision they were saved in"),
    "num_tflite_pools": (None, "one TensorFlow Lite interpreter serves each version"),
    "num_tflite_interpreters_per_pool": (
        None,
        "one TensorFlow Lite interpreter serves each version",
    ),
    "xla_cpu_compilation_enabled": (None, "XLA JIT is left as TensorFlow's default"),
    "xla_gpu_compilation_enabled": (None, "XLA JIT is left as TensorFlow's default"),
}


def _log_flags_not_honoured():
    for name, (inert, reason) in _NOT_HONOURED.items():
        value = FLAGS[name].value
        if (FLAGS[name].present if inert is None else value != inert):
            logging.warning("--%s=%s is accepted but not honoured: %s.", name, value, reason)


def _version_text():
    serving_api = importlib.metadata.version("tensorflow-serving-api")
    return (
        f"TensorFlow ModelServer: {serving_api}-keras-simpletf\n"
        f"TensorFlow Library: {importlib.metadata.version('tensorflow')}\n"
    )


def _is_int32(text):
    """Whether `text` is a decimal int32, as TF Serving's `safe_strto32` reads it."""
    digits = text.strip()
    digits = digits[1:] if digits[:1] in "+-" else digits
    return digits.isascii() and digits.isdigit() and -(2**31) <= int(text) < 2**31


def _channel_arguments():
    """The (key, value) pairs of --grpc_channel_arguments (`key=value,...`), int values as ints."""
    arguments = []
    for entry in filter(None, FLAGS.grpc_channel_arguments.split(",")):
        key, equals, value = entry.partition("=")
        if not equals or not key:
            raise app.UsageError(f"--grpc_channel_arguments: {entry!r} is not key=value")
        arguments.append((key, int(value) if _is_int32(value) else value))
    return arguments


def _session_config(configs):
    """Each version's Session ConfigProto: the config file, then the flags, as TF Serving sets it."""
    config = configs.read_session_config(FLAGS.tensorflow_session_config_file)
    if FLAGS.per_process_gpu_memory_fraction:
        config.gpu_options.per_process_gpu_memory_fraction = FLAGS.per_process_gpu_memory_fraction
    intra, inter = FLAGS.tensorflow_intra_op_parallelism, FLAGS.tensorflow_inter_op_parallelism
    if intra > 0 or inter > 0:
        config.intra_op_parallelism_threads, config.inter_op_parallelism_threads = intra, inter
    elif FLAGS.tensorflow_session_parallelism > 0:
        config.intra_op_parallelism_threads = FLAGS.tensorflow_session_parallelism
        config.inter_op_parallelism_threads = FLAGS.tensorflow_session_parallelism
    return config


def _grpc_credentials(configs):
    """gRPC server credentials of --ssl_config_file or --use_alts_credentials; None: insecure."""
    import grpc

    from serving.model_server import errors

    if FLAGS.ssl_config_file and FLAGS.use_alts_credentials:
        raise errors.invalid_argument(
            "Only one of --use_alts_credentials and --ssl_config_file can be set."
        )
    if FLAGS.use_alts_credentials:
        return grpc.alts_server_credentials()
    if not FLAGS.ssl_config_file:
        return None
    ssl = configs.read_ssl_config(FLAGS.ssl_config_file)
    return grpc.ssl_server_credentials(
        [(ssl.server_key.encode(), ssl.server_cert.encode())],
        root_certificates=ssl.custom_ca.encode() or None,
        require_client_auth=ssl.client_verify,
    )


def _poll_config_file(manager, path, interval_seconds, config):
    """Re-reads the model config file every `interval_seconds` and applies it when it changed.

    A reload waits for its new models until the next poll at most; those not
    available by then keep loading in the background. A failed reload (a bad
    file, a model that does not load, any error) is logged and tried again at
    the next poll.
    """
    import grpc

    from serving.model_server import configs, errors

    while True:
        time.sleep(interval_seconds)
        try:
            new_config = configs.read_model_server_config(path)
            if new_config == config:
                continue
            try:
                manager.reload_config(new_config, deadline=time.monotonic() + interval_seconds)
            except errors.ServingError as error:
                if error.code != grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise
                logging.warning("Model config from %s applied; %s", path, error.message)
            config = new_config
        except Exception:  # the poll must outlive any one bad file or reload
            logging.exception("Reloading the model config from %s failed", path)


def main(argv):
    if FLAGS.version:
        sys.stdout.write(_version_text())
        return 0
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_config_file and not FLAGS.model_base_path:
        raise app.UsageError(
            "Both --model_config_file and --model_base_path are empty; set one of them."
        )
    if not FLAGS.port and not FLAGS.grpc_socket_path:
        raise app.UsageError("--port is 0 and --grpc_socket_path is empty: gRPC needs one.")
    if FLAGS.batching_parameters_file and not FLAGS.enable_batching:
        raise app.UsageError("--batching_parameters_file is set without --enable_batching.")
    if min(
        FLAGS.tensorflow_session_parallelism,
        FLAGS.tensorflow_intra_op_parallelism,
        FLAGS.tensorflow_inter_op_parallelism,
    ) > 0:
        raise app.UsageError(
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) separately. "
            "You cannot configure all."
        )
    channel_arguments = _channel_arguments()
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.INFO)
    _log_flags_not_honoured()

    from serving.model_server import (
        batching,
        configs,
        errors,
        grpc_service,
        inference,
        monitoring,
        rest_service,
        servables,
        tflite_servables,
        versions,
        warmup,
    )

    try:
        if FLAGS.model_config_file:
            config = configs.read_model_server_config(FLAGS.model_config_file)
        else:
            config = configs.single_model_config(FLAGS.model_name, FLAGS.model_base_path)
        batcher = None
        if FLAGS.enable_batching:
            batcher = batching.Batcher(
                configs.read_batching_parameters(FLAGS.batching_parameters_file)
            )
        prometheus_path = configs.read_prometheus_path(FLAGS.monitoring_config_file)
        credentials = _grpc_credentials(configs)
        load_options = servables.LoadOptions(
            tags=tuple(FLAGS.saved_model_tags.split(",")), session_config=_session_config(configs)
        )

        def load(name, version, path):  # called by reload_config, once `runner` exists
            if FLAGS.prefer_tflite_model and tflite_servables.has_tflite_model(path):
                servable = tflite_servables.TfLiteServable(name, version, path)
            else:
                servable = servables.Servable(name, version, path, load_options)
            if FLAGS.enable_model_warmup:
                warmup.replay(servable, runner, FLAGS.num_request_iterations_for_warmup)
            return servable

        manager = versions.VersionManager(
            file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds,
            max_num_load_retries=FLAGS.max_num_load_retries,
            load_retry_interval_seconds=FLAGS.load_retry_interval_micros / 1e6,
            allow_version_labels_for_unavailable_models=FLAGS.allow_version_labels_for_unavailable_models,
            load=load,
        )
        metrics = monitoring.Metrics(manager.is_served)
        runner = inference.Inference(
            metrics, batcher, signature_method_name_check=FLAGS.enable_signature_method_name_check
        )
        manager.reload_config(config)
    except errors.ServingError as error:
        logging.error("Failed to start the model server: %s", error)
        return 1
    manager.start()
    if FLAGS.model_config_file and FLAGS.model_config_file_poll_wait_seconds > 0:
        threading.Thread(
            target=_poll_config_file,
            args=(
                manager,
                FLAGS.model_config_file,
                FLAGS.model_config_file_poll_wait_seconds,
                config,
            ),
            name="model-config-poll",
            daemon=True,
        ).start()

    try:
        grpc_server = grpc_service.create_server(
            FLAGS.port,
            manager,
            runner,
            metrics,
            FLAGS.grpc_max_threads,
            socket_path=FLAGS.grpc_socket_path,
            channel_arguments=channel_arguments,
            credentials=credentials,
            health_check=FLAGS.enable_grpc_healthcheck_service,
            tensor_content=FLAGS.enable_serialization_as_tensor_content,
        )
    except RuntimeError as error:  # grpcio: "Failed to bind to address ..."
        logging.error("Failed to start the model server: %s", error)
        return 1
    grpc_server.start()
    if FLAGS.port:
        logging.info("Running gRPC ModelServer at 0.0.0.0:%d ...", FLAGS.port)
    if FLAGS.grpc_socket_path:
        logging.info("Running gRPC ModelServer at UNIX socket %s ...", FLAGS.grpc_socket_path)
    if FLAGS.rest_api_port and FLAGS.rest_api_port == FLAGS.port:
        logging.error(
            "--rest_api_port cannot be same as --port. Please use a different port for "
            "HTTP/REST API. Skipped exporting HTTP/REST API."
        )
    elif FLAGS.rest_api_port:
        rest_api = rest_service.RestApi(
            manager,
            runner,
            metrics,
            FLAGS.rest_api_timeout_in_ms / 1000,
            prometheus_path,
            cors=FLAGS.rest_api_enable_cors_support,
        )
        try:
            http_server = rest_service.create_server(
                FLAGS.rest_api_port, rest_api, num_threads=FLAGS.rest_api_num_threads
            )
        except OSError as error:  # as TF Serving, gRPC serves on without REST
            logging.error(
                "Failed to start HTTP Server at localhost:%d: %s", FLAGS.rest_api_port, error
            )
        else:
            threading.Thread(
                target=http_server.serve_forever, name="rest-api", daemon=True
            ).start()
            logging.info("Exporting HTTP/REST API at:localhost:%d ...", FLAGS.rest_api_port)
    grpc_server.wait_for_termination()
    return 0


if __name__ == "__main__":
    app.run(main)
