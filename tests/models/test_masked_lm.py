"""Tests for keras_simpletf/models/masked_lm.py: masked-LM pretraining of our encoder."""

import keras
import numpy as np
import pytest

from keras_simpletf.data import demo_sentiment
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import MaskedLanguageModel, masked_lm_dataset, pretrain_masked_lm
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary

TEXTS, _ = demo_sentiment(256, seed=0)


@pytest.fixture(scope="module")
def vocabulary():
    return learn_vocabulary(TEXTS, 200, allow_smaller=True)


def preprocessor(vocabulary):
    return ClassificationPreprocessor(vocabulary, sequence_length=24, dynamic_padding=True)


def encoder(vocabulary):
    return TransformerEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=16)


def test_masked_positions_hold_the_original_tokens_and_never_cls_sep_or_padding(vocabulary):
    # One text 64 times: the rows differ only in what is masked, whatever the shuffle.
    text = max(TEXTS, key=len)
    batch = next(iter(masked_lm_dataset([text] * 64, preprocessor(vocabulary), vocabulary, 64)))
    inputs, mask_ids, mask_weights = (np.asarray(part) for part in
                                      (batch[0]["token_ids"], batch[1], batch[2]))
    positions = np.asarray(batch[0]["mask_positions"])
    original = np.asarray(preprocessor(vocabulary)([text])["token_ids"])[0]
    chosen = mask_weights > 0
    rows = np.nonzero(chosen)[0]
    assert 0.1 < chosen.sum() / (64 * np.count_nonzero(original > 4)) < 0.2
    np.testing.assert_array_equal(original[positions[chosen]], mask_ids[chosen])
    assert set(original[positions[chosen]]).isdisjoint(
        {0, vocabulary.index("[CLS]"), vocabulary.index("[SEP]")})
    assert np.mean(inputs[rows, positions[chosen]] == vocabulary.index("[MASK]")) > 0.6


def test_pretraining_learns_to_predict_masked_tokens(vocabulary):
    keras.utils.set_random_seed(0)
    trained = pretrain_masked_lm(encoder(vocabulary), TEXTS, preprocessor(vocabulary), vocabulary,
                                 steps=150, batch_size=32, learning_rate=3e-3, verbose=0)
    untrained = MaskedLanguageModel(encoder(vocabulary))
    untrained.compile(loss=trained.loss, weighted_metrics=["sparse_categorical_accuracy"])
    batches = masked_lm_dataset(TEXTS, preprocessor(vocabulary), vocabulary, 64, seed=1).take(4)
    accuracy = trained.evaluate(batches, return_dict=True, verbose=0)["accuracy"]
    chance = untrained.evaluate(batches, return_dict=True, verbose=0)
    # 0.22 against 0.007 at random.
    assert accuracy > 0.15 > 0.02 > chance["sparse_categorical_accuracy"]


def test_pretraining_trains_the_encoder_it_is_given(vocabulary):
    keras.utils.set_random_seed(0)
    trained = encoder(vocabulary)
    inputs, _, _ = next(iter(masked_lm_dataset(TEXTS[:8], preprocessor(vocabulary), vocabulary, 8)))
    before = np.asarray(trained(inputs["token_ids"]))
    pretrain_masked_lm(trained, TEXTS[:64], preprocessor(vocabulary), vocabulary, steps=4,
                       batch_size=16, verbose=0)
    assert np.abs(np.asarray(trained(inputs["token_ids"])) - before).max() > 1e-3


def test_pretraining_runs_under_a_mirrored_strategy(vocabulary, two_cpu_strategy):
    # Keras averages a first batch across the replicas to build the model: no booleans.
    with two_cpu_strategy.scope():
        trained = pretrain_masked_lm(encoder(vocabulary), TEXTS[:64], preprocessor(vocabulary),
                                     vocabulary, steps=2, batch_size=16, verbose=0)
    assert np.isfinite(trained.history.history["loss"][-1])


def test_the_model_round_trips_through_a_keras_file(vocabulary, tmp_path):
    model = MaskedLanguageModel(encoder(vocabulary))
    inputs, _, _ = next(iter(masked_lm_dataset(TEXTS[:8], preprocessor(vocabulary), vocabulary, 8)))
    logits = model(inputs)
    assert logits.shape[-1] == len(vocabulary)
    model.save(tmp_path / "masked_lm.keras")
    restored = keras.saving.load_model(tmp_path / "masked_lm.keras")
    np.testing.assert_allclose(restored(inputs), logits, atol=1e-5)


def test_logits_are_float32_under_mixed_precision(vocabulary):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = MaskedLanguageModel(encoder(vocabulary))
    inputs, _, _ = next(iter(masked_lm_dataset(TEXTS[:8], preprocessor(vocabulary), vocabulary, 8)))
    assert model(inputs).dtype == "float32"


def test_a_vocabulary_without_a_mask_token_is_refused(vocabulary):
    without = [token for token in vocabulary if token != "[MASK]"]
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        masked_lm_dataset(TEXTS, preprocessor(without), without, 8)
