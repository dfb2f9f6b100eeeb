"""Export a sequence-to-sequence model over a BERT encoder, serve it with our model server, decode
over gRPC and REST.

The encoder is a tiny random keras-hub BERT (the pretrained MiniLM's stand-in) reading sources with
its WordPiece vocabulary; the decoder and the SentencePiece targets are ours. Untrained, with
token embeddings wide enough that every source scores differently: the served text must equal the
in-process model's, whatever its quality.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data import demo_translation
from keras_simpletf.models import Seq2SeqTransformer
from keras_simpletf.text import (
    ClassificationPreprocessor,
    Seq2SeqPreprocessor,
    SentencePieceTokenizer,
    learn_sentencepiece,
    learn_vocabulary,
)
from serving.client import ServingClient
from serving.export import export
from tests.serving.model_servers import ModelServer, write_model_config

SOURCES = ["one two three", "Five six SEVEN eight", "ten nine", ""]
SIGNATURES = {"serving_default": "beam", "generate_greedy": "greedy"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The directory holding the export, and the Keras model's `(texts, scores)` per signature."""
    keras.utils.set_random_seed(0)
    sources, targets = demo_translation(640)
    bert_source = ClassificationPreprocessor(
        learn_vocabulary(sources, 60, allow_smaller=True), sequence_length=12
    )
    tokenizer = SentencePieceTokenizer(
        learn_sentencepiece(targets, 300, model_type="bpe", allow_smaller=True)
    )
    preprocessor = Seq2SeqPreprocessor(bert_source, tokenizer, target_sequence_length=12)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=len(bert_source.vocabulary), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=12,
    )
    model = Seq2SeqTransformer(
        target_vocabulary_size=tokenizer.vocabulary_size, num_layers=1, num_heads=2,
        max_length=12, encoder=bert,
    )
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if weight.path.endswith("embeddings"):
            weight.assign(rng.normal(scale=0.5, size=weight.shape))
    expected = {}
    for signature, method in SIGNATURES.items():
        outputs = model.generate(preprocessor.source_ids(SOURCES), method=method, max_length=12)
        texts = preprocessor.detokenize(outputs["token_ids"]).numpy()
        expected[signature] = [text.decode() for text in texts], outputs["scores"].numpy()
    directory = tmp_path_factory.mktemp("seq2seq")
    export(model, preprocessor, str(directory / "translate"))
    return directory, expected


def test_grpc_and_rest_decode_like_the_keras_model(exported):
    directory, expected = exported
    config = write_model_config(directory, "translate")
    server = ModelServer(directory, f"--model_config_file={config}")
    try:
        server.wait_until_serving("translate")
        for signature, (texts, scores) in expected.items():
            assert len(set(scores.round(4))) == len(SOURCES)  # outputs that depend on the source
            for address in (f"127.0.0.1:{server.port}", f"http://127.0.0.1:{server.rest_port}"):
                # The first request traces the model in the server: slow on a busy CI machine.
                client = ServingClient(address, "translate", signature=signature, timeout=60)
                outputs = client.predict(SOURCES)
                assert [text.decode() for text in outputs["outputs"]] == texts
                assert outputs["scores"] == pytest.approx(scores, abs=1e-4)
    finally:
        server.stop()
