"""Tests for trainers/distill.py: `--teacher` and `--student` distil from the command line."""

import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import models
from keras_simpletf.data import demo_sentiment
from tests.trainers.jobs import TINY, TINY_MODEL, run_job
from trainers.config import SettingsError, parse_settings
from trainers.export import MODEL_FILE, VOCABULARY_FILE
from trainers.tasks import create_task
from trainers.train import train


def test_the_cli_distils_a_student_that_exports_with_the_teachers_tokenizer(teacher_export, tmp_path):
    export_dir = tmp_path / "student"
    result = run_job(
        "--train_examples=1024", "--eval_examples=256", "--batch_size=16", "--sequence_length=16",
        "--epochs=2", f"--teacher={teacher_export}", "--student=tiny", "--layout=parallel",
        "--num_kv_heads=1", "--student_init=embeddings", f"--export_dir={export_dir}", timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Distilling a --student=tiny of our encoder from --teacher={teacher_export}" in result.stdout
    match = re.search(r"accuracy on 256 held-out examples: ([0-9.]+)", result.stdout)
    assert match and float(match.group(1)) >= 0.8, result.stdout[-3000:]
    assert (export_dir / "vocabulary.txt").read_text() == (teacher_export / "vocabulary.txt").read_text()
    student = keras.saving.load_model(export_dir / "model.keras")
    assert (student.backbone.num_layers, student.backbone.hidden_dim) == (2, 128)
    assert student.backbone.embedding_dim == 32  # the teacher's table, projected
    assert student.backbone.blocks[0].layout == "parallel"
    served = tf.saved_model.load(str(export_dir / "1")).signatures["serving_default"]
    teacher = tf.saved_model.load(str(teacher_export / "1")).signatures["serving_default"]
    texts = tf.constant(demo_sentiment(128, seed=31)[0])
    agree = np.mean(served(text=texts)["labels"].numpy() == teacher(text=texts)["labels"].numpy())
    assert agree >= 0.8, result.stdout[-3000:]


def test_attention_relations_join_the_soft_targets_in_both_loops(teacher_export):
    flags = [
        *TINY[:3], "--batch_size=16", "--sequence_length=16", f"--teacher={teacher_export}",
        "--student=tiny", "--attention_relation_heads=4", "--train_steps=4",
    ]
    settings = parse_settings(flags)
    losses = create_task(settings).teacher.distiller(settings).distillation_losses
    assert [type(loss).__name__ for loss in losses] == [
        "SoftTargetDistillation", "AttentionRelationDistillation"
    ]
    assert losses[1].relation_heads == 4
    for loop in ("fit", "custom"):
        result = train(parse_settings([*flags, f"--loop={loop}"]))
        assert result.steps == 4 and np.isfinite([loss for _, loss in result.losses]).all()
    # The teacher is 32 wide: 3 relation heads cannot split it.
    with pytest.raises(SettingsError, match=re.escape(
        "--attention_relation_heads=3: The teacher's query width 32 is not a multiple of "
        "relation_heads=3."
    )):
        train(parse_settings([*flags[:-2], "--attention_relation_heads=3"]))


def test_a_teacher_of_another_task_is_named(teacher_export):
    with pytest.raises(SettingsError, match="not the TokenClassifier of --task=ner"):
        train(parse_settings([*TINY[:3], "--task=ner", f"--teacher={teacher_export}"]))


def test_a_student_that_cannot_take_the_teachers_blocks_is_named(teacher_export):
    with pytest.raises(SettingsError, match=r"--student_init=every_other: .* as wide as the teacher"):
        train(parse_settings([
            *TINY[:3], "--sequence_length=16", f"--teacher={teacher_export}",
            "--student_init=every_other",
        ]))


def write_labelled(path, texts, labels):
    """A classification TSV file of `texts` and their `labels`."""
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    return path


def sentiment_file(path, size, seed):
    """DEMO sentiment texts labelled a_neg and z_pos; returns the path, texts and labels."""
    texts, labels = demo_sentiment(size, seed=seed)
    labels = ["a_neg" if label == "negative" else "z_pos" for label in labels]
    return write_labelled(path, texts, labels), texts, labels


@pytest.fixture(scope="module")
def three_label_teacher(tmp_path_factory):
    """A teacher exported by the job from a file of the labels a_neg, m_neutral and z_pos."""
    directory = tmp_path_factory.mktemp("three_labels")
    texts, labels = demo_sentiment(256, seed=0)
    weather = [f"the weather is {word} today" for word in ("grey", "mild", "cool") * 16]
    write_labelled(
        directory / "train.tsv",
        texts + weather,
        ["a_neg" if label == "negative" else "z_pos" for label in labels] + ["m_neutral"] * 48,
    )
    train(parse_settings([
        *TINY_MODEL, f"--train_data={directory / 'train.tsv'}", "--train_steps=8",
        f"--export_dir={directory / 'export'}",
    ]))
    return directory / "export"


STUDENT = ["--batch_size=16", "--sequence_length=16", "--student=tiny"]


def test_a_student_of_a_subset_of_the_labels_learns_in_its_teachers_label_ids(
    three_label_teacher, tmp_path
):
    train_path = sentiment_file(tmp_path / "train.tsv", 128, seed=5)[0]
    eval_path, texts, labels = sentiment_file(tmp_path / "eval.tsv", 64, seed=7)
    student_dir = tmp_path / "student"
    result = train(parse_settings([
        *STUDENT, f"--teacher={three_label_teacher}", f"--train_data={train_path}",
        f"--eval_data={eval_path}", "--train_steps=8", f"--export_dir={student_dir}",
    ]))
    assert result.task.labels == ["a_neg", "m_neutral", "z_pos"]
    np.testing.assert_array_equal(result.task.label_encoder(tf.constant(["a_neg", "z_pos"])), [0, 2])
    # The job scores the student as it serves.
    served = tf.saved_model.load(str(student_dir / "1")).signatures["serving_default"]
    predicted = served(text=tf.constant(texts))["labels"].numpy()
    accuracy = np.mean([name.decode() == label for name, label in zip(predicted, labels)])
    assert result.results["accuracy"] == pytest.approx(accuracy)


def test_a_label_the_teacher_lacks_is_named_with_the_file(three_label_teacher, tmp_path):
    known = (
        f"do not occur in --teacher={three_label_teacher}, whose labels are "
        "['a_neg', 'm_neutral', 'z_pos']."
    )
    good = sentiment_file(tmp_path / "good.tsv", 32, seed=5)[0]
    texts, _ = demo_sentiment(32, seed=6)
    other = write_labelled(tmp_path / "other.tsv", texts, ["z_pos", "other"] * 16)
    for flags, where in [
        ([f"--train_data={other}"], f"--train_data={other}"),
        ([f"--train_data={good}", f"--eval_data={other}"], f"--eval_data={other}"),
    ]:
        with pytest.raises(SettingsError, match=re.escape(f"{where}: labels ['other'] {known}")):
            create_task(parse_settings([*STUDENT, f"--teacher={three_label_teacher}", *flags]))
    # DEMO data, labelled negative and positive, even when the student learns from --unlabelled_data.
    lines = tmp_path / "lines.txt"
    lines.write_text("a good film\n")
    with pytest.raises(SettingsError, match=re.escape(
        f"The DEMO sentiment data: labels ['negative', 'positive'] {known}"
    )):
        create_task(parse_settings([
            *STUDENT, "--eval_examples=32", f"--teacher={three_label_teacher}",
            f"--unlabelled_data={lines}",
        ]))


def test_a_sequence_longer_than_the_teachers_positions_is_refused(teacher_export, tmp_path):
    with pytest.raises(SettingsError, match=re.escape(
        f"--sequence_length=32 exceeds the 16 positions of --teacher={teacher_export}"
    )):
        create_task(parse_settings([*TINY[:3], "--sequence_length=32", f"--teacher={teacher_export}"]))
    bert_teacher_export(tmp_path)
    with pytest.raises(SettingsError, match=re.escape(
        f"--sequence_length=129 exceeds the 128 positions of --teacher={tmp_path}"
    )):
        create_task(parse_settings([*TINY[:3], "--sequence_length=129", f"--teacher={tmp_path}"]))


def bert_teacher_export(export_dir):
    """A 3-layer BERT classifier of MiniLM's width saved as a job exports it; returns the BERT."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=3, num_heads=12, hidden_dim=384,
        intermediate_dim=32, max_sequence_length=128,
    )
    teacher = models.TextClassifier(bert, labels=["negative", "positive"])
    teacher.save(export_dir / MODEL_FILE)
    (export_dir / VOCABULARY_FILE).write_text("\n".join(vocabulary) + "\n")
    return bert


def test_a_shallow_student_starts_from_a_bert_teachers_layers_whatever_the_block_flags(tmp_path):
    bert = bert_teacher_export(tmp_path)
    settings = parse_settings([
        *TINY[:3], f"--teacher={tmp_path}", "--student=shallow", "--student_init=every_other",
        "--norm=pre", "--num_heads=1",
    ])
    student = create_task(settings).teacher.distiller(settings).student
    last = bert.get_layer("transformer_layer_2")._feedforward_output_dense.kernel
    block = student.backbone.blocks[1]
    assert (block.num_heads, block.norm, student.backbone.hidden_dim) == (12, "post", 384)
    np.testing.assert_array_equal(block.feedforward.output_dense.kernel.numpy(), last.numpy())


def test_intermediate_dim_keeps_that_many_of_a_bert_teachers_feed_forward_neurons(tmp_path):
    bert = bert_teacher_export(tmp_path)
    settings = parse_settings([
        *TINY[:3], f"--teacher={tmp_path}", "--student=shallow", "--student_init=every_other",
        "--intermediate_dim=8", "--num_kv_heads=1",
    ])
    task = create_task(settings)
    student = task.teacher.distiller(settings, pruning_features=task.feature_sample()).student
    for block in student.backbone.blocks:
        assert (block.intermediate_dim, block.num_kv_heads) == (8, 1)
        assert block.feedforward.hidden_dense.kernel.shape == (384, 8)
    # The neurons most active on the training texts, not those of the largest weights.
    by_weights = task.teacher.distiller(settings).student
    # A neuron by its first input weight.
    kept, kept_by_weights = (
        set(model.backbone.blocks[0].feedforward.hidden_dense.kernel.numpy()[0])
        for model in (student, by_weights)
    )
    assert kept != kept_by_weights
    assert kept < set(bert.get_layer("transformer_layer_0")._feedforward_intermediate_dense.kernel.numpy()[0])
    with pytest.raises(SettingsError, match="at most its 32; got intermediate_dim=64"):
        train(parse_settings([
            *TINY[:3], f"--teacher={tmp_path}", "--student=shallow", "--student_init=every_other",
            "--intermediate_dim=64",
        ]))


def test_a_teacher_without_its_vocabulary_is_named(tmp_path):
    with pytest.raises(SettingsError, match="vocabulary.txt"):
        train(parse_settings([*TINY[:3], f"--teacher={tmp_path / 'model.keras'}"]))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--student=base"], "--student=base does not apply without --teacher"),
        (["--student_init=embeddings"], "--student_init=embeddings does not apply without --teacher"),
        (["--teacher=/x", "--hidden_dim=64"], "--hidden_dim=64 does not apply with --teacher"),
        (["--attention_relation_heads=4"], "--attention_relation_heads=4 does not apply without"),
        (["--teacher=/x", "--attention_relation_heads=4", "--unlabelled_data=/y"],
         "--attention_relation_heads cannot train on --unlabelled_data"),
    ],
)
def test_flags_that_do_not_apply_are_named(flags, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(flags)

