"""Tests for keras_simpletf/models/fine_tuning.py."""

import keras
import numpy as np
import pytest

from keras_simpletf.layers import EncoderBlock
from keras_simpletf.models.fine_tuning import WarmupLinearDecay, fine_tuning_optimizer


def test_schedule_warms_up_then_decays_linearly_to_the_end_rate():
    schedule = WarmupLinearDecay(1.0, warmup_steps=10, total_steps=110, end_learning_rate=0.1)
    values = [float(schedule(step)) for step in (0, 5, 10, 60, 110, 500)]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.55, 0.1, 0.1], atol=1e-6)


def test_schedule_without_warmup_starts_at_the_peak():
    schedule = WarmupLinearDecay(2.0, warmup_steps=0, total_steps=4)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 2, 4)], [2.0, 1.0, 0.0])


def test_schedule_rejects_warmup_longer_than_training():
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLinearDecay(1.0, warmup_steps=10, total_steps=10)


def test_schedule_config_round_trip():
    schedule = WarmupLinearDecay(3e-5, 7, 70, 1e-6)
    assert WarmupLinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_weight_decay_skips_biases_layer_norms_and_gates():
    block = EncoderBlock(num_heads=2, residual="rezero")
    block.build((None, None, 8))
    for weight in block.trainable_weights:
        weight.assign(np.ones(weight.shape, "float32"))
    optimizer = fine_tuning_optimizer(total_steps=10, learning_rate=0.1, warmup_ratio=0.0, weight_decay=0.5)
    # Zero gradients: Adam's step is zero, so only decoupled weight decay moves weights.
    optimizer.apply_gradients(
        [(keras.ops.zeros(w.shape), w) for w in block.trainable_weights]
    )
    for weight in block.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        name = weight.path.split("/")[-1]
        if name in ("bias", "gamma", "beta", "gate"):
            np.testing.assert_allclose(value, 1.0, err_msg=weight.path)
        else:
            np.testing.assert_allclose(value, 1.0 - 0.1 * 0.5, rtol=1e-6, err_msg=weight.path)


def test_optimizer_clips_the_global_norm_and_uses_bert_epsilon():
    optimizer = fine_tuning_optimizer(total_steps=10, clipnorm=0.5)
    assert optimizer.global_clipnorm == 0.5 and optimizer.epsilon == 1e-6
    assert float(optimizer.learning_rate) == 0.0  # step 0 of the warm-up
