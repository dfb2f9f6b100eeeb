"""Tests for trainers/qa_task.py: `--task=qa` run as users run it, on DEMO data and SQuAD files."""

import dataclasses
import json

import pytest
import tensorflow as tf

from keras_simpletf.data import demo_qa
from tests.trainers.jobs import TINY_DEMO, TINY_MODEL, run_job
from trainers.config import SettingsError, parse_settings

QA_MODEL = [
    *TINY_MODEL, "--task=qa", "--sequence_length=32", "--hidden_dim=64", "--num_layers=2",
    "--vocabulary_size=200", "--batch_size=32",
]
QA = [*TINY_DEMO, *QA_MODEL, "--train_examples=1000"]  # On DEMO data; with --train_data, QA_MODEL.


def write_squad(path, questions):
    """`questions` in the official SQuAD layout, one paragraph per question."""
    paragraphs = [
        {"context": q.context, "qas": [{"id": q.id, "question": q.question, "answers": [
            {"text": t, "answer_start": s} for t, s in zip(q.answers, q.answer_starts)]}]}
        for q in questions
    ]
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "demo", "paragraphs": paragraphs}]}))
    return path


def test_demo_job_prints_em_and_f1_and_exports_a_model_that_answers(tmp_path):
    job = run_job(*QA, "--epochs=3", "--dropout=0", f"--export_dir={tmp_path / 'qa'}")
    assert job.returncode == 0, job.stderr
    [report] = [line for line in job.stdout.splitlines() if line.startswith("DEMO SQuAD EM")]
    exact_match = float(report.split("EM ")[1].split(",")[0])
    f1 = float(report.split("F1 ")[1].split(" ")[0])
    assert "on 32 held-out questions" in report and f1 >= exact_match >= 80
    serve = tf.saved_model.load(str(tmp_path / "qa" / "1")).signatures["serving_default"]
    context = "Tom Baker plays the cello. Wei Chen was born in 1977."
    outputs = serve(question=tf.constant(["When was Wei Chen born?"]), context=tf.constant([context]))
    start, end = int(outputs["start"][0]), int(outputs["end"][0])
    assert outputs["answer"].numpy()[0].decode() == context[start:end]


def test_squad_files_train_and_evaluate_and_a_bad_record_is_named(tmp_path):
    train = write_squad(tmp_path / "train.json", demo_qa(200, seed=0))
    evaluation = write_squad(tmp_path / "dev.json", demo_qa(24, seed=1))
    files = [f"--train_data={train}", f"--eval_data={evaluation}"]
    job = run_job(*QA_MODEL, *files, "--train_steps=4")
    assert job.returncode == 0, job.stderr
    assert f"{evaluation} SQuAD EM " in job.stdout and "on 24 held-out questions" in job.stdout
    document = json.loads(evaluation.read_text())
    document["data"][0]["paragraphs"][3]["qas"][0]["answers"][0]["answer_start"] += 1
    evaluation.write_text(json.dumps(document))
    job = run_job(*QA_MODEL, *files, "--train_steps=4")
    assert job.returncode == 1
    assert job.stderr.strip().splitlines()[-1].startswith(
        f"trainers.train: error: --eval_data={evaluation}: {evaluation}:"
        "data[0].paragraphs[3].qas[0] (id 'demo-3'): answers[0] "
    )


def test_every_evaluation_question_is_scored_even_where_ids_repeat(tmp_path):
    train = write_squad(tmp_path / "train.json", demo_qa(100, seed=0))
    questions = [dataclasses.replace(q, id=f"doc{i % 4}") for i, q in enumerate(demo_qa(20, seed=1))]
    evaluation = write_squad(tmp_path / "dev.json", questions)
    job = run_job(*QA_MODEL, f"--train_data={train}", f"--eval_data={evaluation}", "--train_steps=2")
    assert job.returncode == 0, job.stderr
    assert "on 20 held-out questions" in job.stdout


def test_question_answering_flags_apply_to_the_qa_task_only():
    with pytest.raises(SettingsError, match="--doc_stride=8 does not apply to --task=ner"):
        parse_settings(["--task=ner", "--doc_stride=8"])
    assert parse_settings(["--task=qa", "--doc_stride=8"]).doc_stride == 8
