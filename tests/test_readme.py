"""The README's Python examples run as written, in order, in one namespace."""

import re
from pathlib import Path

import numpy as np

from tests.pretrained import MINILM_INSTALLED

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


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
