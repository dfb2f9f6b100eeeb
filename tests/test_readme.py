"""The README's Python examples run as written, in order, in one namespace; its training
commands pass the job's checks."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from tests.pretrained import MINILM_INSTALLED
from trainers.config import labels_from_teacher, parse_settings, plan_steps

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def training_commands():
    """The flags of each `python -m trainers.train` in the README's shell blocks."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "trainers.train" in words:
                commands.append(words[words.index("trainers.train") + 1:])
    return commands


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files into the working directory
    blocks = python_blocks()
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        if "minilm_preset()" in block and not MINILM_INSTALLED:
            continue
        exec(compile(block, str(README), "exec"), namespace)
        if "classifier.save(" in block:
            # Our encoder trained from scratch on 4,000 DEMO reviews, on the 500 held out.
            scores = namespace["scores"]
            assert scores.shape == (500, 2)
            np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
            assert accuracy(namespace["predicted"], namespace["test_labels"]) >= 0.9
    assert (tmp_path / "sentiment.keras").is_file()
    if MINILM_INSTALLED:
        # The MiniLM fine-tuned on 480 DEMO reviews, on the 500 held out: the last `predicted`.
        assert accuracy(namespace["predicted"], namespace["test_labels"]) >= 0.95


def accuracy(predicted, labels):
    return np.mean(np.asarray(predicted) == np.asarray(labels))


@pytest.mark.parametrize(
    "flags", training_commands(), ids=lambda flags: " ".join(flags) or "no flags"
)
def test_readme_training_commands_pass_the_jobs_checks(flags):
    settings = parse_settings(flags)
    if settings.task in ("classification", "ner") and not (
        settings.train_data or labels_from_teacher(settings)
    ):
        # DEMO data: the job trains on exactly --train_examples examples.
        plan_steps(settings, settings.train_examples)
