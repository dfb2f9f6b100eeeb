"""The model server's gRPC API (serving/model_server/grpc_service.py), through TF Serving's own stubs."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_management_pb2,
)
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tests.serving.model_servers import ModelServer
from tests.serving.saved_models import example_x
from tests.serving.protos import (
    classification_request,
    example_input,
    metadata_request,
    multi_inference_request,
    predict_request,
    regression_request,
    rpc_error,
    status_request,
)

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


class _WrongOutputs(tf.Module):
    """Example signatures whose outputs TF Serving's PostProcess*Result refuse."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def double_scores(self, inputs):
        return {"scores": tf.cast(tf.concat([example_x(inputs)] * 2, axis=1), tf.float64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def rank_3_scores(self, inputs):
        return {"scores": tf.stack([example_x(inputs)] * 2, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def double_outputs(self, inputs):
        return {"outputs": tf.cast(example_x(inputs), tf.float64)}


@pytest.fixture(scope="module")
def wrong_outputs_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("wrong_outputs")
    module = _WrongOutputs()
    names = ("double_scores", "rank_3_scores", "double_outputs")
    signatures = {name: getattr(module, name) for name in names}
    tf.saved_model.save(module, str(directory / "wrong" / "1"), signatures=signatures)
    server = ModelServer(
        directory, "--model_name=wrong", f"--model_base_path={directory / 'wrong'}"
    )
    try:
        server.wait_until_serving("wrong")
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "method, signature, message",
    [
        ("Classify", "double_scores", "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"),
        (
            "Classify",
            "rank_3_scores",
            "Expected Tensor shape: [batch_size num_classes] but got [1,2,1]",
        ),
        ("Regress", "double_outputs", "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE"),
    ],
)
def test_wrong_example_outputs_are_refused_with_tf_serving_messages(
    wrong_outputs_server, method, signature, message
):
    request_type = classification_request if method == "Classify" else regression_request
    error = rpc_error(
        getattr(wrong_outputs_server.prediction, method),
        request_type("wrong", example_input(1.0), signature),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == message


@pytest.mark.parametrize("method, api", [("Classify", "classification"), ("Regress", "regression")])
def test_a_signature_without_an_inputs_input_is_shown_as_tf_serving_shows_it(
    main_server, method, api
):
    request_type = classification_request if method == "Classify" else regression_request
    error = rpc_error(
        getattr(main_server.prediction, method), request_type("text", example_input(1.0), "echo")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    metadata = main_server.prediction.GetModelMetadata(metadata_request("text"), timeout=30)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signature_defs)
    shown = text_format.MessageToString(signature_defs.signature_def["echo"])  # DebugString()
    assert shown.startswith('inputs {\n  key: "text"\n')
    assert error.details() == f"No {api} inputs found in SignatureDef: {shown}"


def test_predict_answers_with_the_latest_version_in_typed_value_fields(main_server):
    response = main_server.prediction.Predict(
        predict_request("text", {"text": np.array([b"ab", b"hello"], dtype=object)}), timeout=30
    )
    assert response.model_spec.name == "text"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    # As TF Serving's AsProtoField: typed value fields, not tensor_content.
    assert list(response.outputs["length"].int_val) == [2, 5]
    assert list(response.outputs["version"].int64_val) == [2, 2]
    assert tf.make_ndarray(response.outputs["length"]).shape == (2,)


@pytest.mark.parametrize(
    "selector, expected_version",
    [({"version": 1}, 1), ({"version": 2}, 2), ({"label": "stable"}, 1), ({"label": "canary"}, 2)],
)
def test_predict_serves_the_version_or_label_asked_for(main_server, selector, expected_version):
    request = predict_request("text", {"text": np.array([b"x"], dtype=object)}, **selector)
    response = main_server.prediction.Predict(request, timeout=30)
    assert response.model_spec.version.value == expected_version
    assert list(response.outputs["version"].int64_val) == [expected_version]


def test_predict_with_a_named_signature_and_output_filter(main_server):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    request = predict_request("text", {"x": x}, signature="scale", output_filter=["y"])
    response = main_server.prediction.Predict(request, timeout=30)
    assert set(response.outputs) == {"y"}
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), x * 2)
    assert response.model_spec.signature_name == "scale"


def test_classify_a_tf1_classification_signature(main_server):
    response = main_server.prediction.Classify(
        classification_request("examples", example_input(1.5, -2.0)), timeout=30
    )
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "classify"
    first, second = response.result.classifications
    assert [c.label for c in first.classes] == ["pos", "neg"]
    np.testing.assert_allclose(
        [c.score for c in first.classes], tf.nn.softmax([1.5, -1.5]), rtol=1e-5
    )
    np.testing.assert_allclose(
        [c.score for c in second.classes], tf.nn.softmax([-2.0, 2.0]), rtol=1e-5
    )


def test_each_example_is_merged_over_the_context(main_server):
    request_input = input_pb2.Input()
    with_context = request_input.example_list_with_context
    with_context.context.features.feature["x"].float_list.value.append(9.0)
    with_context.examples.add()  # no x: takes the context's
    with_context.examples.add().features.feature["x"].float_list.value.append(0.5)
    response = main_server.prediction.Regress(
        regression_request("examples", request_input), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [19.0, 2.0]


def test_regress_a_tf1_regression_signature(main_server):
    response = main_server.prediction.Regress(
        regression_request("examples", example_input(1.5, 0.0)), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [4.0, 1.0]
    assert response.model_spec.signature_name == "regress"


def test_multi_inference_runs_classify_and_regress_on_the_same_examples(main_server):
    request = multi_inference_request(
        "examples", example_input(1.0), ("classify", "classify"), ("regress", "regress")
    )
    response = main_server.prediction.MultiInference(request, timeout=30)
    classification, regression = response.results
    assert [c.label for c in classification.classification_result.classifications[0].classes] == [
        "pos",
        "neg",
    ]
    assert [r.value for r in regression.regression_result.regressions] == [3.0]
    assert regression.model_spec.signature_name == "regress"


def test_get_model_metadata_returns_the_signature_defs(main_server):
    response = main_server.prediction.GetModelMetadata(
        metadata_request("text", version=1), timeout=30
    )
    assert response.model_spec.version.value == 1
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    scale = signature_defs.signature_def["scale"]
    assert scale.method_name == "tensorflow/serving/predict"
    assert scale.inputs["x"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in scale.inputs["x"].tensor_shape.dim] == [-1, 3]
    assert set(scale.outputs) == {"y", "batch_size", "call_time"}


def _metadata_request(model, *fields):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    if model is not None:
        request.model_spec.name = model
    return request


@pytest.mark.parametrize(
    "model, fields, message",
    [
        (None, ["signature_def"], "Missing ModelSpec"),
        (None, [], "Missing ModelSpec"),
        (None, ["foo"], "Missing ModelSpec"),
        ("nope", [], "GetModelMetadataRequest must specify at least one metadata_field"),
        ("nope", ["foo"], "Metadata field foo is not supported"),
        ("nope", ["signature_def", "foo"], "Metadata field foo is not supported"),
        ("text", ["foo"], "Metadata field foo is not supported"),
    ],
)
def test_get_model_metadata_validates_the_request_before_looking_up_the_model(
    main_server, model, fields, message
):
    """TF Serving's get_model_metadata_impl.cc: the ModelSpec, then the fields, then the servable."""
    error = rpc_error(main_server.prediction.GetModelMetadata, _metadata_request(model, *fields))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    error = rpc_error(
        main_server.prediction.GetModelMetadata, _metadata_request("nope", "signature_def")
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    )


def test_get_model_status_lists_every_version_newest_first(main_server):
    response = main_server.models.GetModelStatus(status_request("text"), timeout=30)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (2, AVAILABLE, 0),
        (1, AVAILABLE, 0),
    ]
    one = main_server.models.GetModelStatus(status_request("examples", version=1), timeout=30)
    assert [(s.version, s.state) for s in one.model_version_status] == [(1, AVAILABLE)]


@pytest.mark.parametrize(
    "config",
    [
        model_server_config_pb2.ModelServerConfig(),
        model_server_config_pb2.ModelServerConfig(custom_model_config={}),
    ],
    ids=["empty", "custom"],
)
def test_a_reload_request_takes_a_model_config_list_only(main_server, config):
    error = rpc_error(
        main_server.models.HandleReloadConfigRequest,
        model_management_pb2.ReloadConfigRequest(config=config),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "ServerModelConfig type not supported by HandleReloadConfigRequest. "
        "Only ModelConfigList is currently supported"
    )
    main_server.wait_until_serving("text")  # the models served are untouched
