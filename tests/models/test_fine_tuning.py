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


def _warmup_steps_of(optimizer):
    return optimizer.get_config()["learning_rate"]["config"]["warmup_steps"]


@pytest.mark.parametrize(
    "warmup_ratio, total_steps, expected",
    [
        (0.29, 100, 29),  # 0.29 * 100 == 28.999999999999996 in floats
        (0.57, 100, 57),  # 56.99999999999999
        (0.58, 100, 58),  # 57.99999999999999
        (0.14, 100, 14),  # 14.000000000000002
        (1 / 3, 300, 100),
        (0.0, 10, 0),
    ],
)
def test_warmup_steps_of_an_exact_product_are_not_lost_to_float_error(
    warmup_ratio, total_steps, expected
):
    optimizer = fine_tuning_optimizer(total_steps=total_steps, warmup_ratio=warmup_ratio)
    assert _warmup_steps_of(optimizer) == expected


@pytest.mark.parametrize(
    "warmup_ratio, total_steps, expected",
    [(0.1, 4377, 437), (0.1, 99, 9), (0.06, 1234, 74), (0.29, 99, 28), (0.999, 10, 9)],
)
def test_warmup_steps_of_a_fractional_product_round_down(warmup_ratio, total_steps, expected):
    # Floor, as int() always did: published runs keep their warm-up to the step.
    optimizer = fine_tuning_optimizer(total_steps=total_steps, warmup_ratio=warmup_ratio)
    assert _warmup_steps_of(optimizer) == expected


def test_inverse_square_root_schedule_starts_from_zero_at_step_zero():
    from keras_simpletf.models.fine_tuning import WarmupInverseSquareRootDecay

    # Vaswani et al.'s lrate and tensor2tensor's linear_warmup * rsqrt_decay on the 0-based
    # step the optimizer passes: peak * min(step / warmup, sqrt(warmup / step)), 0 at step 0.
    schedule = WarmupInverseSquareRootDecay(1e-3, warmup_steps=100)
    assert float(schedule(0)) == 0.0


def test_inverse_square_root_schedule_is_the_standard_formula_at_every_later_step():
    from keras_simpletf.models.fine_tuning import WarmupInverseSquareRootDecay

    peak, warmup = 7e-4, 40
    schedule = WarmupInverseSquareRootDecay(peak, warmup_steps=warmup)
    steps = np.arange(1, 10 * warmup + 1)
    expected = peak * np.minimum(steps / warmup, np.sqrt(warmup / steps))
    got = np.array([float(schedule(step)) for step in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # A one-step warm-up peaks at step 1 and starts from 0 too.
    one = WarmupInverseSquareRootDecay(peak, warmup_steps=1)
    np.testing.assert_allclose([float(one(s)) for s in (0, 1, 4)], [0.0, peak, peak / 2], rtol=1e-6)
