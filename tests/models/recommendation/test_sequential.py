"""Tests for keras_simpletf/models/recommendation/sequential.py: SequentialRetrieval on DEMO data."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import EASE, MostPopularItems, SequentialRetrieval
from tests.models.recommendation.conftest import SEQUENCE_LENGTH

MAX_HISTORY = 20


def sequential_model(demo, item_counts, **kwargs):
    encoder = TransformerEncoder(
        len(demo.preprocessor.vocabulary), num_layers=1, hidden_dim=32, max_length=SEQUENCE_LENGTH)
    return SequentialRetrieval(
        encoder, demo.item_ids, demo.item_token_ids, item_counts, embedding_dim=32, num_layers=1,
        max_history=MAX_HISTORY, **kwargs)


@pytest.fixture(scope="module")
def trained(demo):
    keras.utils.set_random_seed(0)
    model = sequential_model(demo, demo.counts)
    model.compile(keras.optimizers.Adam(0.005))
    examples = demo.train.sequence_examples(MAX_HISTORY, stride=5)
    model.fit(demo.batches(examples, batch_size=32), epochs=10, verbose=0)
    return model


def full_history(demo, users):
    return demo.train.recent_items(users, MAX_HISTORY)


def test_it_beats_popularity_and_recommends_cold_start_items_from_their_text(demo, trained):
    queries = {"history": full_history(demo, demo.users)}
    reports = {
        "most popular": demo.report(MostPopularItems(demo.item_ids, demo.counts), queries),
        "EASE": demo.report(EASE(demo.item_ids, l2=50.0).fit_interactions(demo.train), queries),
        "sequential": demo.report(trained, queries),
    }
    for name, report in reports.items():
        print(f"\n{name}\n{report}")
    ours = reports["sequential"]
    assert ours.overall["recall@10"] > 3 * reports["most popular"].overall["recall@10"]
    assert ours.overall["recall@10"] > 0.8 * reports["EASE"].overall["recall@10"]
    assert ours.cold_start["recall@10"] > 3 * ours.cold_start["random_recall@10"]
    assert reports["EASE"].cold_start["recall@10"] == 0.0


def test_the_serving_index_gives_the_scores_of_the_training_logits(demo, trained):
    """The last slot's training logits are the query's scores, for every trained item."""
    history = full_history(demo, demo.users)
    history = history[(history != "").sum(axis=1) >= 2][:6]
    # The latest item is the target of the slot of the one before it, the last slot.
    batch = {"history": tf.constant(history[:, 1:]), "item_id": tf.constant(history[:, 0])}
    logits, targets = trained(batch, training=False)
    last = np.cumsum((history[:, 1:] != "").sum(axis=1)) - 1
    scores = trained.scores({"history": history[:, 1:]}).numpy()
    trained_items = demo.counts > 0
    np.testing.assert_allclose(logits.numpy()[last][:, trained_items], scores[:, trained_items], atol=1e-4)
    assert (logits.numpy()[:, ~trained_items] == -1e9).all()  # untrained items: not in the softmax
    np.testing.assert_array_equal(targets.numpy()[last], demo.catalogue.indices(history[:, 0]))
    index = trained.catalogue_embeddings(batch_size=64)
    np.testing.assert_allclose(trained.scores({"history": history}, index), trained.scores({"history": history}),
                               atol=1e-5)


def test_each_slot_predicts_the_next_item_and_the_loss_is_their_cross_entropy(demo):
    model = sequential_model(demo, demo.counts)
    # Most recent first: i002 came after i001, then i003; unknown and padding ids are dropped.
    batch = {"history": tf.constant([["i002", "zzz", "i001", ""], ["", "", "", ""]]),
             "item_id": tf.constant(["i003", "i004"])}
    logits, targets = model(batch)
    np.testing.assert_array_equal(targets, demo.catalogue.indices(["i002", "i003"]))
    expected = np.mean([
        np.log(np.exp(row - row.max()).sum()) + row.max() - row[target]
        for row, target in zip(logits.numpy().astype(np.float64), targets.numpy())])
    assert float(model.compute_loss(batch, None, (logits, targets))) == pytest.approx(expected, rel=1e-5)


def test_recommend_honours_history_exclusions_and_falls_back_to_popularity(demo, trained):
    history = full_history(demo, demo.users[:1])
    excluded = [list(trained.recommend({"history": history}, 3)["item_ids"].numpy()[0].astype(str))]
    result = trained.recommend({"history": history, "exclude_item_ids": excluded}, 10)
    items = set(result["item_ids"].numpy()[0].astype(str))
    assert not items & (set(history[0]) | set(excluded[0]))
    nothing_known = {"user_id": ["u000", "u001"], "history": [[], ["not an item"]]}
    popular = MostPopularItems(demo.item_ids, demo.counts)
    np.testing.assert_allclose(trained.scores(nothing_known), popular.scores(nothing_known))


def test_queries_read_only_the_latest_max_history_known_items(demo, trained):
    history = full_history(demo, demo.users)
    history = history[(history != "").all(axis=1)][:3]  # MAX_HISTORY items each
    longer = np.concatenate([history, np.full((3, 7), "i000")], axis=1)
    with_unknown = np.insert(history, 2, "no such item", axis=1)
    expected = trained.scores({"history": history})
    np.testing.assert_allclose(trained.scores({"history": longer}), expected, atol=1e-5)
    np.testing.assert_allclose(trained.scores({"history": with_unknown}), expected, atol=1e-5)


def test_new_item_texts_embed_like_the_catalogue_index(demo, trained):
    index = trained.catalogue_embeddings().numpy()
    assert index.shape == (len(demo.catalogue), 33)
    cold = np.flatnonzero(demo.counts == 0)[:5]
    texts = [demo.catalogue.texts[i] for i in cold]
    # A cold item is its text alone: what encode_items gives any new text.
    np.testing.assert_allclose(trained.encode_items(demo.preprocessor(texts)), index[cold], atol=1e-5)
    warm = np.flatnonzero(demo.counts > 0)[:5]
    features = {**demo.preprocessor([demo.catalogue.texts[i] for i in warm]), "item_id": demo.item_ids[warm]}
    np.testing.assert_allclose(trained.encode_items(features), index[warm], atol=1e-5)


def test_recommend_traces_into_a_serving_function(demo, trained):
    index = trained.catalogue_embeddings()

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.string)] * 2)
    def recommend(history, exclude_item_ids):
        return trained.recommend({"history": history, "exclude_item_ids": exclude_item_ids}, 10, index)

    history = full_history(demo, demo.users[:4])
    excluded = tf.constant([["i000", ""]] * 4)
    traced = recommend(tf.constant(history), excluded)
    eager = trained.recommend({"history": history, "exclude_item_ids": excluded}, 10)
    np.testing.assert_array_equal(traced["item_ids"], eager["item_ids"])
    np.testing.assert_allclose(traced["scores"], eager["scores"], atol=1e-5)


def test_keras_file_round_trip_recommends_the_same(demo, trained, tmp_path):
    trained.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored) is SequentialRetrieval
    assert json.loads(json.dumps(restored.get_config())) == json.loads(json.dumps(trained.get_config()))
    queries = {"history": full_history(demo, demo.users[:5])}
    expected, actual = trained.recommend(queries, 10), restored.recommend(queries, 10)
    np.testing.assert_array_equal(actual["item_ids"], expected["item_ids"])
    np.testing.assert_allclose(actual["scores"], expected["scores"], atol=1e-5)
    np.testing.assert_array_equal(restored.item_has_id.numpy(), demo.counts > 0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_precision_model_trains_and_recommends(demo, policy):
    keras.mixed_precision.set_global_policy(policy)
    model = sequential_model(demo, demo.counts)
    model.compile(keras.optimizers.Adam(0.005))
    examples = demo.train.sequence_examples(MAX_HISTORY, stride=5)
    model.fit(demo.batches(examples, batch_size=32).take(2), verbose=0)
    result = model.recommend({"history": full_history(demo, demo.users[:2])}, k=3)
    assert result["scores"].dtype == tf.float32 and np.isfinite(result["scores"].numpy()).all()
    vectors = model.encode_items(
        {"token_ids": demo.item_token_ids[:2], "item_id": tf.constant(demo.item_ids[:2])})
    assert np.isfinite(np.asarray(vectors, "float32")).all()


def test_bad_constructor_arguments(demo):
    encoder = TransformerEncoder(10, 1, 8)
    with pytest.raises(ValueError, match=r"`item_token_ids` must be `\(num_items=2"):
        SequentialRetrieval(encoder, ["a", "b"], [[2, 3]])
    with pytest.raises(ValueError, match=r"`item_id_dropout` must be in \[0, 1\)"):
        SequentialRetrieval(encoder, ["a"], [[2, 3]], item_id_dropout=1.0)
    with pytest.raises(ValueError, match="max_history"):
        SequentialRetrieval(encoder, ["a"], [[2, 3]], max_history=0)
