"""Model warmup: replays the requests a SavedModel ships, before its version serves.

As TF Serving's saved_model_warmup_util: a version directory may hold
`assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`tensorflow.serving.PredictionLog`s. With `--enable_model_warmup` (the
default) each logged Predict, Classify, Regress or MultiInference request is
run `--num_request_iterations_for_warmup` times (1 if unset) on the freshly
loaded version, so lazy initializations happen at load time rather than on the
first client's request. Any failure fails the load; so do more than 1000
records, a record that is not a PredictionLog, and a session_run_log, which TF
Serving refuses as UNIMPLEMENTED. A record of any other log type (none, or a
predict_streamed_log) is skipped, as TF Serving's RunWarmupRequest skips it.
"""

import os
import time

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import prediction_log_pb2

from serving.model_server import errors
from serving.model_server.tensor_protos import to_ndarray

REQUESTS_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000


def _replay(inference, servable, log):
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inputs = {alias: to_ndarray(alias, proto) for alias, proto in request.inputs.items()}
        signature_name = request.model_spec.signature_name
        inference.predict(servable, signature_name, inputs, list(request.output_filter))
    elif kind == "classify_log":
        request = log.classify_log.request
        inference.classify(servable, request.model_spec.signature_name, request.input)
    elif kind == "regress_log":
        request = log.regress_log.request
        inference.regress(servable, request.model_spec.signature_name, request.input)
    elif kind == "multi_inference_log":
        inference.multi_inference(servable, log.multi_inference_log.request)
    elif kind == "session_run_log":
        number = log.DESCRIPTOR.fields_by_name[kind].number  # TF prints the log_type_case
        raise errors.unimplemented(f"Unsupported log_type for warmup: {number}")


def replay(servable, inference, iterations=0):
    """Runs the warmup requests of `servable`'s directory through `inference`; raises on a failure.

    Args:
        servable: the loaded `Servable`, not serving yet.
        inference: the `Inference` that will serve it.
        iterations: times each request runs; 0 means once.
    """
    path = os.path.join(servable.path, REQUESTS_FILE)
    if not tf.io.gfile.exists(path):
        logging.info("No warmup data file found at %s", path)
        return
    start = time.monotonic()
    records = 0
    try:
        for record in tf.data.TFRecordDataset(path):
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record.numpy())
            except Exception as error:
                raise errors.invalid_argument(
                    f"Failed to parse warmup record {records} from {path}: {error}"
                ) from error
            for _ in range(max(iterations, 1)):
                _replay(inference, servable, log)
            records += 1
            if records > MAX_RECORDS:
                raise errors.invalid_argument(
                    f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}"
                )
    except tf.errors.DataLossError as error:
        raise errors.data_loss(
            f"{error.message}. Please verify your warmup data is in TFRecord format."
        ) from error
    logging.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
        "Elapsed time (microseconds): %d.",
        path,
        records,
        (time.monotonic() - start) * 1e6,
    )
