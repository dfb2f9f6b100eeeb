"""Tests for trainers/train.py, run as the README runs it: a separate process."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def train(*flags):
    return subprocess.run(
        [sys.executable, "-m", "trainers.train", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_default_job_trains_a_classifier_that_learns_the_demo_data():
    result = train("--train_examples=2000", "--eval_examples=500", "--epochs=3")
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"DEMO sentiment accuracy on 500 held-out examples: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-3000:]
    assert float(match.group(1)) >= 0.85


def test_unknown_flag_value_is_rejected_naming_the_flag():
    result = train("--layout=diagonal")
    assert result.returncode != 0
    assert "layout" in result.stderr and "diagonal" in result.stderr
