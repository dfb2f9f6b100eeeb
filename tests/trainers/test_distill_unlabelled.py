"""Tests for `--unlabelled_data` and `--augmented_copies`: the teacher labels text once, the student learns from it."""

import re

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import demo_ner, demo_sentiment
from keras_simpletf.distillation import TEACHER_LOGITS, augment
from keras_simpletf.models.task import FEATURE_NAMES
from trainers import inputs
from trainers.config import SettingsError, parse_settings
from trainers.tasks import create_task
from trainers.train import train

DISTIL_MODEL = ["--batch_size=16", "--sequence_length=16", "--student=tiny"]
DISTIL = ["--eval_examples=256", *DISTIL_MODEL]  # On DEMO data; with --train_data, DISTIL_MODEL.


@pytest.fixture(scope="module")
def unlabelled_file(tmp_path_factory):
    """DEMO sentiment texts without labels, one a line, with blank lines between some."""
    path = tmp_path_factory.mktemp("unlabelled") / "texts.txt"
    texts = demo_sentiment(1000, seed=41)[0]
    lines = [f"{text}\n" + ("\n" if index % 10 == 0 else "") for index, text in enumerate(texts)]
    path.write_text("".join(lines))
    return path


def test_the_student_learns_from_the_teachers_cached_outputs_alone(
    teacher_export, unlabelled_file, tmp_path, capsys
):
    model_dir = tmp_path / "job"
    result = train(parse_settings([
        *DISTIL, "--epochs=3", f"--teacher={teacher_export}", f"--unlabelled_data={unlabelled_file}",
        f"--model_dir={model_dir}",
    ]))
    assert len(result.task.train_examples) == 1000
    assert f"on 1000 texts ({unlabelled_file}), labelled by the teacher once" in capsys.readouterr().out
    assert result.results["accuracy"] >= 0.8
    # One cache (this teacher, these texts), reused by every epoch.
    assert len(tf.io.gfile.listdir(str(model_dir / "teacher_logits"))) == 1


def test_teacher_labelled_batches_carry_the_teachers_logits_and_no_labels(teacher_export, unlabelled_file):
    task = create_task(parse_settings([
        *DISTIL, f"--teacher={teacher_export}", f"--unlabelled_data={unlabelled_file}",
    ]))
    steps_per_pass = 1000 // 16
    stream = list(inputs.training_batches(task, 16, seed=3).take(2 * steps_per_pass))
    for features in stream[:3]:
        assert set(features) == {*FEATURE_NAMES, TEACHER_LOGITS}
        expected = task.teacher.model.predict_on_batch({name: features[name] for name in FEATURE_NAMES})
        np.testing.assert_allclose(features[TEACHER_LOGITS], expected, atol=1e-5)
    # Each pass visits every full batch once, in a new order.
    batches = [features["token_ids"].numpy().tobytes() for features in stream]
    first, second = batches[:steps_per_pass], batches[steps_per_pass:]
    assert sorted(first) == sorted(second) and first != second
    # A resumed job's stream carries on where the restored step count left it.
    resumed = next(iter(inputs.training_batches(task, 16, seed=3, start_step=steps_per_pass + 5)))
    np.testing.assert_array_equal(resumed["token_ids"], stream[steps_per_pass + 5]["token_ids"])


def test_a_tagger_learns_from_the_teachers_cached_outputs_on_unlabelled_sentences(tmp_path):
    ner = ["--task=ner", "--eval_examples=64", "--batch_size=16", "--sequence_length=24"]
    teacher_dir = tmp_path / "teacher"
    teacher = train(parse_settings([
        *ner, "--train_examples=512", "--epochs=2", "--hidden_dim=32", "--num_layers=1",
        "--vocabulary_size=200", f"--export_dir={teacher_dir}",
    ]))
    path = tmp_path / "sentences.txt"
    path.write_text("".join(" ".join(words) + "\n" for words in demo_ner(512, seed=43)[0]))
    result = train(parse_settings([*ner, "--epochs=2", f"--teacher={teacher_dir}", "--student=tiny",
                                   f"--unlabelled_data={path}"]))
    assert result.task.train_examples.inputs[0] == demo_ner(1, seed=43)[0][0]
    # Seeds fixed: the teacher 0.60, the student 0.62 (a student of these labels, not the teacher's: 0.97).
    assert teacher.results["entity_f1"] >= 0.5
    assert result.results["entity_f1"] >= 0.9 * teacher.results["entity_f1"]


def test_augmented_copies_add_variants_of_the_training_texts_for_the_teacher_to_label(teacher_export):
    task = create_task(parse_settings([
        *DISTIL, "--train_examples=400", f"--teacher={teacher_export}", "--augmented_copies=2",
    ]))
    examples = task.train_examples
    training = demo_sentiment(400)[0]
    variants = augment(training, 2, seed=0)
    assert examples.labels is None
    assert examples.inputs == training + variants and len(variants) > 400
    assert examples.source == f"DEMO sentiment and {len(variants)} variants of its texts"
    # The student trains on the teacher's outputs for them, as on --unlabelled_data.
    features = next(iter(inputs.training_batches(task, 16, seed=0)))
    assert set(features) == {*FEATURE_NAMES, TEACHER_LOGITS}


def test_augmented_copies_vary_the_unlabelled_texts_when_given(teacher_export, unlabelled_file):
    task = create_task(parse_settings([
        *DISTIL, f"--teacher={teacher_export}", f"--unlabelled_data={unlabelled_file}",
        "--augmented_copies=1",
    ]))
    texts = demo_sentiment(1000, seed=41)[0]
    assert task.train_examples.inputs == texts + augment(texts, 1, seed=0)


def test_augmented_copies_of_sentence_pairs_are_refused(teacher_export, tmp_path):
    premises, labels = demo_sentiment(32, seed=0)
    rows = ["premise,hypothesis,label", *(f"{p},{p},{y}" for p, y in zip(premises, labels))]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(SettingsError, match=re.escape(
        "--augmented_copies cannot vary the sentence pairs of --text_pair_column=hypothesis"
    )):
        create_task(parse_settings([
            *DISTIL_MODEL, f"--teacher={teacher_export}", "--augmented_copies=1",
            f"--train_data={tmp_path / 'pairs.csv'}", "--text_column=premise",
            "--text_pair_column=hypothesis",
        ]))


def test_an_unlabelled_line_that_is_not_utf8_is_named(teacher_export, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"a good film\nbad \xff plot\n")
    with pytest.raises(SettingsError, match=re.escape(f"--unlabelled_data={path}:2: not UTF-8 text")):
        create_task(parse_settings([*DISTIL, f"--teacher={teacher_export}", f"--unlabelled_data={path}"]))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--unlabelled_data=/x.txt"], "--unlabelled_data=/x.txt does not apply without --teacher"),
        (["--teacher=/t", "--unlabelled_data=/x.txt", "--loop=custom"],
         "--unlabelled_data and --augmented_copies train with --loop=fit only, not --loop=custom"),
        (["--augmented_copies=2"], "--augmented_copies=2 does not apply without --teacher"),
        (["--teacher=/t", "--augmented_copies=2", "--loop=custom"],
         "--unlabelled_data and --augmented_copies train with --loop=fit only, not --loop=custom"),
        (["--teacher=/t", "--augmented_copies=1", "--attention_relation_heads=4"],
         "--attention_relation_heads cannot train on --unlabelled_data or --augmented_copies"),
    ],
)
def test_flags_that_cannot_work_with_unlabelled_data_are_named(flags, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(flags)


def test_a_missing_unlabelled_file_is_named(teacher_export, tmp_path):
    path = tmp_path / "absent.txt"
    with pytest.raises(SettingsError, match=re.escape(f"--unlabelled_data={path}: no such file.")):
        create_task(parse_settings([*DISTIL, f"--teacher={teacher_export}", f"--unlabelled_data={path}"]))
