"""Fixtures the job's tests share."""

import pytest

from tests.trainers.jobs import TINY
from trainers.config import parse_settings
from trainers.train import train


@pytest.fixture(scope="module")
def teacher_export(tmp_path_factory):
    """A DEMO sentiment teacher (1 layer, width 32) exported by the job."""
    export_dir = tmp_path_factory.mktemp("teacher")
    train(parse_settings([
        *TINY, "--train_examples=1024", "--hidden_dim=32", "--epochs=4", f"--export_dir={export_dir}",
    ]))
    return export_dir
