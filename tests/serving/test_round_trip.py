"""Train on DEMO data, export, serve with our model server, call it with serving/client.py.

The sentiment classifier and the recommender train briefly on DEMO data (the
answers must equal the in-process model's, whatever their quality); the
tagger is untrained.
"""

import http.server
import json
import threading
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import (
    NER_TAGS,
    SENTIMENT_LABELS,
    demo_ner,
    demo_recommendation,
)
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextTwoTowerRetrieval, TokenClassifier
from keras_simpletf.text import (
    ClassificationPreprocessor,
    TokenClassificationPreprocessor,
    learn_vocabulary,
)
from serving.client import ServingClient, ServingError
from serving.export import export
from tests.serving.model_servers import ModelServer, write_model_config, free_port
from tests.serving.trained_models import sentiment_classifier

TEXTS = ["the movie was great and the cast superb.", "a dull plot.", "", "Zoë's film felt not awful."]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A sentiment classifier trained for one epoch and an untrained tagger, served."""
    classifier, preprocessor = sentiment_classifier()
    sentences, _ = demo_ner(100)
    tag_preprocessor = TokenClassificationPreprocessor(
        learn_vocabulary([" ".join(words) for words in sentences], 129), sequence_length=16
    )
    tagger = TokenClassifier(
        TransformerEncoder(len(tag_preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=16),
        labels=list(NER_TAGS),
    )
    log = demo_recommendation(num_users=40, num_items=30, events_per_user=10)
    clicks = log.select(log.labels > 0)
    item_texts = log.catalogue.texts
    item_preprocessor = ClassificationPreprocessor(learn_vocabulary(item_texts, 100), sequence_length=12)
    recommender = TextTwoTowerRetrieval(
        TransformerEncoder(len(item_preprocessor.vocabulary), num_layers=1, hidden_dim=16, max_length=12),
        log.catalogue.item_ids,
        item_preprocessor(item_texts)["token_ids"],
        user_ids=clicks.users(),
        item_counts=clicks.item_counts(),
        embedding_dim=8,
    )
    recommender.compile("adam")
    recommender.fit(
        tf.data.Dataset.from_tensor_slices(
            {"user_id": clicks.user_ids, "history": clicks.histories(3), "item_id": clicks.item_ids}
        ).batch(32),
        epochs=1,
        verbose=0,
    )
    directory = tmp_path_factory.mktemp("round_trip")
    export(classifier, preprocessor, str(directory / "sentiment"))
    export(tagger, tag_preprocessor, str(directory / "ner"))
    export(recommender, item_preprocessor, str(directory / "recommend"), k=5, item_texts=item_texts)
    config = write_model_config(directory, "sentiment", "ner", "recommend")
    server = ModelServer(directory, f"--model_config_file={config}")
    try:
        server.wait_until_serving("sentiment")
        server.wait_until_serving("ner")
        server.wait_until_serving("recommend")
        yield server, (classifier, preprocessor), (tagger, tag_preprocessor), recommender
    finally:
        server.stop()


def clients(server, model, signature="serving_default"):
    return (
        ServingClient(f"127.0.0.1:{server.port}", model, signature=signature),
        ServingClient(f"http://127.0.0.1:{server.rest_port}", model, signature=signature),
    )


def test_grpc_and_rest_predict_answer_like_the_keras_model(served):
    server, (classifier, preprocessor), _, _ = served
    expected_labels, expected_scores = classifier.predict_text(TEXTS, preprocessor)
    for client in clients(server, "sentiment"):
        outputs = client.predict(TEXTS)
        np.testing.assert_allclose(outputs["scores"], expected_scores, atol=1e-5)
        assert [label.decode() for label in outputs["labels"]] == expected_labels


def test_grpc_and_rest_classify_answer_like_the_keras_model(served):
    server, (classifier, preprocessor), _, _ = served
    _, expected_scores = classifier.predict_text(TEXTS, preprocessor)
    for client in clients(server, "sentiment"):
        results = client.classify(TEXTS)
        for result, scores in zip(results, expected_scores):
            assert [label for label, _ in result] in (list(SENTIMENT_LABELS), [s.encode() for s in SENTIMENT_LABELS])
            np.testing.assert_allclose([score for _, score in result], scores, atol=1e-5)


def test_served_tagger_returns_the_keras_models_word_tags(served):
    server, _, (tagger, preprocessor), _ = served
    texts = ["Anna Schmidt lives in Berlin .", "Paul met Wei Chen in Tokyo ."]
    words = [text.split() for text in texts]
    expected = tagger.predict_word_tags(words, preprocessor)
    for client in clients(server, "ner"):
        outputs = client.predict(texts)
        for row, sentence in enumerate(words):
            count = int(outputs["num_words"][row])
            assert [w.decode() for w in outputs["words"][row][:count]] == sentence
            assert [t.decode() for t in outputs["tags"][row][:count]] == expected[row]


def test_served_recommender_returns_the_models_top_items(served):
    server, _, _, recommender = served
    items = recommender.item_ids
    query = {
        "user_id": [recommender.user_ids[0], "stranger", "stranger"],
        "history": [[items[3], ""], [items[1], items[4]], ["", ""]],
    }
    expected = recommender.recommend(query, 5)
    for client in clients(server, "recommend"):
        outputs = client.predict(query)
        np.testing.assert_array_equal(outputs["item_ids"], expected["item_ids"].numpy())
        np.testing.assert_allclose(outputs["scores"], expected["scores"], atol=1e-5)


def test_served_recommend_signature_leaves_out_the_items_the_client_excludes(served):
    server, _, _, recommender = served
    items = recommender.item_ids
    query = {
        "user_id": [recommender.user_ids[0], "stranger"],
        "history": [[items[3], ""], [items[1], items[4]]],
        "exclude_item_ids": [[items[0], items[2], items[5]], ["", "", ""]],
    }
    expected = recommender.recommend(query, 5)
    assert not {items[0], items[2], items[3], items[5]} & set(expected["item_ids"].numpy()[0].astype(str))
    for client in clients(server, "recommend", signature="recommend"):
        outputs = client.predict(query)
        np.testing.assert_array_equal(outputs["item_ids"], expected["item_ids"].numpy())
        np.testing.assert_allclose(outputs["scores"], expected["scores"], atol=1e-5)


def test_errors_carry_the_servers_status_code(served):
    server, _, _, _ = served
    for client in clients(server, "no_such_model"):
        with pytest.raises(ServingError) as error:
            client.predict(["a text"])
        assert error.value.code == "NOT_FOUND"


def test_client_retries_while_the_server_is_unavailable(tmp_path):
    port = free_port()
    client = ServingClient(f"127.0.0.1:{port}", "sentiment", timeout=0.5, retries=2)
    with pytest.raises(ServingError) as error:
        client.predict(["a text"])
    assert error.value.code == "UNAVAILABLE"
    rest_client = ServingClient(f"http://127.0.0.1:{port}", "sentiment", timeout=0.5, retries=1)
    with pytest.raises(ServingError) as error:
        rest_client.predict(["a text"])
    assert error.value.code == "UNAVAILABLE"


def test_a_single_output_is_keyed_by_its_alias_over_grpc_and_rest(main_server, monkeypatch):
    """TF Serving's columnar REST answer leaves a signature's only output unnamed ({"outputs": value});
    the client keys it by its alias as gRPC does, asking the model's metadata only once."""
    requested = []
    urlopen = urllib.request.urlopen

    def spying_urlopen(request, *args, **kwargs):
        requested.append((request.get_method(), request.full_url))
        return urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spying_urlopen)
    grpc_client, rest_client = clients(main_server, "text", signature="echo")
    for client in (grpc_client, rest_client, rest_client):
        outputs = client.predict(["héllo", "b"])
        assert list(outputs) == ["text_bytes"]
        assert outputs["text_bytes"].tolist() == ["héllo".encode(), b"b"]
    base = f"http://127.0.0.1:{main_server.rest_port}/v1/models/text"
    assert requested == [
        ("POST", f"{base}:predict"),
        ("GET", f"{base}/metadata"),
        ("POST", f"{base}:predict"),
    ]
    # A version label asks that version's metadata; several outputs come back named, with no metadata asked.
    requested.clear()
    labelled = ServingClient(
        f"http://127.0.0.1:{main_server.rest_port}", "text", version_label="stable", signature="echo"
    )
    assert list(labelled.predict(["a"])) == ["text_bytes"]
    assert requested[1] == ("GET", f"{base}/labels/stable/metadata")
    requested.clear()
    for client in clients(main_server, "text"):
        assert client.predict(["abc"])["version"].tolist() == [2]
    assert requested == [("POST", f"{base}:predict")]


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    """Answers each request with the server's next scripted (status, content type, body)."""

    def do_GET(self):
        self.server.requested.append(("GET", self.path))
        self._answer()

    def do_POST(self):
        self.server.requested.append(("POST", self.path))
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer()

    def _answer(self):
        status, content_type, body = self.server.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedHandler)
    server.answers, server.requested = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_rest_errors_that_are_not_json_keep_their_status_code(scripted_server):
    """A proxy's HTML 503 page is UNAVAILABLE (so retried) with the page as message, like a JSON error."""
    page = b"<html><body>503 Service Temporarily Unavailable</body></html>"
    good = json.dumps({"outputs": {"scores": [[0.25, 0.75]], "labels": ["positive"]}}).encode()
    scripted_server.answers = [(503, "text/html", page), (200, "application/json", good)]
    client = ServingClient(f"http://127.0.0.1:{scripted_server.server_port}", "sentiment", retries=2)
    outputs = client.predict(["a text"])
    assert outputs["labels"].tolist() == [b"positive"]
    assert not scripted_server.answers
    scripted_server.answers = [(503, "text/html", page), (503, "text/html", page)]
    with pytest.raises(ServingError) as error:
        ServingClient(f"http://127.0.0.1:{scripted_server.server_port}", "sentiment", retries=1).predict(["a"])
    assert (error.value.code, error.value.message) == ("UNAVAILABLE", page.decode())
    assert not scripted_server.answers
    scripted_server.answers = [(404, "text/plain", b""), (400, "application/json", b'"not an object"')]
    for code, message in (("NOT_FOUND", "Not Found"), ("INVALID_ARGUMENT", '"not an object"')):
        with pytest.raises(ServingError) as error:
            client.predict(["a text"])
        assert (error.value.code, error.value.message) == (code, message)


def test_a_single_scalar_bytes_output_is_keyed_by_its_alias(scripted_server):
    """A lone scalar output written as {"b64": ...} is a value, not a map of output names."""
    metadata = {"metadata": {"signature_def": {"signature_def": {"serving_default": {"outputs": {"id_bytes": {}}}}}}}
    scripted_server.answers = [
        (200, "application/json", b'{"outputs": {"b64": "/w=="}}'),
        (200, "application/json", json.dumps(metadata).encode()),
    ]
    client = ServingClient(f"http://127.0.0.1:{scripted_server.server_port}", "ids", version=3)
    assert client.predict(["a"]) == {"id_bytes": b"\xff"}
    assert scripted_server.requested == [
        ("POST", "/v1/models/ids/versions/3:predict"),
        ("GET", "/v1/models/ids/versions/3/metadata"),
    ]
