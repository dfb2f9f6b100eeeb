"""Tests for trainers/distill.py: `--teacher` and `--student` distil from the command line."""

import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf import models
from keras_simpletf.data import demo_sentiment
from tests.trainers.jobs import TINY, run_job
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
        train(parse_settings([*TINY[:3], f"--teacher={teacher_export}", "--student_init=every_other"]))


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

