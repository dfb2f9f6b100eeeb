"""Every public layer's and model's docstring Example runs as written."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import layers, models, text

PUBLIC = {
    name: getattr(module, name)
    for module in (layers, models, text)
    for name in dir(module)
    if isinstance(getattr(module, name), type)
}


def example_of(obj):
    match = re.search(r"Example:\s*```python\n(.*?)```", obj.__doc__ or "", re.S)
    return match and "\n".join(line[4:] for line in match.group(1).splitlines())


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstring_has_args_example_and_the_example_runs(name):
    obj = PUBLIC[name]
    assert "Args:" in obj.__doc__, f"{name} documents no Args"
    example = example_of(obj)
    assert example, f"{name} has no Example"
    exec(example, {"keras": keras, "np": np, "tf": tf, **PUBLIC, **vars(text)})
