"""Running the training job as users do, in its own process: commands, ports, what it prints."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A tiny model on a little DEMO data: startup dominates a run. A job that reads --train_data
# takes TINY_MODEL alone: the DEMO sizes do not apply to a file, and the job refuses them.
TINY_DEMO = ["--train_examples=256", "--eval_examples=32"]
TINY_MODEL = [
    "--batch_size=16", "--vocabulary_size=100", "--sequence_length=16", "--hidden_dim=16",
    "--num_layers=1",
]
TINY = [*TINY_DEMO, *TINY_MODEL]


def job_env(**variables):
    """The environment of a job process: this checkout importable, output unbuffered."""
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **variables)


def run_job(*flags, timeout=300, **variables):
    """Runs `python -m trainers.train FLAGS` to the end; returns the `CompletedProcess`."""
    return subprocess.run(
        [sys.executable, "-m", "trainers.train", *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=job_env(**variables),
    )


def start_job(log_path, *flags, **variables):
    """Starts `python -m trainers.train FLAGS` writing stdout and stderr to `log_path`."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "trainers.train", *flags],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, env=job_env(**variables),
        )


def free_port():
    """A TCP port nothing listens on (the OS may hand it out again later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

