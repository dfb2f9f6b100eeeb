"""Train on DEMO data, export, serve with our model server, call it with serving/client.py.

The sentiment classifier and the recommender train briefly on DEMO data (the
answers must equal the in-process model's, whatever their quality); the
tagger is untrained.
"""

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
