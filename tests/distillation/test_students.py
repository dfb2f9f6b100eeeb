"""Tests for keras_simpletf/distillation/students.py."""

import numpy as np
import pytest

from keras_simpletf.data import demo_sentiment
from keras_simpletf.distillation import STUDENT_SIZES, make_student
from keras_simpletf.models import TextClassifier, TokenClassifier
from tests.distillation.demo_models import (
    ner_preprocessor,
    ner_tagger,
    sentiment_batches,
    sentiment_classifier,
    sentiment_preprocessor,
)


def test_a_size_preset_gives_a_simplified_student_of_the_teachers_kind_and_vocabulary():
    preprocessor = ner_preprocessor()
    teacher = ner_tagger(preprocessor)
    student = make_student(teacher, "tiny", num_kv_heads=1, value_free=True, layout="parallel")
    assert isinstance(student, TokenClassifier) and student.labels == teacher.labels
    encoder = student.backbone
    assert (encoder.num_layers, encoder.hidden_dim) == (
        STUDENT_SIZES["tiny"]["num_layers"], STUDENT_SIZES["tiny"]["hidden_dim"]
    )
    assert encoder.vocabulary_size == len(preprocessor.vocabulary) == teacher.backbone.vocabulary_size
    block = encoder.blocks[0]
    assert (block.num_heads, block.num_kv_heads, block.value_free, block.layout) == (
        1, 1, True, "parallel"
    )


def test_every_other_layer_copies_the_teachers_embeddings_blocks_and_head():
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor, num_layers=4)
    student = make_student(teacher, {"num_layers": 2, "hidden_dim": 32}, initialize="every_other")
    for student_block, depth in zip(student.backbone.blocks, (0, 3)):
        for mine, theirs in zip(student_block.weights, teacher.backbone.blocks[depth].weights):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    np.testing.assert_array_equal(
        student.get_layer("logits").kernel.numpy(), teacher.get_layer("logits").kernel.numpy()
    )
    # As deep as the teacher, the copy is the teacher.
    twin = make_student(teacher, {"num_layers": 4, "hidden_dim": 32}, initialize="every_other")
    features = next(iter(sentiment_batches(preprocessor, demo_sentiment(8, seed=1)[0])))
    np.testing.assert_allclose(twin.predict_on_batch(features), teacher.predict_on_batch(features), atol=1e-5)


def test_embeddings_only_copies_the_token_table_at_the_students_starting_spread():
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 32}, initialize="embeddings")
    mine = student.backbone.token_embedding.embeddings.numpy()
    theirs = teacher.backbone.token_embedding.embeddings.numpy()
    np.testing.assert_allclose(mine, theirs * (mine.std() / theirs.std()), rtol=1e-5)
    assert mine.std() == pytest.approx(32**-0.5, rel=1e-4)
    assert not np.array_equal(
        student.get_layer("logits").kernel.numpy(), teacher.get_layer("logits").kernel.numpy()
    )
    assert isinstance(student, TextClassifier) and student.multi_label is False


def test_a_narrower_student_projects_the_teachers_table_to_its_width():
    preprocessor = sentiment_preprocessor()
    teacher = sentiment_classifier(preprocessor)  # 32 wide
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 8}, initialize="embeddings")
    encoder = student.backbone
    assert (encoder.embedding_dim, encoder.hidden_dim) == (32, 8)
    table = encoder.token_embedding.embeddings.numpy()
    assert table.std() == pytest.approx(32**-0.5, rel=1e-4)  # the table's starting spread
    assert np.corrcoef(table.ravel(), teacher.backbone.token_embedding.embeddings.numpy().ravel())[0, 1] == (
        pytest.approx(1.0)
    )
    assert encoder.embedding_projection.kernel.shape == (32, 8)
    features = next(iter(sentiment_batches(preprocessor, demo_sentiment(8, seed=1)[0])))
    assert student.predict_on_batch(features).shape == (8, len(teacher.labels))


def test_initialisation_from_the_teacher_needs_its_width_and_block_settings():
    teacher = sentiment_classifier(sentiment_preprocessor())
    with pytest.raises(ValueError, match="32 wide, the student's 8"):
        make_student(
            teacher, {"num_layers": 1, "hidden_dim": 8}, initialize="embeddings", embedding_dim=8
        )
    with pytest.raises(ValueError, match="as wide as the teacher"):
        make_student(teacher, {"num_layers": 1, "hidden_dim": 16}, initialize="every_other")
    with pytest.raises(ValueError, match="layout"):
        make_student(teacher, {"num_layers": 1, "hidden_dim": 32}, initialize="every_other", layout="parallel")
    with pytest.raises(ValueError, match="sizes"):
        make_student(teacher, "huge")


def test_dropout_applies_to_the_blocks_and_the_head():
    student = make_student(sentiment_classifier(sentiment_preprocessor()), "tiny", dropout=0.2)
    assert student.dropout == 0.2
    assert all(block.dropout == 0.2 for block in student.backbone.blocks)
