"""Tests of the job across replicas and workers, each worker a real process:
mirrored over CPU replicas, and two workers on 127.0.0.1 with their own TF_CONFIG."""

import json
import re

import keras

import keras_simpletf  # noqa: F401  (registers the layers the exported model is made of)
from tests.trainers.jobs import TINY, free_port, run_job, start_job
from trainers.train import weights_digest


def test_mirrored_over_two_cpu_replicas_splits_the_global_batch():
    result = run_job(*TINY, "--strategy=mirrored", "--cpu_replicas=2", "--train_steps=8")
    assert result.returncode == 0, result.stderr[-3000:]
    replicas = "MirroredStrategy: 2 replica(s), global batch 16 (8 per replica), fit loop"
    assert replicas in result.stdout
    assert "DEMO sentiment accuracy on 32 held-out examples" in result.stdout


def test_mirrored_over_two_cpu_replicas_pretrains_then_learns_the_labels():
    result = run_job(*TINY, "--strategy=mirrored", "--cpu_replicas=2", "--pretrain_steps=2",
                     "--train_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "masked language model: 2 steps on the 256 training texts" in result.stdout
    assert "MirroredStrategy: 2 replica(s)" in result.stdout
    assert "Trained 2 steps" in result.stdout


def test_two_workers_train_identical_weights_and_only_the_chief_keeps_files(tmp_path):
    model_dir, export_dir = tmp_path / "model", tmp_path / "export"
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    jobs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        jobs.append(start_job(
            tmp_path / f"worker{index}.log", *TINY, "--strategy=multi_worker_mirrored",
            "--train_steps=10", "--steps_per_loop=5", f"--model_dir={model_dir}",
            f"--export_dir={export_dir}", TF_CONFIG=json.dumps(tf_config),
        ))
    try:
        for job in jobs:
            job.wait(timeout=300)
    finally:  # A worker whose peer failed waits for it forever.
        for job in jobs:
            if job.poll() is None:
                job.kill()
    logs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    for job, log in zip(jobs, logs):
        assert job.returncode == 0, log[-3000:]
        assert "2 replica(s), global batch 16 (8 per replica), custom loop" in log
        # Measured inside the train step: each worker's replica got half the global batch.
        assert re.search(r"^step 10/10 .*\(8 per replica\)", log, re.M), log[-3000:]
        assert "Trained 10 steps" in log
    digests = [re.search(r"weights digest (\w+)", log).group(1) for log in logs]
    assert digests[0] == digests[1]
    exported = keras.saving.load_model(export_dir / "model.keras")
    assert weights_digest(exported) == digests[0]
    assert (export_dir / "vocabulary.txt").read_text().startswith("[PAD]\n")
    assert (export_dir / "1" / "saved_model.pb").is_file()  # the serving version
    assert (model_dir / "checkpoints").is_dir() and (model_dir / "summaries").is_dir()
    assert not list(model_dir.glob("workertemp_*")), "the worker's own files were not removed"
