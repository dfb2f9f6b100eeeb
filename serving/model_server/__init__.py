"""A TensorFlow Serving-compatible model server, for where `tensorflow_model_server` is not available.

It speaks TF Serving's gRPC API (PredictionService, ModelService) and REST API
over a directory of versioned SavedModels, so the same clients and tests work
against both. Run it as `python -m serving.model_server` with TF Serving's
flags. One concern per module:

- `__main__`: flags and startup.
- `configs`: the text-format config files (models, batching, monitoring).
- `servables`: one loaded SavedModel version and its signatures.
- `tflite_servables`: a TensorFlow Lite version, for `--prefer_tflite_model`.
- `versions`: the version manager (polling, policies, labels, load/unload).
- `warmup`: replaying the warmup requests a SavedModel ships, at load.
- `inference`: Predict, Classify, Regress, MultiInference, GetModelMetadata.
- `batching`: server-side batching of concurrent requests.
- `grpc_service`, `tensor_protos`: the gRPC API and its tensor encoding.
- `health`: the standard gRPC health check service.
- `rest_service`, `json_tensors`: the REST API and its JSON encoding.
- `monitoring`: request metrics and their Prometheus page.
- `errors`: failures, their gRPC codes and HTTP statuses.
"""
