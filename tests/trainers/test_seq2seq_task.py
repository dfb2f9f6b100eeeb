"""Tests for trainers/seq2seq_task.py: `--task=translation|summarization` trains, scores, exports, serves."""

import json
import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_simpletf.data import demo_summarization, demo_translation
from keras_simpletf.metrics import rouge
from keras_simpletf.models.seq2seq import PRETRAINED_ENCODER_LEARNING_RATE
from keras_simpletf.text import Seq2SeqPreprocessor, SentencePieceTokenizer
from serving.client import ServingClient
from tests.serving.model_servers import ModelServer
from tests.trainers.jobs import run_job
from trainers.config import SettingsError, parse_settings
from trainers.train import train

# A 1-layer, width-32 encoder-decoder: it learns the DEMO tasks in a few short epochs.
SMALL = [
    "--batch_size=32", "--hidden_dim=32", "--num_layers=1", "--num_heads=2", "--dropout=0",
    "--learning_rate=1e-2",
]
SOURCES = ["one two three", "five six seven eight", "ten nine", "four"]


@pytest.fixture(scope="module")
def translation_job(tmp_path_factory):
    """The DEMO translation job, run as users run it, and its export directory."""
    export_dir = tmp_path_factory.mktemp("translation")
    result = run_job(
        "--task=translation", "--train_examples=2000", "--eval_examples=100",
        "--sequence_length=12", "--target_sequence_length=12", *SMALL, "--epochs=10",
        f"--export_dir={export_dir}", timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, export_dir


def test_the_translation_job_prints_bleu_and_chrf_of_beam_outputs(translation_job):
    stdout, _ = translation_job
    match = re.search(
        r"DEMO translation, 100 held-out pairs decoded with beam 4: bleu ([0-9.]+), chrf ([0-9.]+)",
        stdout,
    )
    assert match, stdout[-3000:]
    bleu, chrf = map(float, match.groups())
    assert bleu >= 80 and chrf >= 85, (bleu, chrf)


def test_the_export_holds_only_tensorflow_and_tensorflow_text_ops(translation_job):
    _, export_dir = translation_job
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((export_dir / "1" / "saved_model.pb").read_bytes())
    graph = saved_model.meta_graphs[0].graph_def
    functions = {function.signature.name for function in graph.library.function}
    ops = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def}
    # tf.raw_ops lists TensorFlow's own ops; TF Serving builds add TF Text's.
    assert {op for op in ops - functions if not hasattr(tf.raw_ops, op)} == {
        "SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceDetokenizeOp"}


def _in_process_outputs(export_dir, method):
    model = keras.saving.load_model(export_dir / "model.keras")
    tokenizer = SentencePieceTokenizer.from_file(str(export_dir / "sentencepiece.model"))
    preprocessor = Seq2SeqPreprocessor(tokenizer, sequence_length=12)
    outputs = model.generate(preprocessor.source_ids(SOURCES), method=method, max_length=12)
    texts = [text.decode() for text in preprocessor.detokenize(outputs["token_ids"]).numpy()]
    return texts, outputs["scores"].numpy()


def test_the_export_served_over_grpc_and_rest_gives_the_in_process_models_text(
        translation_job, tmp_path):
    _, export_dir = translation_job
    server = ModelServer(tmp_path, "--model_name=translate", f"--model_base_path={export_dir}")
    try:
        server.wait_until_serving("translate")
        for signature, method in (("serving_default", "beam"), ("generate_greedy", "greedy")):
            expected_texts, expected_scores = _in_process_outputs(export_dir, method)
            assert expected_texts[:2] == ["drei zwei eins", "acht sieben sechs fünf"]
            for address in (f"127.0.0.1:{server.port}", f"http://127.0.0.1:{server.rest_port}"):
                outputs = ServingClient(address, "translate", signature=signature).predict(SOURCES)
                assert [text.decode() for text in outputs["outputs"]] == expected_texts
                assert outputs["scores"] == pytest.approx(expected_scores, abs=1e-4)
    finally:
        server.stop()


def _lead_2(dialogue):
    """The first two turns of a DEMO dialogue: the lead baseline of dialogue summarization."""
    return " ".join(re.findall(r"\w+: [^:]+?(?= \w+:|$)", dialogue)[:2])


def test_summarization_from_jsonl_files_with_named_fields_beats_the_lead_2_baseline(tmp_path):
    files = {}
    for split, (count, seed) in {"train": (2000, 0), "eval": (100, 1)}.items():
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(
            json.dumps({"dialogue": dialogue, "summary": summary}) + "\n"
            for dialogue, summary in zip(*demo_summarization(count, seed=seed))))
    dialogues, summaries = demo_summarization(100, seed=1)
    lead_2 = rouge([_lead_2(dialogue) for dialogue in dialogues], summaries)
    result = train(parse_settings([
        "--task=summarization", f"--train_data={files['train']}", f"--eval_data={files['eval']}",
        "--pair_fields=dialogue,summary", "--sequence_length=56", "--target_sequence_length=12",
        *SMALL, "--epochs=6",
    ]))
    report = result.task.report(result.results)
    assert report.startswith(f"{files['eval']}, 100 held-out pairs decoded with beam 4: rouge1")
    assert result.results["rougeL"] >= 80 and result.results["rouge2"] >= 65, report
    assert result.results["rougeL"] > lead_2["rougeL"] + 40, (report, lead_2)


def test_line_aligned_files_train_and_a_length_mismatch_names_both_files(tmp_path):
    sources, targets = demo_translation(64)
    sources[5] = " ".join(["one two three"] * 10)  # longer than --sequence_length: left out
    paths = {name: tmp_path / name for name in ("train.en", "train.de", "short.de")}
    paths["train.en"].write_text("\n".join(sources) + "\n")
    paths["train.de"].write_text("\n".join(targets) + "\n")
    paths["short.de"].write_text("\n".join(targets[:-1]) + "\n")
    aligned = f"--train_data={paths['train.en']},{paths['train.de']}"
    result = train(parse_settings([
        "--task=translation", aligned, "--batch_size=16", "--hidden_dim=16", "--num_layers=1",
        "--sequence_length=12", "--target_sequence_length=12", "--train_steps=2",
    ]))
    assert result.steps == 2 and result.results == {}
    assert result.task.length_report == (
        "Training pairs: kept 63 of 64 pairs; dropped 1: source longer than 11 (1) (lengths in "
        "SentencePiece pieces).")
    with pytest.raises(SettingsError, match=re.escape(
            f"{paths['train.en']}:64: line-aligned files differ in length: {paths['short.de']} "
            f"ends before this line")):
        train(parse_settings([
            "--task=translation", f"--train_data={paths['train.en']},{paths['short.de']}"]))


# keras-hub's h5 weight writer trips a NumPy 2 deprecation inside Keras itself.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_local_bert_preset_is_the_encoder_under_our_decoder(tmp_path):
    """A keras-hub preset directory, as --backbone takes one: warm-started, its vocabulary read."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                  "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16,
    )
    bert.save_to_preset(str(tmp_path))
    keras_hub.models.BertTokenizer(vocabulary, lowercase=True).save_to_preset(str(tmp_path))
    result = train(parse_settings([
        "--task=translation", f"--backbone={tmp_path}", "--train_examples=256",
        "--eval_examples=16", "--sequence_length=10", "--target_sequence_length=10",
        "--batch_size=32", "--num_layers=1", "--num_heads=2", "--train_steps=4",
    ]))
    task, model = result.task, result.model
    assert task.describe().startswith(
        f"Encoder: the pretrained BERT in {tmp_path}, reading sources with its 15 WordPiece "
        "tokens, lower-cased; decoder: ours, 1 layer(s) as wide as the encoder, randomly "
        f"initialised, over {task.tokenizer.vocabulary_size} SentencePiece pieces learned from "
        "the training targets of DEMO translation.")
    # DEMO sources have 2 to 8 words: all fit with [CLS] and [SEP].
    assert task.length_report == (
        "Training pairs: kept 256 of 256 pairs (sources in WordPiece tokens, targets in "
        "SentencePiece pieces).")
    assert isinstance(model.encoder, keras_hub.models.BertBackbone) and model.hidden_dim == 16
    assert model.decoder.num_layers == 1 and model.decoder.blocks[0].num_heads == 2
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["peak_learning_rate"] == PRETRAINED_ENCODER_LEARNING_RATE
    embeddings = model.encoder.token_embedding.embeddings.numpy()
    assert 0 < np.abs(embeddings - bert.token_embedding.embeddings.numpy()).max() < 1e-2
    assert task.preprocessor.source_ids(["One two"]).numpy().tolist() == [[2, 5, 6, 3] + [0] * 6]
    assert {"bleu", "chrf"} <= set(result.results)


def test_settings_that_do_not_apply_to_seq2seq_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="--hidden_dim=64 does not apply to --backbone=minilm: "
                                            "the decoder is as wide as the pretrained encoder"):
        parse_settings(["--task=translation", "--backbone=minilm", "--hidden_dim=64"])
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a\tb\n")
    with pytest.raises(SettingsError, match="--pair_fields=x,y chooses the fields"):
        train(parse_settings([
            "--task=translation", f"--train_data={pairs},{pairs}", "--pair_fields=x,y"]))
    with pytest.raises(SettingsError, match="--vocabulary_size=100: SentencePiece training failed"):
        train(parse_settings(["--task=translation", "--vocabulary_size=100"]))
    with pytest.raises(SettingsError, match="no such file"):
        train(parse_settings(["--task=summarization", f"--train_data={tmp_path}/none.jsonl"]))
