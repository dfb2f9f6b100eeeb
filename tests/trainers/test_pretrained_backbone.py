"""Tests of the job fine-tuning the pretrained MiniLM (`--backbone=minilm`, or its preset
directory): its vocabulary, casing and learning rate, both loops, the serving export, and the
MiniLM as the encoder of translation. Skipped where the MiniLM package is not installed."""


import keras_hub
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops of the exported SavedModel)

from keras_simpletf.data import demo_sentiment
from keras_simpletf.models import bert_vocabulary, minilm_preset
from tests.pretrained import requires_minilm
from tests.trainers.jobs import run_job
from trainers.config import SettingsError, parse_settings
from trainers.train import describe_learning_rate, train

pytestmark = requires_minilm
SMALL_MODEL = ["--batch_size=16", "--sequence_length=16"]
SMALL = [*SMALL_MODEL, "--eval_examples=32"]  # On DEMO data; with --train_data, SMALL_MODEL.


def test_a_minilm_job_reads_a_file_fine_tunes_and_exports_for_serving(tmp_path):
    texts, labels = demo_sentiment(256, seed=0)
    rows = ["sentence\tlabel"] + [f"{t}\t{y}" for t, y in zip(texts, labels)]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    export_dir = tmp_path / "export"
    result = run_job(
        *SMALL_MODEL, f"--train_data={tmp_path / 'train.tsv'}", "--text_column=sentence",
        "--backbone=minilm", "--train_steps=32", f"--export_dir={export_dir}", timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Backbone: the pretrained BERT in {minilm_preset()}; 30522 WordPiece tokens" in (
        result.stdout
    )
    assert "peak_learning_rate=5e-05" in result.stdout  # the pretrained default
    vocabulary_path, _ = bert_vocabulary(minilm_preset())
    with open(vocabulary_path) as file:
        assert (export_dir / "vocabulary.txt").read_text().split() == file.read().split()
    served = tf.saved_model.load(str(export_dir / "1")).signatures["serving_default"]
    test_texts, test_labels = demo_sentiment(64, seed=7)
    predicted = served(text=tf.constant(test_texts))["labels"].numpy().astype(str)
    accuracy = sum(p == t for p, t in zip(predicted, test_labels)) / len(test_labels)
    assert accuracy >= 0.85


def test_a_preset_directory_fine_tunes_ner_uncased_in_the_custom_loop():
    vocabulary_path, _ = bert_vocabulary(minilm_preset())
    result = train(parse_settings([
        *SMALL, "--task=ner", "--train_examples=64", f"--backbone={minilm_preset()}",
        "--loop=custom", "--train_steps=4",
    ]))
    assert result.task.preprocessor.lowercase is True  # MiniLM is uncased
    with open(vocabulary_path) as file:
        assert result.task.vocabulary == file.read().splitlines()
    assert "peak_learning_rate=5e-05" in describe_learning_rate(result.model.optimizer)
    assert result.model.backbone.hidden_dim == 384
    assert {"entity_f1", "progress_entity_f1", "truncated_entities"} <= set(result.results)


def test_a_preset_directory_is_a_backbone_and_its_casing_cannot_be_overridden():
    preset = minilm_preset()
    with pytest.raises(SettingsError, match=rf"--lowercase=False contradicts --backbone={preset}"):
        train(parse_settings([*SMALL, "--task=ner", f"--backbone={preset}", "--nolowercase"]))


def test_a_directory_that_holds_no_bert_is_named(tmp_path):
    with pytest.raises(SettingsError, match=rf"--backbone={tmp_path}: .*has no config\.json"):
        train(parse_settings([*SMALL, f"--backbone={tmp_path}"]))


def test_a_minilm_translation_job_warm_starts_the_encoder_and_exports_for_serving(tmp_path):
    sources = ["one two three", "Ten nine"]
    result = train(parse_settings([
        "--task=translation", "--backbone=minilm", "--train_examples=64", "--eval_examples=8",
        "--sequence_length=12", "--target_sequence_length=12", "--batch_size=16",
        "--num_layers=1", "--num_heads=2", "--train_steps=4", f"--export_dir={tmp_path}",
    ]))
    model = result.model
    assert isinstance(model.encoder, keras_hub.models.BertBackbone) and model.hidden_dim == 384
    assert "peak_learning_rate=0.0001" in describe_learning_rate(model.optimizer)
    assert result.task.preprocessor.source_tokenizer.lowercase is True  # MiniLM is uncased
    vocabulary_path, _ = bert_vocabulary(minilm_preset())
    with open(vocabulary_path) as file:
        assert (tmp_path / "vocabulary.txt").read_text().split() == file.read().split()
    expected = result.task.decode(model, sources)
    served = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"]
    assert [text.decode() for text in served(text=tf.constant(sources))["outputs"].numpy()] == (
        expected)
