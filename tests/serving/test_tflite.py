"""--prefer_tflite_model serves a version's model.tflite (serving/model_server/tflite_servables.py).

The models are half_plus_two as TensorFlow Lite, converted as TF Serving's
testdata generator converts it (no signature) and with a signature; the
requests are those TF Serving's integration test sends its TFLite models.
"""

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from tests.serving import saved_models
from tests.serving.model_servers import ModelServer, write_model_config
from tests.serving.protos import metadata_request, predict_request


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tflite")
    saved_models.write_tflite_half_plus_two(directory / "plain", 123, with_signature=False)
    saved_models.write_tflite_half_plus_two(directory / "signed", 123, with_signature=True)
    saved_models.write_half_plus_two(directory / "saved_model", 1)
    config = write_model_config(directory, "plain", "signed", "saved_model")
    server = ModelServer(directory, f"--model_config_file={config}", "--prefer_tflite_model=true")
    try:
        for name in ("plain", "signed", "saved_model"):
            server.wait_until_serving(name)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("model", ["plain", "signed", "saved_model"])
def test_predict_as_tf_serving_tests_its_tflite_models(server, model):
    request = predict_request(model, {"x": np.array([2.0], np.float32)}, output_filter=["y"])
    response = server.prediction.Predict(request, timeout=30)
    assert response.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(response.outputs["y"].float_val) == [3.0]
    assert response.model_spec.signature_name == "serving_default"
    status, body = server.rest(
        "POST", f"/v1/models/{model}:predict", {"instances": [[1.0], [2.0], [5.0]]}
    )
    assert (status, body) == (200, {"predictions": [[2.5], [3.0], [4.5]]})


def test_a_tflite_model_without_signatures_gets_serving_default_over_its_tensor_names(server):
    response = server.prediction.GetModelMetadata(metadata_request("plain"), timeout=30)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_defs)
    signature = signature_defs.signature_def["serving_default"]
    assert (list(signature.inputs), list(signature.outputs)) == (["x"], ["y"])
    assert signature.inputs["x"].dtype == types_pb2.DT_FLOAT
