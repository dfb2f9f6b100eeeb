"""A short real load test: concurrent gRPC and REST clients against our server, with batching on.

A small DEMO sentiment classifier is trained for one epoch, exported with
`serving.export.export` and served by `python -m serving.model_server
--enable_batching`. 8 gRPC clients and 24 REST clients (threads, each with its
own `serving.client.ServingClient`, no retries) send 1 to 3 texts per request
for a few seconds, so the server merges requests of different sizes into
batches. No request may fail, every answer must be the in-process
SavedModel's for those texts, and the server must still answer afterwards.
"""

import collections
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from keras_simpletf.data import demo_sentiment
from serving.client import ServingClient
from serving.export import export
from tests.serving.model_servers import ModelServer
from tests.serving.trained_models import sentiment_classifier

MODEL = "sentiment"
GRPC_CLIENTS = 8
REST_CLIENTS = 24
LOAD_SECONDS = 3.0
BATCHING_PARAMETERS = """
max_batch_size { value: 8 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
allowed_batch_sizes: 1
allowed_batch_sizes: 2
allowed_batch_sizes: 4
allowed_batch_sizes: 8
"""


@pytest.fixture(scope="module")
def loaded_server(tmp_path_factory):
    """The served classifier's export path and its batching server."""
    classifier, preprocessor = sentiment_classifier()
    directory = tmp_path_factory.mktemp("load")
    version_path = export(classifier, preprocessor, str(directory / MODEL))
    parameters = directory / "batching.config"
    parameters.write_text(BATCHING_PARAMETERS)
    server = ModelServer(
        directory,
        f"--model_name={MODEL}",
        f"--model_base_path={directory / MODEL}",
        "--enable_batching",
        f"--batching_parameters_file={parameters}",
        "--grpc_max_threads=16",
    )
    try:
        server.wait_until_serving(MODEL)
        yield version_path, server
    finally:
        server.stop()


def _client_loop(client, offset, texts, end, results):
    """Sends 1 to 3 consecutive texts of `texts` per request until `end`."""
    index = offset
    while time.monotonic() < end:
        size = 1 + index % 3
        positions = [(index + shift) % len(texts) for shift in range(size)]
        index += size
        try:
            outputs = client.predict([texts[position] for position in positions])
        except Exception as error:  # noqa: BLE001 - ServingError or worse: reported below
            results.append((positions, error))
        else:
            results.append((positions, outputs))


def test_concurrent_grpc_and_rest_clients_get_the_in_process_answers(loaded_server):
    version_path, server = loaded_server
    texts, _ = demo_sentiment(120, seed=1)
    texts += ["", "not awful", "Zoë's film felt not dull."]
    serve = tf.saved_model.load(version_path).signatures["serving_default"]
    expected = serve(text=tf.constant(texts))
    expected_labels = [label.decode() for label in expected["labels"].numpy()]
    expected_scores = expected["scores"].numpy()

    addresses = [f"127.0.0.1:{server.port}"] * GRPC_CLIENTS + [
        f"http://127.0.0.1:{server.rest_port}"
    ] * REST_CLIENTS
    results = [[] for _ in addresses]
    end = time.monotonic() + LOAD_SECONDS
    stride = len(texts) // len(addresses)
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(ServingClient(address, MODEL, timeout=10, retries=0), n * stride, texts, end, result),
            daemon=True,
        )
        for n, (address, result) in enumerate(zip(addresses, results))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 30)
    assert not any(thread.is_alive() for thread in threads), "a client did not stop"

    failures = collections.Counter()
    answered = collections.Counter()
    for address, client_results in zip(addresses, results):
        transport = "rest" if address.startswith("http") else "grpc"
        for positions, outcome in client_results:
            if isinstance(outcome, Exception):
                failures[f"{transport}: {outcome}"] += 1
                continue
            answered[transport] += 1
            labels = [label.decode() for label in outcome["labels"]]
            assert labels == [expected_labels[p] for p in positions], [texts[p] for p in positions]
            np.testing.assert_allclose(outcome["scores"], expected_scores[positions], atol=1e-5)
    assert not failures, dict(failures)
    # Every client got answers: the load was concurrent, not one client at a time.
    assert all(len(client_results) >= 3 for client_results in results), [len(r) for r in results]
    assert answered["grpc"] >= 3 * GRPC_CLIENTS and answered["rest"] >= 3 * REST_CLIENTS

    # The server still answers, on both transports, and still reports the model available.
    for address in (f"127.0.0.1:{server.port}", f"http://127.0.0.1:{server.rest_port}"):
        outputs = ServingClient(address, MODEL, timeout=10, retries=0).predict(texts[:2])
        assert [label.decode() for label in outputs["labels"]] == expected_labels[:2]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    status = server.models.GetModelStatus(request, timeout=10)
    assert [version.state for version in status.model_version_status] == [
        get_model_status_pb2.ModelVersionStatus.AVAILABLE
    ]
    assert server.process.poll() is None
