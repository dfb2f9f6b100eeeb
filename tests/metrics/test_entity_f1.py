"""Tests for keras_simpletf/metrics/entity_f1.py: in-graph entity F1 equals seqeval's."""


import keras
import numpy as np
import pytest
import tensorflow as tf
from seqeval.metrics import f1_score

from keras_simpletf.metrics import EntityF1

# seqeval warns when there are no entities at all.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def random_batch(rng, batch=6, length=10, num_tags=len(TAGS)):
    """Tag ids with -1 at random positions and a padded tail, and logits right half the time."""
    y_true = rng.integers(num_tags, size=(batch, length))
    y_true[rng.random((batch, length)) < 0.25] = -1
    lengths = rng.integers(0, length + 1, size=batch)
    y_true[np.arange(length)[None, :] >= lengths[:, None]] = -1
    logits = rng.normal(size=(batch, length, num_tags)).astype("float32")
    right = (rng.random((batch, length)) < 0.5) & (y_true >= 0)
    logits[right, y_true[right]] += 10.0
    return y_true.astype("int32"), logits


def kept_tag_sequences(y_true, predicted_ids, tags=TAGS):
    """The rows as seqeval sees them: the tags at the positions whose label is not -1."""
    true_sentences, predicted_sentences = [], []
    for true_row, predicted_row in zip(y_true, predicted_ids):
        kept = true_row >= 0
        true_sentences.append([tags[i] for i in true_row[kept]])
        predicted_sentences.append([tags[i] for i in predicted_row[kept]])
    return true_sentences, predicted_sentences


def test_accumulated_result_equals_seqeval_f1_on_kept_positions():
    rng = np.random.default_rng(0)
    metric = EntityF1(TAGS)
    all_true, all_predicted = [], []
    for _ in range(20):
        y_true, logits = random_batch(rng)
        metric.update_state(y_true, logits)
        true_sentences, predicted_sentences = kept_tag_sequences(y_true, logits.argmax(-1))
        all_true += true_sentences
        all_predicted += predicted_sentences
        np.testing.assert_allclose(
            float(metric.result()), f1_score(all_true, all_predicted), atol=1e-6
        )


@pytest.mark.parametrize("seed", range(5))
def test_each_random_batch_equals_seqeval_f1_given_ids(seed):
    rng = np.random.default_rng(seed)
    metric = EntityF1(TAGS[:5])
    for _ in range(10):
        y_true, logits = random_batch(rng, batch=8, length=16, num_tags=5)
        predicted_ids = logits.argmax(-1)
        metric.reset_state()
        metric.update_state(y_true, predicted_ids)
        expected = f1_score(*kept_tag_sequences(y_true, predicted_ids, TAGS[:5]))
        np.testing.assert_allclose(float(metric.result()), expected, atol=1e-6)


def test_ignored_word_pieces_do_not_split_an_entity():
    metric = EntityF1(TAGS)
    # "B-PER [piece] I-PER" is one entity once the piece is removed.
    metric.update_state([[1, -1, 2, 0, -1]], [[1, 0, 2, 0, 3]])
    assert float(metric.result()) == 1.0
    metric.reset_state()
    # I- after O starts an entity, as in seqeval: both sides find LOC at 1..2.
    metric.update_state([[0, 4, 4]], [[0, 3, 4]])
    assert float(metric.result()) == 1.0
    metric.update_state([[1, 4, 0]], [[1, 2, 0]])  # PER at 0 then LOC at 1 vs PER at 0..1
    np.testing.assert_allclose(float(metric.result()), 2 * 1 / (3 + 2))


def test_no_entities_gives_zero_and_reset_clears_the_counts():
    metric = EntityF1(TAGS)
    metric.update_state([[0, 0, -1]], [[0, 0, 1]])
    assert float(metric.result()) == 0.0
    metric.update_state([[1, 2, -1]], [[1, 2, 0]])
    assert float(metric.result()) > 0.0
    metric.reset_state()
    metric.update_state([[-1, -1]], [[1, 2]])
    assert float(metric.result()) == 0.0


def test_zero_sample_weight_ignores_positions_and_weights_scale_entities():
    y_true = np.array([[1, 2, 0, 3], [3, 4, 0, 0]])
    y_pred = np.array([[1, 0, 2, 3], [3, 4, 0, 1]])
    masked = EntityF1(TAGS)
    masked.update_state(y_true, y_pred, sample_weight=[[1, 0, 1, 1], [1, 1, 1, 1]])
    ignored = EntityF1(TAGS)
    ignored.update_state(np.where([[1, 0, 1, 1], [1, 1, 1, 1]], y_true, -1), y_pred)
    assert float(masked.result()) == float(ignored.result())

    weighted = EntityF1(TAGS)
    weighted.update_state(y_true, y_pred, sample_weight=[2.0, 0.0])
    # Row 0 alone: true PER(0..1), LOC(3); predicted PER(0), PER(2), LOC(3).
    np.testing.assert_allclose(float(weighted.result()), 2 * 2 / (4 + 6))


def test_runs_inside_tf_function_and_xla():
    rng = np.random.default_rng(1)
    y_true, logits = random_batch(rng)
    expected = f1_score(*kept_tag_sequences(y_true, logits.argmax(-1)))
    for jit_compile in (False, True):
        metric = EntityF1(TAGS)

        @tf.function(jit_compile=jit_compile)
        def update(y_true, logits):
            metric.update_state(y_true, logits)
            return metric.result()

        np.testing.assert_allclose(float(update(y_true, logits)), expected, atol=1e-6)


def tagging_data():
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, 30, size=(64, 12)).astype("int32")
    labels = (token_ids % len(TAGS)).astype("int32")
    labels[:, 9:] = -1
    return tf.data.Dataset.from_tensor_slices((token_ids, labels)).batch(16, drop_remainder=True)


@pytest.mark.parametrize("distributed", [False, True])
def test_model_fit_reports_entity_f1(distributed, request):
    strategy = (
        request.getfixturevalue("two_cpu_strategy")
        if distributed
        else tf.distribute.get_strategy()
    )
    with strategy.scope():
        token_ids = keras.Input(shape=(12,), dtype="int32")
        embedded = keras.layers.Embedding(30, 16)(token_ids)
        logits = keras.layers.Dense(len(TAGS))(embedded)
        model = keras.Model(token_ids, logits)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
            metrics=[EntityF1(TAGS)],
        )
    history = model.fit(tagging_data(), epochs=3, verbose=0)
    scores = history.history["entity_f1"]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores[-1] > scores[0]
    assert 0.0 <= model.evaluate(tagging_data(), verbose=0, return_dict=True)["entity_f1"] <= 1.0


def test_config_round_trip():
    metric = EntityF1(TAGS, name="ner_f1")
    assert metric.get_config()["tags"] == TAGS
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(restored, EntityF1)
    assert restored.name == "ner_f1" and list(restored.tags) == TAGS
    y_true, logits = random_batch(np.random.default_rng(2))
    metric.update_state(y_true, logits)
    restored.update_state(y_true, logits)
    assert float(restored.result()) == float(metric.result())


def test_rejects_empty_tags():
    with pytest.raises(ValueError, match="non-empty list of tag strings"):
        EntityF1([])
