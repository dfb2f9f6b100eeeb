"""Every public class and function documents itself, and its docstring Example runs as written.

Classes need Args and an Example (named tuples, plain records, are exempt).
"""

import inspect
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import data, distillation, generation, layers, metrics, models, text
from tests.pretrained import MINILM_INSTALLED

PACKAGES = (data, distillation, generation, layers, metrics, models, text)
NAMES = {
    name: getattr(package, name)
    for package in PACKAGES
    for name in dir(package)
    if not name.startswith("_") and not inspect.ismodule(getattr(package, name))
}
PUBLIC = {
    name: value
    for name, value in NAMES.items()
    if (inspect.isclass(value) and not hasattr(value, "_fields")) or inspect.isfunction(value)
}


def example_of(obj):
    match = re.search(r"Example:\s*```python\n(.*?)```", obj.__doc__ or "", re.S)
    return match and "\n".join(line[4:] for line in match.group(1).splitlines())


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_names_are_documented_and_their_examples_run(name, tmp_path, monkeypatch):
    obj = PUBLIC[name]
    assert obj.__doc__, f"{name} has no docstring"
    if inspect.isclass(obj):
        assert "Args:" in obj.__doc__ and example_of(obj), f"class {name} needs Args and an Example"
    example = example_of(obj)
    if not example:
        return
    if "minilm_preset()" in example and not MINILM_INSTALLED:
        pytest.skip("the pretrained MiniLM is not installed")
    monkeypatch.chdir(tmp_path)  # examples may write files
    exec(example, {"keras": keras, "np": np, "tf": tf, **NAMES})
