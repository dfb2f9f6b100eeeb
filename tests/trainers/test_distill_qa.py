"""Tests for trainers/distill.py on question answering: a span student learns from a span teacher."""

import re

import keras
import pytest
import tensorflow as tf

from tests.trainers.jobs import TINY
from trainers.config import SettingsError, parse_settings
from trainers.train import train

QA = [
    *TINY[:3], "--task=qa", "--sequence_length=32", "--batch_size=32", "--train_examples=600",
    "--epochs=3", "--dropout=0",
]


def test_a_span_student_distilled_from_a_span_teacher_answers_and_exports(tmp_path):
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train(parse_settings([
        *QA, "--hidden_dim=64", "--num_layers=2", "--vocabulary_size=200", f"--export_dir={teacher_dir}",
    ]))
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


def test_unlabelled_text_cannot_teach_question_answering(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a line of text\n")
    with pytest.raises(SettingsError, match=re.escape("--unlabelled_data")):
        train(parse_settings([*QA, "--teacher=/x", f"--unlabelled_data={lines}"]))
    with pytest.raises(SettingsError, match=re.escape("--augmented_copies=2 does not apply to --task=qa")):
        train(parse_settings([*QA, "--teacher=/x", "--augmented_copies=2"]))
