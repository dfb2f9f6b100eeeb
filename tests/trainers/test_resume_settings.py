"""Tests for resuming a --model_dir with other settings: the job records its settings in
model_dir/settings.json, and a run that resumes with a flag changed that shapes the model, the
data or the optimisation is refused, naming each such flag, before anything is restored."""

import json
import shutil
import types

import pytest
import tensorflow as tf

from tests.trainers.jobs import TINY_DEMO, TINY_MODEL
from trainers import checkpointing
from trainers.config import SettingsError, parse_settings
from trainers.train import train

FLAGS = [*TINY_DEMO, *TINY_MODEL, "--train_steps=4"]


def job(model_dir, *flags):
    return train(parse_settings([*FLAGS, f"--model_dir={model_dir}", *flags]))


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A model_dir that the tiny job trained 4 steps into, with the loop's defaults."""
    model_dir = tmp_path_factory.mktemp("trained") / "model"
    job(model_dir)
    return model_dir


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    """A copy of `trained_dir` of the test's own."""
    copy = tmp_path / "model"
    shutil.copytree(trained_dir, copy)
    return copy


@pytest.fixture
def no_restore(monkeypatch):
    """Fails the test if a checkpoint is restored."""

    def restore(self):
        raise AssertionError("a checkpoint was restored")

    monkeypatch.setattr(checkpointing.CheckpointManager, "restore_or_initialize", restore)


def checkpoint_files(model_dir):
    return {path.name: path.read_bytes() for path in (model_dir / "checkpoints").iterdir()}


def test_resuming_with_changed_settings_is_refused_naming_each_with_both_values(
    model_dir, no_restore
):
    before = checkpoint_files(model_dir)
    with pytest.raises(SettingsError) as refused:
        job(model_dir, "--seed=3", "--batch_size=32", "--learning_rate=0.01")
    message = str(refused.value)
    assert message.startswith(f"--model_dir={model_dir} holds a checkpoint"), message
    for change in (
        "--seed: saved 0, now 3", "--batch_size: saved 16, now 32",
        "--learning_rate: saved unset, now 0.01",
    ):
        assert change in message
    assert checkpoint_files(model_dir) == before


@pytest.mark.parametrize("flag, change", [
    ("--hidden_dim=32", "--hidden_dim: saved 16, now 32"),
    ("--num_layers=2", "--num_layers: saved 1, now 2"),
    ("--vocabulary_size=50", "--vocabulary_size: saved 100, now 50"),
    ("--sequence_length=32", "--sequence_length: saved 16, now 32"),
    ("--task=ner", "--task: saved classification, now ner"),
    ("--dropout=0.2", "--dropout: saved 0.1, now 0.2"),
    ("--ema_momentum=0.9", "--ema_momentum: saved unset, now 0.9"),
    ("--mixed_precision=mixed_bfloat16", "--mixed_precision: saved float32, now mixed_bfloat16"),
    ("--train_examples=512", "--train_examples: saved 256, now 512"),
])
def test_a_flag_that_shapes_the_model_data_or_optimiser_is_refused_before_restoring(
    model_dir, no_restore, flag, change
):
    before = checkpoint_files(model_dir)
    with pytest.raises(SettingsError, match="holds a checkpoint of a different model") as refused:
        job(model_dir, flag)
    assert change in str(refused.value)
    assert checkpoint_files(model_dir) == before


def test_a_resumed_job_may_train_longer_and_change_intervals_loop_evaluation_and_outputs(
    model_dir, tmp_path, capsys
):
    result = job(
        model_dir, "--train_steps=8", "--checkpoint_every_steps=2", "--eval_every_steps=4",
        "--steps_per_loop=2", "--loop=custom", "--eval_examples=16",
        f"--export_dir={tmp_path / 'export'}",
    )
    assert result.steps == 8
    assert "Custom loop: from step 4 to 8." in capsys.readouterr().out
    # The record is of the latest run.
    recorded = json.loads((model_dir / "settings.json").read_text())
    assert recorded["train_steps"] == 8 and recorded["loop"] == "custom"


def test_the_settings_are_recorded_as_readable_json(trained_dir):
    text = (trained_dir / "settings.json").read_text()
    recorded = json.loads(text)
    assert recorded["hidden_dim"] == 16 and recorded["task"] == "classification"
    assert recorded["dropout"] == 0.1 and recorded["learning_rate"] is None  # Resolved values.
    assert text.count("\n") >= len(recorded)  # One setting a line.
    assert not (trained_dir / "settings.json.tmp").exists()


def test_a_model_dir_without_recorded_settings_resumes_and_records_them(model_dir):
    (model_dir / "settings.json").unlink()  # As a run from before the record left it.
    result = job(model_dir, "--train_steps=6")
    assert result.steps == 6
    assert json.loads((model_dir / "settings.json").read_text())["hidden_dim"] == 16
    with pytest.raises(SettingsError, match="--seed: saved 0, now 3"):
        job(model_dir, "--seed=3", "--train_steps=6")


def test_an_unreadable_settings_record_is_named(model_dir, no_restore):
    (model_dir / "settings.json").write_text('{"hidden_dim": 1')
    with pytest.raises(SettingsError, match=r"settings\.json"):
        job(model_dir)


def test_a_run_killed_before_its_first_checkpoint_leaves_a_record_the_next_run_replaces(tmp_path):
    # No checkpoint: nothing to resume, so nothing to compare with.
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "settings.json").write_text(json.dumps({"hidden_dim": 8, "seed": 5}))
    chief = types.SimpleNamespace(model_dir=str(model_dir), chief=True)
    settings = parse_settings([*FLAGS, f"--model_dir={model_dir}"])
    checkpointing.check_resumed_settings(settings)
    checkpointing.record_settings(chief, settings)
    assert json.loads((model_dir / "settings.json").read_text())["hidden_dim"] == 16


def test_only_the_chief_records_the_settings(tmp_path):
    settings = parse_settings([*FLAGS, f"--model_dir={tmp_path}"])
    worker = types.SimpleNamespace(model_dir=str(tmp_path), chief=False)
    checkpointing.record_settings(worker, settings)
    assert not (tmp_path / "settings.json").exists()
    chief = types.SimpleNamespace(model_dir=str(tmp_path), chief=True)
    checkpointing.record_settings(chief, settings)
    assert json.loads((tmp_path / "settings.json").read_text())["hidden_dim"] == 16


def test_a_record_cut_short_leaves_the_one_before_whole(tmp_path, monkeypatch):
    chief = types.SimpleNamespace(model_dir=str(tmp_path), chief=True)
    checkpointing.record_settings(chief, parse_settings([*FLAGS, f"--model_dir={tmp_path}"]))
    before = (tmp_path / "settings.json").read_text()

    def killed(*args, **kwargs):
        raise OSError("killed before the rename")

    monkeypatch.setattr(tf.io.gfile, "rename", killed)
    with pytest.raises(OSError, match="killed"):
        checkpointing.record_settings(
            chief, parse_settings([*FLAGS, f"--model_dir={tmp_path}", "--hidden_dim=32"])
        )
    assert (tmp_path / "settings.json").read_text() == before


# Which flags a resumed run may change: settings alone, no training.

MAY_CHANGE = [
    "--train_steps=8", "--epochs=5", "--checkpoint_every_steps=2", "--eval_every_steps=2",
    "--steps_per_loop=2", "--export_dir=/tmp/export", "--model_dir=/tmp/elsewhere",
    "--loop=custom", "--strategy=one_device", "--strategy=mirrored", "--strategy=tpu --padding=dynamic --tpu_timeout_s=10",
    "--eval_examples=16",
]
MAY_NOT_CHANGE = [
    "--task=ner", "--train_data=/data/train.tsv", "--train_examples=100", "--sequence_length=64",
    "--padding=fixed", "--lowercase=false", "--backbone=minilm", "--vocabulary_size=500",
    "--hidden_dim=64", "--num_layers=3", "--num_heads=2", "--num_kv_heads=1",
    "--intermediate_dim=64", "--layout=parallel", "--norm=post", "--residual=rezero",
    "--value_free", "--relative_positions=4", "--dropout=0.2", "--pretrain_steps=10",
    "--pooling=max", "--teacher=/models/teacher", "--batch_size=64", "--learning_rate=0.001",
    "--ema_momentum=0.9", "--seed=1", "--mixed_precision=mixed_bfloat16",
]


def _recorded(settings):
    from trainers.config import settings_record

    return json.loads(json.dumps(settings_record(settings)))


@pytest.mark.parametrize("flag", MAY_CHANGE)
def test_how_long_where_and_on_what_hardware_a_resumed_job_runs_may_change(flag):
    from trainers.config import changed_on_resume

    saved = _recorded(parse_settings([]))
    assert changed_on_resume(saved, parse_settings(flag.split())) == []


@pytest.mark.parametrize("flag", MAY_NOT_CHANGE)
def test_what_a_resumed_job_trains_may_not_change(flag):
    from trainers.config import changed_on_resume

    saved = _recorded(parse_settings([]))
    name = flag.removeprefix("--").split("=")[0]
    assert name in [changed for changed, _, _ in changed_on_resume(saved, parse_settings([flag]))]


def test_the_flags_that_may_change_on_resume_are_flags():
    from trainers.config import RESUMABLE_FLAGS

    names = set(vars(parse_settings([])))
    assert set(RESUMABLE_FLAGS) <= names
    assert {flag.removeprefix("--").split("=")[0] for flag in MAY_CHANGE} <= set(RESUMABLE_FLAGS)


def test_settings_of_another_version_of_the_job_are_compared_where_both_have_them():
    from trainers.config import changed_on_resume

    settings = parse_settings([])
    saved = _recorded(settings)
    del saved["pooling"]  # A flag added since.
    saved["retired_flag"] = 3  # One removed since.
    assert changed_on_resume(saved, settings) == []


def test_every_worker_refuses_a_changed_setting_and_only_the_chief_records(tmp_path):
    from tests.trainers.jobs import TINY, free_port, start_job

    model_dir = tmp_path / "model"

    def run_workers(name, *flags):
        workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        jobs = []
        for index in range(2):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            jobs.append(start_job(
                tmp_path / f"{name}{index}.log", *TINY, "--strategy=multi_worker_mirrored",
                "--train_steps=5", "--steps_per_loop=5", f"--model_dir={model_dir}", *flags,
                TF_CONFIG=json.dumps(tf_config),
            ))
        try:
            for job in jobs:
                job.wait(timeout=300)
        finally:  # A worker whose peer failed waits for it forever.
            for job in jobs:
                if job.poll() is None:
                    job.kill()
                    job.wait()
        logs = [(tmp_path / f"{name}{index}.log").read_text() for index in range(2)]
        return [job.returncode for job in jobs], logs

    codes, logs = run_workers("first")
    assert codes == [0, 0], logs[1][-3000:]
    assert json.loads((model_dir / "settings.json").read_text())["seed"] == 0
    codes, logs = run_workers("changed", "--seed=1")
    # Each worker compares with the chief's record: none goes on to wait for the other.
    assert codes == [1, 1], logs[1][-3000:]
    for log in logs:
        assert f"--model_dir={model_dir} holds a checkpoint" in log
        assert "--seed: saved 0, now 1" in log
    assert json.loads((model_dir / "settings.json").read_text())["seed"] == 0
