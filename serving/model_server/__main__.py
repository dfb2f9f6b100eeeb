"""Runs the model server, with the flags of TensorFlow Serving's `tensorflow_model_server`.

    python -m serving.model_server --port=8500 --rest_api_port=8501 \\
        --model_name=NAME --model_base_path=/abs/path/to/versions
    python -m serving.model_server --model_config_file=/abs/path/models.config \\
        --enable_batching --batching_parameters_file=/abs/path/batching.config

Startup follows TF Serving: read the config, load every model and wait until
each has an available version (exit with an error if one has none that loads),
then serve gRPC on `--port` and, unless `--rest_api_port` is 0, REST on
`--rest_api_port`, both on all interfaces.
"""

import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("port", 8500, "Port to listen on for the gRPC API.")
flags.DEFINE_integer(
    "rest_api_port",
    0,
    "Port to listen on for the HTTP/REST API; 0 disables it. Must differ from --port.",
)
flags.DEFINE_integer(
    "rest_api_timeout_in_ms", 30000, "Timeout for HTTP/REST inference calls; 0 for none."
)
flags.DEFINE_integer("grpc_max_threads", 4 * (os.cpu_count() or 1), "Threads handling gRPC calls.")
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
flags.DEFINE_boolean("enable_batching", False, "Merge concurrent requests into batches.")
flags.DEFINE_string(
    "batching_parameters_file",
    "",
    "A text-format tensorflow.serving.BatchingParameters replacing the batching defaults.",
)
flags.DEFINE_string(
    "monitoring_config_file",
    "",
    "A text-format tensorflow.serving.MonitoringConfig; it can expose Prometheus metrics on the REST port.",
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


def _poll_config_file(manager, path, interval_seconds, config):
    """Re-reads the model config file every `interval_seconds` and applies it when it changed."""
    from serving.model_server import configs, errors

    while True:
        time.sleep(interval_seconds)
        try:
            new_config = configs.read_model_server_config(path)
            if new_config != config:
                manager.reload_config(new_config)
                config = new_config
        except errors.ServingError as error:
            logging.error("Reloading the model config from %s failed: %s", path, error)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_config_file and not FLAGS.model_base_path:
        raise app.UsageError(
            "Both --model_config_file and --model_base_path are empty; set one of them."
        )
    if FLAGS.rest_api_port and FLAGS.rest_api_port == FLAGS.port:
        raise app.UsageError("--rest_api_port must be different from --port.")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.INFO)

    from serving.model_server import (
        batching,
        configs,
        errors,
        grpc_service,
        inference,
        monitoring,
        rest_service,
        versions,
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
        manager = versions.VersionManager(
            file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds,
            max_num_load_retries=FLAGS.max_num_load_retries,
            load_retry_interval_seconds=FLAGS.load_retry_interval_micros / 1e6,
            allow_version_labels_for_unavailable_models=FLAGS.allow_version_labels_for_unavailable_models,
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

    metrics = monitoring.Metrics()
    runner = inference.Inference(metrics, batcher)
    grpc_server = grpc_service.create_server(
        FLAGS.port, manager, runner, metrics, FLAGS.grpc_max_threads
    )
    grpc_server.start()
    logging.info("Running gRPC ModelServer at 0.0.0.0:%d ...", FLAGS.port)
    if FLAGS.rest_api_port:
        rest_api = rest_service.RestApi(
            manager, runner, metrics, FLAGS.rest_api_timeout_in_ms / 1000, prometheus_path
        )
        http_server = rest_service.create_server(FLAGS.rest_api_port, rest_api)
        threading.Thread(target=http_server.serve_forever, name="rest-api", daemon=True).start()
        logging.info("Exporting HTTP/REST API at:localhost:%d ...", FLAGS.rest_api_port)
    grpc_server.wait_for_termination()
    return 0


if __name__ == "__main__":
    app.run(main)
