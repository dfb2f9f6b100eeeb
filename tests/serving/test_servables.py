"""A Servable's runs (serving/model_server/servables.py), in process.

A lone one-example run executes in the calling thread, concurrent runs and
batches in the inter-op pool: whichever way a run goes, it must give the
model's answer, including a signature with a while loop.
"""

import concurrent.futures

import numpy as np

from serving.model_server.servables import Servable
from tests.serving import saved_models


def _servable(tmp_path):
    return Servable("text", 1, saved_models.write_text_model(tmp_path / "text", 1))


def test_lone_and_concurrent_runs_give_the_models_answers(tmp_path):
    servable = _servable(tmp_path)
    texts = [f"{'x' * length}" for length in range(1, 41)]

    def length(text):
        outputs = servable.run("serving_default", {"text": np.array([text], dtype=object)})
        return int(outputs["length"][0])

    assert [length(text) for text in texts] == list(range(1, 41))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(length, texts)) == list(range(1, 41))
    batch = servable.run("serving_default", {"text": np.array(texts, dtype=object)})
    np.testing.assert_array_equal(batch["length"], np.arange(1, 41))


def test_a_while_loop_runs_alone_and_beside_other_runs(tmp_path):
    servable = _servable(tmp_path)

    def wait(seconds):
        return servable.run("wait", {"seconds": np.array([seconds], dtype=np.float32)})

    assert wait(0.01)["version"].tolist() == [1]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        waits = [pool.submit(wait, 0.2) for _ in range(4)]
        quick = [servable.run("scale", {"x": np.ones([1, 3], np.float32)})["y"] for _ in range(10)]
        assert [future.result(timeout=30)["version"].tolist() for future in waits] == [[1]] * 4
    for y in quick:
        np.testing.assert_array_equal(y, np.full([1, 3], 2.0, np.float32))
