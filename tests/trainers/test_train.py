"""Tests for trainers/train.py: the README's job as a separate process, and bad input
failing before the first training step, naming the flag or the path."""

import re

import pytest

from tests.trainers.jobs import run_job


def test_default_job_trains_a_classifier_that_learns_the_demo_data():
    result = run_job("--train_examples=2000", "--eval_examples=500", "--epochs=3", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"DEMO sentiment accuracy on 500 held-out examples: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-3000:]
    assert float(match.group(1)) >= 0.85


def test_unknown_flag_value_is_rejected_naming_the_flag():
    result = run_job("--layout=diagonal")
    assert result.returncode != 0
    assert "layout" in result.stderr and "diagonal" in result.stderr


def test_a_data_error_reaches_the_user_as_one_line_naming_flag_file_and_line(tmp_path):
    data = tmp_path / "train.tsv"
    data.write_text("sentence\tlabel\na fine film\t1\n")  # SST-2's header
    result = run_job(f"--train_data={data}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "PyFunc" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"trainers.train: error: --train_data={data}: {data}:1: the header has no column "
        "['text']; expected a header row naming the columns, got the names ['sentence', "
        "'label'] (read with --text_column=text, --label_column=label)"
    )


# Bad input fails before the first training step, naming the flag or the path.
# These run train() in process; --model_dir shows that no step ran. A tiny model, on a
# little DEMO data unless --train_data names a file.

def train_in_process(*flags):
    from tests.trainers.jobs import TINY_DEMO, TINY_MODEL
    from trainers.config import parse_settings
    from trainers.train import train

    demo = [] if any(flag.startswith("--train_data=") for flag in flags) else TINY_DEMO
    return train(parse_settings([*demo, *TINY_MODEL, "--train_steps=4", *flags]))


def assert_nothing_trained(model_dir):
    trained = [path.name for path in model_dir.glob("*") if path.name != "model_variables.json"]
    assert not trained, f"{model_dir} holds {trained}: a training step ran"


def test_a_missing_data_file_is_named(tmp_path):
    from trainers.config import SettingsError

    missing = tmp_path / "train.tsv"
    with pytest.raises(SettingsError, match=f"--train_data={missing}: no such file"):
        train_in_process(f"--train_data={missing}", f"--model_dir={tmp_path / 'model'}")
    assert_nothing_trained(tmp_path)


def test_a_malformed_data_file_is_named_with_its_line(tmp_path):
    from trainers.config import SettingsError

    data = tmp_path / "train.tsv"
    data.write_text("text\tlabel\na fine film\tpositive\na dull\tfilm\tnegative\n")
    with pytest.raises(SettingsError, match=rf"--train_data={data}: .*train\.tsv:3: expected 2"):
        train_in_process(f"--train_data={data}")


def test_evaluation_labels_unseen_in_training_are_named(tmp_path):
    from trainers.config import SettingsError

    (tmp_path / "train.tsv").write_text(
        "text\tlabel\n" + "a fine film\tpositive\n" * 10 + "a film\tneutral\n" * 10
    )
    (tmp_path / "eval.tsv").write_text("text\tlabel\na dull film\tnegative\n")
    with pytest.raises(SettingsError, match=r"--eval_data=.*\['negative'\] do not occur"):
        train_in_process(
            f"--train_data={tmp_path / 'train.tsv'}", f"--eval_data={tmp_path / 'eval.tsv'}"
        )


def test_a_batch_that_does_not_divide_across_replicas_is_named(tmp_path):
    from trainers.config import SettingsError

    with pytest.raises(SettingsError, match=r"--batch_size=15 does not divide evenly across the 2"):
        train_in_process(
            "--strategy=mirrored", "--cpu_replicas=2", "--batch_size=15",
            f"--model_dir={tmp_path}",
        )
    assert_nothing_trained(tmp_path)


def test_a_model_dir_of_a_different_model_is_named(tmp_path):
    from trainers.config import SettingsError

    model_dir = tmp_path / "model"
    train_in_process(f"--model_dir={model_dir}")
    saved = (model_dir / "checkpoints" / "checkpoint").read_text()
    different = rf"--model_dir={model_dir} holds a checkpoint of a different model"
    with pytest.raises(SettingsError, match=different):
        train_in_process(f"--model_dir={model_dir}", "--hidden_dim=32")
    assert (model_dir / "checkpoints" / "checkpoint").read_text() == saved
