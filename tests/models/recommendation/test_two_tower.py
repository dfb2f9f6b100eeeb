"""Tests for keras_simpletf/models/recommendation/two_tower.py: id and text two-tower retrieval on DEMO data."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import IdTwoTowerRetrieval, MostPopularItems, TextTwoTowerRetrieval
from tests.models.recommendation.conftest import HISTORY_LENGTH, SEQUENCE_LENGTH


class TwoTowers:
    """The id-only and text two-tower models, trained on the DEMO split's interactions."""

    def __init__(self, demo):
        examples = {
            "user_id": demo.train.user_ids,
            "history": demo.train.histories(HISTORY_LENGTH),
            "item_id": demo.train.item_ids,
        }
        train_users = demo.train.users()
        self.popular = MostPopularItems(demo.item_ids, demo.counts)
        keras.utils.set_random_seed(0)
        self.id_only = IdTwoTowerRetrieval(demo.item_ids, train_users, demo.counts, embedding_dim=32)
        self.id_only.compile(keras.optimizers.Adam(0.01))
        self.id_only.fit(demo.batches(examples), epochs=10, verbose=0)
        keras.utils.set_random_seed(0)
        encoder = TransformerEncoder(
            len(demo.preprocessor.vocabulary), num_layers=1, hidden_dim=32,
            max_length=SEQUENCE_LENGTH)
        self.text = TextTwoTowerRetrieval(
            encoder, demo.item_ids, demo.item_token_ids, train_users, demo.counts, embedding_dim=32)
        self.text.compile(keras.optimizers.Adam(0.005))
        self.text.fit(demo.batches(examples), epochs=10, verbose=0)


@pytest.fixture(scope="module")
def towers(demo):
    return TwoTowers(demo)


def test_text_two_tower_beats_popularity_and_ids_and_recommends_cold_start_items(demo, towers):
    reports = {
        "most popular": demo.report(towers.popular),
        "id-only two-tower": demo.report(towers.id_only),
        "text two-tower": demo.report(towers.text),
    }
    for name, report in reports.items():
        print(f"\n{name}\n{report}")
    recall = {name: report.overall["recall@10"] for name, report in reports.items()}
    cold_recall = {name: report.cold_start["recall@10"] for name, report in reports.items()}
    assert recall["text two-tower"] > recall["id-only two-tower"] + 0.1
    assert recall["id-only two-tower"] > recall["most popular"]
    assert cold_recall["text two-tower"] > 3 * reports["text two-tower"].cold_start["random_recall@10"]
    assert cold_recall["id-only two-tower"] == 0.0 and cold_recall["most popular"] == 0.0
    assert reports["text two-tower"].cold_start["users"] > 100


def test_an_unknown_user_is_served_from_their_history(demo, towers):
    anonymous = dict(demo.queries, user_id=np.full(len(demo.users), "never seen"))
    history_only = demo.report(towers.text, anonymous).overall["recall@10"]
    popularity = demo.report(towers.popular).overall["recall@10"]
    assert history_only > popularity + 0.1
    without_user = {"history": demo.queries["history"][:4]}
    np.testing.assert_allclose(
        towers.text.scores(without_user),
        towers.text.scores(dict(without_user, user_id=["never seen"] * 4)), atol=1e-6)
    # The id-only model reads no history: an unknown user gets the popular items.
    np.testing.assert_allclose(towers.id_only.scores(without_user), towers.popular.scores(without_user))


@pytest.mark.parametrize("model_name", ["id_only", "text"])
def test_no_known_user_and_no_history_falls_back_to_popularity(demo, towers, model_name):
    model = getattr(towers, model_name)
    queries = {"user_id": ["never seen", ""], "history": [[], ["not an item"]]}
    np.testing.assert_allclose(model.scores(queries), towers.popular.scores(queries))


def test_an_empty_history_is_the_user_alone_and_unknown_history_items_are_ignored(demo, towers):
    user = demo.users[0]
    alone = towers.text.scores({"user_id": [user]})
    np.testing.assert_allclose(towers.text.scores({"user_id": [user], "history": [[]]}), alone)
    np.testing.assert_allclose(towers.text.scores({"user_id": [user], "history": [["", "", ""]]}), alone)
    history = list(demo.queries["history"][0][:3])
    np.testing.assert_allclose(
        towers.text.scores({"user_id": [user], "history": [history + ["no such item"]]}),
        towers.text.scores({"user_id": [user], "history": [history]}), atol=1e-6)


def test_the_id_only_model_ranks_items_it_never_trained_last(demo, towers):
    cold = demo.counts == 0
    scores = towers.id_only.scores({"user_id": demo.users[:3]}).numpy()
    assert np.isneginf(scores[:, cold]).all() and np.isfinite(scores[:, ~cold]).all()
    # They still come before the items of the history and the excluded ones.
    items = np.asarray(demo.item_ids)
    history, excluded = items[~cold][:1].tolist(), items[~cold][1:].tolist()
    result = towers.id_only.recommend(
        {"user_id": demo.users[:1], "history": [history], "exclude_item_ids": [excluded]},
        k=int(cold.sum()),
    )
    assert sorted(result["item_ids"].numpy()[0].astype(str)) == sorted(items[cold])
    assert np.isneginf(result["scores"].numpy()).all()
    vectors = towers.id_only.encode_items({"item_id": ["i000", "no such item"]}).numpy()
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(vectors[1], 0.0)


def test_encode_items_embeds_any_text_like_the_catalogue_index(demo, towers):
    index = towers.text.catalogue_embeddings(batch_size=64).numpy()
    assert index.shape == (len(demo.catalogue), 32)
    np.testing.assert_allclose(np.linalg.norm(index, axis=1), 1.0, atol=1e-5)
    features = demo.preprocessor(demo.catalogue.texts[:7])
    np.testing.assert_allclose(towers.text.encode_items(features), index[:7], atol=1e-5)
    new_item = towers.text.encode_items(demo.preprocessor(["a rocket and a galaxy"]))
    assert new_item.shape == (1, 32)


def test_recommend_traces_into_a_serving_function(demo, towers):
    index = towers.text.catalogue_embeddings()

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string),
                                  tf.TensorSpec((None, None), tf.string)])
    def recommend(user_id, history):
        return towers.text.recommend({"user_id": user_id, "history": history}, 10, index)

    queries = {"user_id": demo.users[:4], "history": demo.queries["history"][:4]}
    traced = recommend(tf.constant(queries["user_id"]), tf.constant(queries["history"]))
    eager = towers.text.recommend(queries, 10)
    np.testing.assert_array_equal(traced["item_ids"], eager["item_ids"])
    np.testing.assert_allclose(traced["scores"], eager["scores"], atol=1e-5)


def test_in_batch_softmax_loss_matches_numpy():
    model = IdTwoTowerRetrieval(["a", "b", "c", "d"], ["u1", "u2", "u3"],
                                item_counts=[5, 1, 0, 2], embedding_dim=4, temperature=0.2)
    batch = {"user_id": tf.constant(["u1", "u2", "u3", "u1"]),
             "item_id": tf.constant(["a", "b", "a", "d"])}
    queries, candidates = (tensor.numpy() for tensor in model(batch))
    loss = float(model.compute_loss(batch, None, model(batch)))
    positions = np.array([0, 1, 0, 3])
    log_q = np.log((np.array([5, 1, 0, 2]) + 1) / (8 + 4))[positions]
    expected = []
    for row in range(4):
        logits = queries[row] @ candidates.T / 0.2 - log_q
        negatives = [col for col in range(4) if col == row or positions[col] != positions[row]]
        expected.append(-logits[row] + np.log(np.exp(logits[negatives]).sum()))
    assert loss == pytest.approx(np.mean(expected), rel=1e-5)


@pytest.mark.parametrize("model_name", ["id_only", "text"])
def test_keras_file_round_trip_recommends_the_same(demo, towers, model_name, tmp_path):
    model = getattr(towers, model_name)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored) is type(model)
    assert json.loads(json.dumps(restored.get_config())) == json.loads(json.dumps(model.get_config()))
    queries = {"user_id": np.append(demo.users[:3], "never seen"), "history": demo.queries["history"][:4]}
    expected, actual = model.recommend(queries, 10), restored.recommend(queries, 10)
    np.testing.assert_array_equal(actual["item_ids"], expected["item_ids"])
    np.testing.assert_allclose(actual["scores"], expected["scores"], atol=1e-6)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="`temperature` must be positive"):
        IdTwoTowerRetrieval(["a"], ["u"], temperature=0)
    with pytest.raises(ValueError, match=r"`item_token_ids` must be `\(num_items=2"):
        TextTwoTowerRetrieval(TransformerEncoder(10, 1, 8), ["a", "b"], [[2, 3]], ["u"])
