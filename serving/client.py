"""Clients for TensorFlow Serving's gRPC and REST APIs, the same against its binary and ours.

    python -m serving.client --server=localhost:8500 --model=sentiment "a great film"
    python -m serving.client --server=http://localhost:8501 --model=sentiment --classify "a great film"

`ServingClient.predict(texts)` calls a predict signature (its outputs back as
NumPy arrays keyed by their aliases, over REST as over gRPC);
`ServingClient.classify(texts)` calls TensorFlow Serving's Classify API (a list
of `(label, score)` pairs per text). A server address
starting with `http://` or `https://` is spoken to over REST, any other
(`host:port`) over gRPC. Calls time out after `timeout` seconds and are retried
with exponential backoff while the server is UNAVAILABLE (starting, restarting,
overloaded with connections); every other error is raised at once as a
`ServingError` carrying TensorFlow Serving's status code name and message.
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
from absl import app, flags
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.model_server.tensor_protos import to_ndarray, to_tensor_proto

_HTTP_STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ServingError(Exception):
    """A failed call: `code` is the gRPC status name (e.g. "NOT_FOUND")."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ServingClient:
    """Calls one model on a TensorFlow Serving compatible server.

    Args:
        server: `host:port` for gRPC, or `http(s)://host:port` for REST.
        model: the model name.
        version: int, a specific version, or `None` for the server's choice.
        version_label: str, a version label (e.g. "stable"); not with `version`.
        signature: the predict signature name.
        timeout: float, seconds per attempt.
        retries: int, further attempts while the server is UNAVAILABLE.

    Example:

    ```python
    client = ServingClient("localhost:8500", "sentiment")
    client.predict(["a great film"])["labels"]   # array([b'positive'], dtype=object)
    ```
    """

    def __init__(
        self,
        server,
        model,
        version=None,
        version_label=None,
        signature="serving_default",
        timeout=10.0,
        retries=3,
    ):
        if version is not None and version_label is not None:
            raise ValueError("Give `version` or `version_label`, not both.")
        self.server = server.rstrip("/")
        self.model = model
        self.version = version
        self.version_label = version_label
        self.signature = signature
        self.timeout = timeout
        self.retries = retries
        self.uses_rest = self.server.startswith(("http://", "https://"))
        self._stub = None
        self._output_aliases = {}
        if not self.uses_rest:
            channel = grpc.insecure_channel(
                self.server,
                options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
            )
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def predict(self, inputs, input_name="text"):
        """The signature's outputs, as a dict of output aliases to NumPy arrays.

        Over REST, TF Serving leaves a signature's only output unnamed; its alias
        comes from the model's metadata, asked once per model, version and signature.

        Args:
            inputs: a list of texts (sent as `input_name`), or a dict of input
                names to (nested) lists of strings, e.g. a recommender's
                `{"user_id": [...], "history": [[...], ...]}`.
            input_name: the input a plain list is sent as.
        """
        if not isinstance(inputs, dict):
            inputs = {input_name: list(inputs)}
        if self.uses_rest:
            body = {"signature_name": self.signature, "inputs": inputs}
            outputs = self._rest(":predict", body)["outputs"]
            if not isinstance(outputs, dict) or set(outputs) == {"b64"}:
                outputs = {self._single_output_alias(): outputs}
            return {name: _from_json(value) for name, value in outputs.items()}
        request = predict_pb2.PredictRequest()
        self._fill_model_spec(request.model_spec, self.signature)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(to_tensor_proto(_utf8(np.array(value, dtype=object))))
        response = self._call(self._stub.Predict, request)
        return {name: to_ndarray(name, proto) for name, proto in response.outputs.items()}

    def classify(self, texts, feature="text", signature="classify"):
        """`(label, score)` pairs per text from the Classify API."""
        texts = list(texts)
        if self.uses_rest:
            body = {"signature_name": signature, "examples": [{feature: text} for text in texts]}
            return [
                [(label, float(score)) for label, score in result]
                for result in self._rest(":classify", body)["results"]
            ]
        request = classification_pb2.ClassificationRequest()
        self._fill_model_spec(request.model_spec, signature)
        for text in texts:
            example = request.input.example_list.examples.add()
            example.features.feature[feature].bytes_list.value.append(text.encode("utf-8"))
        response = self._call(self._stub.Classify, request)
        return [
            [(entry.label, entry.score) for entry in classification.classes]
            for classification in response.result.classifications
        ]

    def _single_output_alias(self):
        """The alias of the predict signature's only output, from the model's REST metadata."""
        key = (self.model, self.version, self.version_label, self.signature)
        if key not in self._output_aliases:
            signature_defs = self._rest("/metadata")["metadata"]["signature_def"]["signature_def"]
            (alias,) = signature_defs[self.signature or "serving_default"]["outputs"]
            self._output_aliases[key] = alias
        return self._output_aliases[key]

    def _fill_model_spec(self, model_spec, signature):
        model_spec.name = self.model
        model_spec.signature_name = signature
        if self.version is not None:
            model_spec.version.value = self.version
        if self.version_label is not None:
            model_spec.version_label = self.version_label

    def _with_retries(self, attempt):
        for retry in range(self.retries + 1):
            try:
                return attempt()
            except ServingError as error:
                if error.code != "UNAVAILABLE" or retry == self.retries:
                    raise
                time.sleep(min(0.1 * 2**retry, 2.0))

    def _call(self, method, request):
        def attempt():
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as error:
                raise ServingError(error.code().name, error.details()) from None

        return self._with_retries(attempt)

    def _rest(self, suffix, body=None):
        """The JSON answer to a POST of `body` to the model's URL + `suffix`, or to a GET."""
        url = f"{self.server}/v1/models/{self.model}"
        if self.version is not None:
            url += f"/versions/{self.version}"
        elif self.version_label is not None:
            url += f"/labels/{self.version_label}"
        request = urllib.request.Request(url + suffix)
        if body is not None:
            request.data = json.dumps(body).encode("utf-8")
            request.add_header("Content-Type", "application/json")

        def attempt():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                code = _HTTP_STATUS_CODES.get(error.code, "UNKNOWN")
                raise ServingError(code, _error_message(error)) from None
            except (urllib.error.URLError, ConnectionError) as error:
                raise ServingError("UNAVAILABLE", str(error)) from None

        return self._with_retries(attempt)


def _error_message(error):
    """An HTTP error reply's message: TF Serving's JSON `error`, else its body, else its reason."""
    text = error.read().decode("utf-8", "replace")
    try:
        return json.loads(text)["error"]
    except (ValueError, TypeError, KeyError):
        return text.strip() or error.reason


# The texts of an object array as UTF-8 bytes, element by element (bytes pass as they are):
# the request tensor is then encoded by the server's own `to_tensor_proto`, as TF Serving
# encodes string tensors, without `tf.make_tensor_proto`'s generic conversion.
_utf8 = np.frompyfunc(lambda text: text.encode("utf-8") if isinstance(text, str) else text, 1, 1)


def _from_json(value):
    """A tensor in TensorFlow Serving's JSON encoding as NumPy, strings as bytes.

    Matches what `tf.make_ndarray` gives for the same tensor over gRPC.
    """

    def decode(item):
        if isinstance(item, dict) and set(item) == {"b64"}:
            return base64.b64decode(item["b64"])
        if isinstance(item, list):
            return [decode(element) for element in item]
        return item.encode("utf-8") if isinstance(item, str) else item

    array = np.array(decode(value))
    return array.astype(object) if array.dtype.kind == "S" else array


FLAGS = flags.FLAGS
flags.DEFINE_string("server", "localhost:8500", "host:port (gRPC) or http(s)://host:port (REST).")
flags.DEFINE_string("model", None, "Model name.", required=True)
flags.DEFINE_integer("version", None, "Model version (default: the server's).")
flags.DEFINE_string("version_label", None, "Version label, e.g. stable.")
flags.DEFINE_string("signature", "serving_default", "Predict signature name.")
flags.DEFINE_boolean("classify", False, "Call the Classify API instead of Predict.")
flags.DEFINE_float("timeout", 10.0, "Seconds per attempt.")
flags.DEFINE_integer("retries", 3, "Retries while the server is UNAVAILABLE.")


def main(argv):
    texts = argv[1:]
    if not texts:
        raise app.UsageError("Give one or more texts to send.")
    client = ServingClient(
        FLAGS.server,
        FLAGS.model,
        version=FLAGS.version,
        version_label=FLAGS.version_label,
        signature=FLAGS.signature,
        timeout=FLAGS.timeout,
        retries=FLAGS.retries,
    )
    try:
        if FLAGS.classify:
            result = client.classify(texts)
        else:
            result = {name: value.tolist() for name, value in client.predict(texts).items()}
    except ServingError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=lambda value: value.decode("utf-8", "replace")))
    return 0


if __name__ == "__main__":
    app.run(main)
