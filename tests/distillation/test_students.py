"""Tests for keras_simpletf/distillation/students.py."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_simpletf.data import demo_sentiment
from keras_simpletf.distillation import STUDENT_SIZES, make_student, students
from keras_simpletf.models import (
    SpanQuestionAnswerer,
    TextClassifier,
    TokenClassifier,
    bert_vocabulary,
    load_bert_backbone,
    minilm_preset,
)
from keras_simpletf.text import ClassificationPreprocessor
from tests.distillation.demo_models import (
    ner_preprocessor,
    ner_tagger,
    sentiment_batches,
    sentiment_classifier,
    sentiment_preprocessor,
)
from tests.pretrained import requires_minilm


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


def tiny_bert_reader(num_layers=3):
    """A SpanQuestionAnswerer over a random keras-hub BERT: 12 heads at width 48, as MiniLM's heads."""
    keras.utils.set_random_seed(0)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=num_layers, num_heads=12, hidden_dim=48,
        intermediate_dim=96, max_sequence_length=64,
    )
    return SpanQuestionAnswerer(bert)


def test_every_other_layer_of_a_bert_copies_its_layers_into_our_blocks():
    teacher = tiny_bert_reader()
    student = make_student(
        teacher, {"num_layers": 2, "hidden_dim": 48}, initialize="every_other", relative_position_range=4
    )
    block = student.backbone.blocks[0]
    assert (block.num_heads, block.intermediate_dim, block.norm) == (12, 96, "post")
    assert block.relative_position_range is None
    stream = np.random.default_rng(0).normal(size=(2, 7, 48)).astype("float32")
    mask = np.array([[True] * 7, [True] * 4 + [False] * 3])
    for block, depth in zip(student.backbone.blocks, (0, 2)):
        theirs = teacher.backbone.get_layer(f"transformer_layer_{depth}")(stream, padding_mask=mask)
        mine = block(stream, mask=mask)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(mine)[mask], keras.ops.convert_to_numpy(theirs)[mask], atol=1e-5
        )
    np.testing.assert_array_equal(
        student.get_layer("span_logits").kernel.numpy(), teacher.get_layer("span_logits").kernel.numpy()
    )


@pytest.mark.parametrize("teacher, initialize, peak", [
    ("bert", "every_other", 1e-4),  # a pretrained BERT's layers fine-tune
    ("bert", "embeddings", 2e-3),  # a fresh encoder under the BERT's table
    ("ours", "every_other", 2e-3),  # the layers of a teacher trained from scratch
])
def test_a_student_holding_a_berts_layers_fine_tunes_them_at_a_pretrained_rate(teacher, initialize, peak):
    if teacher == "bert":
        teacher, size = tiny_bert_reader(1), {"num_layers": 1, "hidden_dim": 48}
    else:
        teacher, size = sentiment_classifier(sentiment_preprocessor()), {"num_layers": 1, "hidden_dim": 32}
    student = make_student(teacher, size, initialize=initialize)
    schedule = student.default_optimizer(100).get_config()["learning_rate"]["config"]
    assert schedule["peak_learning_rate"] == peak
    assert student.default_optimizer(100, learning_rate=3e-4).get_config()["learning_rate"][
        "config"]["peak_learning_rate"] == 3e-4


def test_a_student_holding_a_berts_layers_keeps_its_rate_when_saved_and_loaded(tmp_path):
    student = make_student(tiny_bert_reader(1), {"num_layers": 1, "hidden_dim": 48}, initialize="every_other")
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert loaded.from_pretrained_layers
    schedule = loaded.default_optimizer(100).get_config()["learning_rate"]["config"]
    assert schedule["peak_learning_rate"] == 1e-4
    # It teaches in turn: its students are fresh encoders, at a fresh encoder's rate.
    grandchild = make_student(loaded, {"num_layers": 1, "hidden_dim": 16})
    assert not grandchild.from_pretrained_layers


def test_a_multi_query_student_takes_the_mean_of_each_group_of_a_berts_key_value_heads():
    teacher = tiny_bert_reader(1)
    attention = teacher.backbone.get_layer("transformer_layer_0")._self_attention_layer
    # Two groups of six alike heads: grouped-query attention with 2 key/value heads is then exact.
    for dense in (attention._key_dense, attention._value_dense):
        for weight in (dense.kernel, dense.bias):
            heads = weight.numpy()[..., [0, 6], :]
            weight.assign(np.repeat(heads, 6, axis=-2))
    student = make_student(
        teacher, {"num_layers": 1, "hidden_dim": 48}, initialize="every_other", num_kv_heads=2
    )
    assert student.backbone.blocks[0].num_kv_heads == 2
    stream = np.random.default_rng(1).normal(size=(2, 5, 48)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(student.backbone.blocks[0](stream)),
        keras.ops.convert_to_numpy(teacher.backbone.get_layer("transformer_layer_0")(stream)),
        atol=1e-5,
    )
    # One key/value head: the mean of all twelve.
    single = make_student(
        teacher, {"num_layers": 1, "hidden_dim": 48}, initialize="every_other", num_kv_heads=1
    )
    fused = single.backbone.blocks[0].self_attention.query_key_value_dense.kernel.numpy()
    np.testing.assert_allclose(
        fused[:, 48:52], attention._key_dense.kernel.numpy().mean(axis=1), atol=1e-6
    )


def test_a_narrower_feed_forward_keeps_the_berts_neurons_with_the_largest_weights():
    teacher = tiny_bert_reader(1)
    layer = teacher.backbone.get_layer("transformer_layer_0")
    hidden, output = layer._feedforward_intermediate_dense, layer._feedforward_output_dense
    # 40 of the 96 neurons silent (no output weights): keeping the other 56 is then exact.
    silent = np.random.default_rng(2).permutation(96)[:40]
    kernel = output.kernel.numpy()
    kernel[silent] = 0.0
    output.kernel.assign(kernel)
    student = make_student(
        teacher, {"num_layers": 1, "hidden_dim": 48}, initialize="every_other", intermediate_dim=56
    )
    block = student.backbone.blocks[0]
    assert block.intermediate_dim == 56
    kept = np.setdiff1d(np.arange(96), silent)
    np.testing.assert_array_equal(
        block.feedforward.hidden_dense.kernel.numpy(), hidden.kernel.numpy()[:, kept]
    )
    stream = np.random.default_rng(3).normal(size=(2, 5, 48)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block(stream)), keras.ops.convert_to_numpy(layer(stream)), atol=1e-5
    )
    # Fewer neurons than that drop live ones: the block no longer computes the layer.
    fewer = make_student(
        teacher, {"num_layers": 1, "hidden_dim": 48}, initialize="every_other", intermediate_dim=28
    ).backbone.blocks[0]
    assert np.abs(keras.ops.convert_to_numpy(fewer(stream) - layer(stream))).max() > 1e-3


def test_with_pruning_features_a_feed_forward_keeps_the_neurons_active_on_them():
    teacher = tiny_bert_reader(1)
    layer = teacher.backbone.get_layer("transformer_layer_0")
    hidden, output = layer._feedforward_intermediate_dense, layer._feedforward_output_dense
    # 40 neurons with the largest weights, never active: their bias keeps GELU at 0.
    dead = np.random.default_rng(4).permutation(96)[:40]
    for weight, scale in ((hidden.kernel, 3.0), (output.kernel, 3.0)):
        value = weight.numpy()
        if value.shape[0] == 96:
            value[dead] *= scale
        else:
            value[:, dead] *= scale
        weight.assign(value)
    bias = hidden.bias.numpy()
    bias[dead] = -1e3
    hidden.bias.assign(bias)
    rng = np.random.default_rng(5)
    features = {
        "token_ids": rng.integers(5, 50, size=(8, 12)).astype("int32"),
        "segment_ids": np.zeros((8, 12), "int32"),
        "padding_mask": np.arange(12)[None, :] < rng.integers(4, 13, size=(8, 1)),
    }
    size = {"num_layers": 1, "hidden_dim": 48}
    pruned = make_student(
        teacher, size, initialize="every_other", intermediate_dim=56, pruning_features=features
    ).backbone.blocks[0]
    by_weights = make_student(
        teacher, size, initialize="every_other", intermediate_dim=56
    ).backbone.blocks[0]
    live = np.setdiff1d(np.arange(96), dead)
    np.testing.assert_array_equal(pruned.feedforward.hidden_dense.bias.numpy(), bias[live])
    # Without the features, the weights alone keep the dead neurons.
    assert (by_weights.feedforward.hidden_dense.bias.numpy() < -100).sum() == 40
    stream = rng.normal(size=(2, 5, 48)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pruned(stream)), keras.ops.convert_to_numpy(layer(stream)), atol=1e-5
    )


def test_feed_forward_activity_is_measured_where_the_bert_computes_it(monkeypatch):
    bert = tiny_bert_reader(2).backbone
    rng = np.random.default_rng(6)
    features = {
        "token_ids": rng.integers(5, 50, size=(4, 9)).astype("int32"),
        "segment_ids": np.zeros((4, 9), "int32"),
        "padding_mask": np.arange(9)[None, :] < np.array([[9], [3], [6], [1]]),
    }
    # What each layer's hidden layer outputs inside the BERT's own call.
    seen = []
    for layer in bert.transformer_layers:
        dense = layer._feedforward_intermediate_dense
        monkeypatch.setattr(
            dense, "call",
            lambda inputs, call=dense.call, **kwargs: seen.append(call(inputs, **kwargs)) or seen[-1],
        )
    bert(features)
    monkeypatch.undo()
    activity = students._feedforward_activity(bert, features)
    for measured, hidden in zip(activity, seen):
        expected = np.abs(keras.ops.convert_to_numpy(hidden)[features["padding_mask"]]).mean(axis=0)
        np.testing.assert_allclose(measured, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "size, kwargs, named",
    [
        ({"num_layers": 2, "hidden_dim": 32}, {}, "as wide as the teacher: the teacher is 48 wide"),
        ({"num_layers": 2, "hidden_dim": 48}, {"num_kv_heads": 5}, r"differs in \['num_kv_heads'\]"),
        ({"num_layers": 2, "hidden_dim": 48}, {"layout": "parallel"}, r"differs in \['layout'\]"),
        ({"num_layers": 2, "hidden_dim": 48}, {"intermediate_dim": 128}, "at most its 96; got intermediate_dim=128"),
    ],
)
def test_a_student_that_cannot_take_a_berts_layers_is_named(size, kwargs, named):
    with pytest.raises(ValueError, match=named):
        make_student(tiny_bert_reader(1), size, initialize="every_other", **kwargs)


@requires_minilm
def test_minilm_converted_whole_into_our_encoder_reads_text_nearly_as_minilm_does():
    preset = minilm_preset()
    bert = load_bert_backbone(preset)
    student = make_student(
        SpanQuestionAnswerer(bert), {"num_layers": 6, "hidden_dim": 384}, initialize="every_other"
    )
    vocabulary, lowercase = bert_vocabulary(preset)
    features = ClassificationPreprocessor(vocabulary, sequence_length=40, lowercase=lowercase)([
        "Which NFL team represented the AFC at Super Bowl 50?",
        "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
        "A quiet, deeply moving film about grief.",
    ])
    mask = features["padding_mask"].numpy()
    theirs = bert(features)["sequence_output"].numpy()[mask]
    mine = keras.ops.convert_to_numpy(
        student.backbone(features["token_ids"], mask=features["padding_mask"])
    )[mask]
    cosine = (mine * theirs).sum(-1) / np.linalg.norm(mine, axis=-1) / np.linalg.norm(theirs, axis=-1)
    # Only the embedding layer norm is approximated (one spread for every token).
    assert np.median(cosine) > 0.95
    assert cosine.min() > 0.9
