"""Tests for trainers/inputs.py: fixed and dynamic padding, batches of similar length, a
training stream that a resumed job picks up exactly where it stopped, and an evaluation loss
that padding does not lower."""

import itertools
import re

import keras
import numpy as np
import pytest

from tests.trainers.jobs import TINY, run_job
from trainers import inputs, tasks
from trainers.config import parse_settings
from trainers.train import train


def task_of(*flags):
    return tasks.create_task(parse_settings([*TINY, "--sequence_length=64", *flags]))


@pytest.fixture(scope="module")
def ner():
    return task_of("--task=ner")


def lengths_of(features):
    return np.sum(features["padding_mask"].numpy(), axis=1)


def test_padding_is_dynamic_unless_the_strategy_is_a_tpu():
    assert parse_settings([]).padding == "dynamic"
    assert parse_settings(["--strategy=tpu"]).padding == "fixed"
    assert parse_settings(["--padding=fixed"]).padding == "fixed"


def test_fixed_padding_pads_every_batch_to_the_sequence_length():
    task = task_of("--padding=fixed")
    for features, _ in itertools.islice(inputs.training_batches(task, 16, seed=0), 3):
        assert features["token_ids"].shape == (16, 64)


def test_a_dynamic_batch_is_as_long_as_its_longest_example_and_holds_similar_lengths(ner):
    all_lengths = inputs.token_lengths(ner, ner.train_examples)
    assert max(all_lengths) - min(all_lengths) > 8  # the DEMO sentences differ in length
    for features, tags in itertools.islice(inputs.training_batches(ner, 16, seed=0), 20):
        lengths = lengths_of(features)
        assert features["token_ids"].shape == tags.shape == (16, lengths.max())
        assert lengths.max() - lengths.min() <= 8  # one bucket: lengths within 8 tokens


def test_a_resumed_stream_starts_at_the_batch_the_restored_step_reached(ner):
    stream = inputs.training_batches(ner, 16, seed=3)
    expected = [tags.numpy() for _, tags in itertools.islice(stream, 7, 10)]
    resumed = inputs.training_batches(ner, 16, seed=3, start_step=7)
    for want, (_, got) in zip(expected, itertools.islice(resumed, 3)):
        np.testing.assert_array_equal(got.numpy(), want)
    other_seed = inputs.training_batches(ner, 16, seed=4, start_step=7)
    assert not np.array_equal(next(iter(other_seed))[1].numpy(), expected[0])


def test_dynamic_evaluation_batches_score_every_example_once(ner):
    size = len(ner.eval_examples)
    seen = []
    for features, tags, weights in inputs.evaluation_batches(ner, 16):
        assert features["token_ids"].shape[1] == lengths_of(features).max()
        real = weights.numpy()[:, 0] > 0
        seen.extend(lengths_of(features)[real])
    assert len(seen) == size
    assert sorted(seen) == sorted(inputs.token_lengths(ner, ner.eval_examples))


# 17 evaluation examples in batches of 16: the second batch is 1 example and 15 of padding.
SEVENTEEN = [*TINY, "--eval_examples=17", "--train_steps=16"]


def mean_evaluation_loss(task, model):
    """The model's loss over the task's evaluation examples, all in one batch."""
    features, labels = task.preprocess(*task.columns(task.eval_examples))
    return float(model.default_loss()(labels, model(features, training=False)))


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_the_evaluation_loss_is_the_mean_over_the_real_examples(loop):
    result = train(parse_settings([*SEVENTEEN, f"--loop={loop}"]))
    expected = mean_evaluation_loss(result.task, result.model)
    assert result.results["loss"] == pytest.approx(expected, rel=1e-4)


def test_the_validation_loss_fit_prints_across_replicas_is_the_mean_over_the_real_examples(
    tmp_path,
):
    flags = [*SEVENTEEN, "--strategy=mirrored", "--cpu_replicas=2", "--loop=fit"]
    result = run_job(*flags, f"--export_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = re.findall(r"val_loss: ([0-9.]+)", result.stdout)
    assert printed, result.stdout[-3000:]
    model = keras.saving.load_model(tmp_path / "model.keras")
    expected = mean_evaluation_loss(tasks.create_task(parse_settings(flags)), model)
    assert float(printed[-1]) == pytest.approx(expected, abs=1e-4)  # printed to 4 decimals
