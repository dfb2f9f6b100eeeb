"""Tests for trainers/distill.py on question answering: a span student learns from a span teacher."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import demo_qa
from keras_simpletf.distillation import TEACHER_LOGITS, augment_questions
from keras_simpletf.models.task import FEATURE_NAMES
from tests.trainers.jobs import TINY
from trainers import inputs
from trainers.config import SettingsError, parse_settings
from trainers.tasks import create_task
from trainers.train import train

QA = [
    *TINY[:3], "--task=qa", "--sequence_length=32", "--batch_size=32", "--train_examples=600",
    "--epochs=3", "--dropout=0",
]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    export_dir = tmp_path_factory.mktemp("qa") / "teacher"
    train(parse_settings([
        *QA, "--hidden_dim=64", "--num_layers=2", "--vocabulary_size=200", f"--export_dir={export_dir}",
    ]))
    return export_dir


def test_a_span_student_distilled_from_a_span_teacher_answers_and_exports(teacher_dir, tmp_path):
    student_dir = tmp_path / "student"
    result = train(parse_settings([
        *QA, f"--teacher={teacher_dir}", "--student=tiny", "--student_init=embeddings",
        "--num_kv_heads=1", f"--export_dir={student_dir}",
    ]))
    # Seeds fixed: the teacher EM 100, the student 100.
    assert result.results["f1"] >= result.results["exact_match"] >= 80
    student = keras.saving.load_model(student_dir / "model.keras")
    assert (student.backbone.num_layers, student.backbone.hidden_dim) == (2, 128)
    assert student.backbone.embedding_dim == 64 and student.max_answer_length == 30
    assert (student_dir / "vocabulary.txt").read_text() == (teacher_dir / "vocabulary.txt").read_text()
    serve = tf.saved_model.load(str(student_dir / "1")).signatures["serving_default"]
    context = "Tom Baker plays the cello. Wei Chen was born in 1977."
    outputs = serve(question=tf.constant(["When was Wei Chen born?"]), context=tf.constant([context]))
    start, end = int(outputs["start"][0]), int(outputs["end"][0])
    assert outputs["answer"].numpy()[0].decode() == context[start:end] == "1977"


def test_a_span_student_learns_from_the_teachers_spans_on_question_variants(teacher_dir):
    settings = parse_settings([
        *QA, f"--teacher={teacher_dir}", "--student=tiny", "--student_init=embeddings",
        "--augmented_copies=1",
    ])
    task = create_task(settings)
    questions = demo_qa(600, seed=0)
    assert task.train_examples.questions == questions + augment_questions(questions, 1, seed=0)
    assert task.train_examples.source == "DEMO and 600 variants of its questions"
    # The training questions' windows come first, as without variants; the variants' follow.
    plain = create_task(parse_settings([*QA, f"--teacher={teacher_dir}", "--student=tiny"]))
    windows, plain_windows = task.train_examples.windows, plain.train_examples.windows
    count = len(plain_windows["token_ids"])
    np.testing.assert_array_equal(windows["token_ids"][:count], plain_windows["token_ids"])
    assert 1.8 * count < len(task.train_examples) < 2.2 * count
    # Every batch carries the teacher's start and end logits over its windows.
    features = next(iter(inputs.training_batches(task, 32, seed=0)))
    assert set(features) == {*FEATURE_NAMES, TEACHER_LOGITS}
    assert features[TEACHER_LOGITS].shape == (32, 2, 32)
    result = train(settings)
    # Seeds fixed: EM 100 and F1 100, the teacher's spans its only targets.
    assert result.results["f1"] >= result.results["exact_match"] >= 80


def test_the_null_score_threshold_flag_is_the_students(teacher_dir):
    flags = [*QA, f"--teacher={teacher_dir}", "--student=tiny"]
    for threshold, expected in [([], None), (["--null_score_threshold=1.5"], 1.5)]:
        settings = parse_settings([*flags, *threshold])
        student = create_task(settings).teacher.distiller(settings).student
        assert student.null_score_threshold == expected


def test_unlabelled_text_cannot_teach_question_answering(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a line of text\n")
    # QA's flags but --train_examples, which --unlabelled_data would replace: the task refuses.
    flags = [flag for flag in QA if not flag.startswith("--train_examples=")]
    with pytest.raises(SettingsError, match=re.escape(
            f"--unlabelled_data={lines} does not apply to --task=qa: its lines hold no question")):
        train(parse_settings([*flags, "--teacher=/x", f"--unlabelled_data={lines}"]))
