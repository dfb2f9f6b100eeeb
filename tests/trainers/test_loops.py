"""Tests for trainers/fit_loop.py and trainers/custom_loop.py, run in process through train():
both loops compute the same thing, under every precision policy, for both tasks."""

import keras
import numpy as np
import pytest

from trainers import inputs
from trainers.config import parse_settings
from trainers.train import train

# A tiny model on a little DEMO data: a few seconds per run.
TINY = [
    "--train_examples=256", "--eval_examples=40", "--batch_size=16", "--vocabulary_size=100",
    "--sequence_length=16", "--hidden_dim=16", "--num_layers=1",
]


def tiny_job(*flags):
    return train(parse_settings([*TINY, *flags]))


def test_fit_and_the_custom_loop_train_the_same_weights():
    flags = ["--strategy=one_device", "--train_steps=12", "--checkpoint_every_steps=4", "--seed=3"]
    fitted = tiny_job(*flags, "--loop=fit")
    looped = tiny_job(*flags, "--loop=custom")
    assert fitted.steps == looped.steps == 12
    weights = zip(fitted.model.trainable_weights, looped.model.trainable_weights)
    for fit_weight, loop_weight in weights:
        np.testing.assert_allclose(fit_weight.numpy(), loop_weight.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        [loss for _, loss in fitted.losses], [loss for _, loss in looped.losses], rtol=1e-4
    )
    assert fitted.results == pytest.approx(looped.results, rel=1e-4)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_each_precision_policy_trains_with_float32_variables(policy):
    result = tiny_job(
        f"--mixed_precision={policy}", "--train_steps=60", "--checkpoint_every_steps=20",
        "--eval_every_steps=60", "--learning_rate=1e-2", "--dropout=0",
    )
    model, compute_dtype = result.model, policy.removeprefix("mixed_")
    assert {weight.dtype for weight in model.trainable_weights} == {"float32"}
    assert model.backbone.compute_dtype == compute_dtype
    assert model.get_layer("logits").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is (
        policy == "mixed_float16"
    )
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_the_ner_task_trains_in_both_loops_and_reports_entity_f1():
    flags = ["--task=ner", "--train_examples=64", "--train_steps=8"]
    fitted, looped = tiny_job(*flags, "--loop=fit"), tiny_job(*flags, "--loop=custom")
    for name in ("entity_f1", "progress_entity_f1"):
        assert fitted.results[name] == pytest.approx(looped.results[name], abs=1e-6)
    report = fitted.task.report(fitted.results)
    assert report.startswith("DEMO NER entity F1 on 40 held-out sentences: ")


def test_evaluation_counts_every_held_out_example_once():
    # 40 examples make two full batches of 16 and one padded with 8 of weight 0.
    result = tiny_job("--train_steps=4")
    correct = result.results["accuracy"] * 40
    assert correct == pytest.approx(round(correct), abs=1e-4)


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_a_finished_job_run_again_evaluates_without_training(tmp_path, loop):
    flags = [f"--loop={loop}", "--train_steps=4", f"--model_dir={tmp_path}"]
    first, again = tiny_job(*flags), tiny_job(*flags)
    assert again.steps == 4 and again.losses == []
    assert again.results == pytest.approx(first.results, rel=1e-5)


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_with_a_moving_average_the_job_evaluates_and_returns_the_average(tmp_path, loop):
    flags = [f"--loop={loop}", "--train_steps=8", "--checkpoint_every_steps=4", "--dropout=0"]
    last = tiny_job(*flags)
    averaged_flags = [*flags, "--ema_momentum=0.5", f"--model_dir={tmp_path}"]
    averaged = tiny_job(*averaged_flags)
    # Averaging leaves training as it was and ends on other weights.
    np.testing.assert_allclose(averaged.losses, last.losses, rtol=1e-5)
    assert averaged.results["loss"] != pytest.approx(last.results["loss"], rel=1e-3)
    # The figures the job reports are those of the model it returns (and exports).
    batches = inputs.evaluation_batches(averaged.task, 16)
    evaluated = averaged.model.evaluate(batches, return_dict=True, verbose=0)
    assert evaluated["loss"] == pytest.approx(averaged.results["loss"], rel=1e-5)
    assert evaluated["accuracy"] == pytest.approx(averaged.results["accuracy"], abs=1e-6)
    # The checkpoint keeps the last weights and the average: a job resumed at its end ends on the same.
    again = tiny_job(*averaged_flags)
    assert again.losses == []
    for weight, again_weight in zip(averaged.model.trainable_weights, again.model.trainable_weights):
        np.testing.assert_allclose(weight.numpy(), again_weight.numpy(), atol=1e-6)


@pytest.fixture
def overflowing_loss_scale(monkeypatch):
    """`mixed_float16` starts at a loss scale of 2**20, where the tiny model's float16 gradients
    overflow: the first two steps are skipped (not counted in `optimizer.iterations`) while the
    scale halves, as happens now and then in any long `mixed_float16` run."""
    start = keras.optimizers.LossScaleOptimizer.__init__

    def start_high(self, inner_optimizer, initial_scale=2.0**20, **kwargs):
        start(self, inner_optimizer, initial_scale=initial_scale, **kwargs)

    monkeypatch.setattr(keras.optimizers.LossScaleOptimizer, "__init__", start_high)


def saved_steps(model_dir):
    return sorted(int(path.name[5:-6]) for path in (model_dir / "checkpoints").glob("ckpt-*.index"))


def test_steps_skipped_under_float16_overflow_are_made_up_and_checkpoints_still_come(
    tmp_path, overflowing_loss_scale
):
    flags = [
        "--mixed_precision=mixed_float16", "--train_steps=40", "--checkpoint_every_steps=20",
        "--eval_every_steps=40", "--steps_per_loop=5",
    ]
    results = {}
    for loop in ("fit", "custom"):
        results[loop] = tiny_job(*flags, f"--loop={loop}", f"--model_dir={tmp_path / loop}")
        assert results[loop].model.optimizer.dynamic_scale.numpy() == 2.0**18  # Two steps skipped.
        assert results[loop].steps == 40
        # The first host loop past step 20 (batch 25, step 23), and the end.
        assert saved_steps(tmp_path / loop) == [23, 40]
    # Both loops made the skipped steps up on the batches that follow.
    for fit_weight, loop_weight in zip(
        results["fit"].model.trainable_weights, results["custom"].model.trainable_weights
    ):
        np.testing.assert_allclose(fit_weight.numpy(), loop_weight.numpy(), atol=1e-5)
    assert results["fit"].results == pytest.approx(results["custom"].results, rel=1e-4)


@pytest.mark.parametrize("loop, evaluation_line", [("fit", "val_loss"), ("custom", "eval time:")])
def test_train_steps_that_are_not_whole_passes_evaluate_and_checkpoint_every_pass(
    tmp_path, capsys, loop, evaluation_line
):
    # A pass is 16 steps (256 examples, batch 16): 40 steps are two passes and a half.
    result = tiny_job(f"--loop={loop}", "--train_steps=40", f"--model_dir={tmp_path}")
    assert result.steps == 40
    assert [step for step, _ in result.losses][-1] == 40
    assert saved_steps(tmp_path) == [16, 32, 40]
    assert capsys.readouterr().out.count(evaluation_line) == 3  # At steps 16, 32 and 40.


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_a_job_whose_every_step_is_skipped_stops_and_keeps_its_checkpoint(
    tmp_path, monkeypatch, loop
):
    from trainers.fit_loop import TrainingStalled

    flags = [
        f"--loop={loop}", "--mixed_precision=mixed_float16", "--checkpoint_every_steps=4",
        "--eval_every_steps=4", "--steps_per_loop=4", f"--model_dir={tmp_path}",
    ]
    tiny_job(*flags, "--train_steps=8")
    assert saved_steps(tmp_path) == [4, 8]
    # From here on every gradient is NaN, as after a step applied NaN weights: each is skipped.
    monkeypatch.setattr(
        keras.optimizers.LossScaleOptimizer, "scale_loss", lambda self, loss: loss * np.nan
    )
    with pytest.raises(TrainingStalled, match="stalled at step 8: the optimizer skipped"):
        tiny_job(*flags, "--train_steps=400")
    assert saved_steps(tmp_path) == [4, 8]
