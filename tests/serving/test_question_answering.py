"""Export a question answerer, serve it with our model server, ask over gRPC and REST."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import demo_qa, labelled_columns
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import SpanQuestionAnswerer
from keras_simpletf.text import QuestionAnsweringPreprocessor, learn_vocabulary
from serving.client import ServingClient
from serving.export import export
from tests.serving.model_servers import ModelServer, write_model_config

QUESTIONS = ["When was Zoë Müller born?", "Who does Tom Baker work for?", "What?"]
CONTEXTS = [
    "Zoë Müller plays the cello. Tom Baker works for Globex. Zoë Müller was born in 1977, "
    "in a small town whose name nobody here remembers any more.",
    "Tom Baker works for Initech.",
    "",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny answerer trained for one epoch on DEMO questions, exported with a null threshold."""
    keras.utils.set_random_seed(0)
    examples = demo_qa(300)
    vocabulary = learn_vocabulary([e.question + " " + e.context for e in examples] + CONTEXTS, 200,
                                  allow_smaller=True)
    preprocessor = QuestionAnsweringPreprocessor(vocabulary, sequence_length=24, doc_stride=6,
                                                 max_question_length=10)
    model = SpanQuestionAnswerer(TransformerEncoder(len(vocabulary), num_layers=1, hidden_dim=16),
                                 max_answer_length=5, null_score_threshold=-1.0)
    model.compile("adam", model.default_loss())
    columns = labelled_columns(examples)
    model.fit(tf.data.Dataset.from_tensor_slices(columns).batch(32).map(preprocessor), verbose=0)
    directory = tmp_path_factory.mktemp("qa")
    path = export(model, preprocessor, str(directory / "qa"))
    return directory, path, model, preprocessor


def check_answers(outputs, expected):
    assert [a.decode() if isinstance(a, bytes) else a for a in outputs["answer"]] == [
        e["text"] for e in expected
    ]
    assert np.asarray(outputs["start"]).tolist() == [e["start"] for e in expected]
    assert np.asarray(outputs["end"]).tolist() == [e["end"] for e in expected]
    np.testing.assert_allclose(outputs["score"], [e["score"] for e in expected], atol=1e-4)


def test_saved_model_answers_like_the_keras_model(exported):
    _, path, model, preprocessor = exported
    expected = model.predict_answers(QUESTIONS, CONTEXTS, preprocessor)
    assert expected[0]["text"] and not expected[2]["text"]
    # The first context needs several windows; the answers are spans of the contexts.
    assert len(preprocessor(QUESTIONS[:1], CONTEXTS[:1])["example_index"]) >= 3
    for context, answer in zip(CONTEXTS, expected):
        assert answer["start"] == -1 or context[answer["start"] : answer["end"]] == answer["text"]
    serve = tf.saved_model.load(path).signatures["serving_default"]
    outputs = serve(question=tf.constant(QUESTIONS), context=tf.constant(CONTEXTS))
    check_answers({key: value.numpy() for key, value in outputs.items()}, expected)


def test_grpc_and_rest_answer_like_the_keras_model(exported):
    directory, _, model, preprocessor = exported
    expected = model.predict_answers(QUESTIONS, CONTEXTS, preprocessor)
    server = ModelServer(directory, f"--model_config_file={write_model_config(directory, 'qa')}")
    try:
        server.wait_until_serving("qa")
        for address in (f"127.0.0.1:{server.port}", f"http://127.0.0.1:{server.rest_port}"):
            # The first request traces the model in the server: slow on a busy CI machine.
            outputs = ServingClient(address, "qa", timeout=60).predict(
                {"question": QUESTIONS, "context": CONTEXTS}
            )
            check_answers(outputs, expected)
        # The README's request: TF Serving's columnar REST format, one list per input.
        status, body = server.rest(
            "POST", "/v1/models/qa:predict", {"inputs": {"question": QUESTIONS, "context": CONTEXTS}}
        )
        assert status == 200, body
        check_answers(body["outputs"], expected)
    finally:
        server.stop()
