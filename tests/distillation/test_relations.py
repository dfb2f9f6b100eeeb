"""Tests for AttentionRelationDistillation (keras_simpletf/distillation/losses.py): MiniLM's
self-attention relation transfer between our encoders and a keras-hub BERT."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_simpletf.distillation import (
    AttentionRelationDistillation,
    SoftTargetDistillation,
    TaskDistiller,
    make_student,
)
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models import TextClassifier

RNG = np.random.default_rng(0)
LENGTHS = np.array([[10], [7], [5], [3]])
FEATURES = {
    "token_ids": RNG.integers(1, 100, (4, 10)).astype("int32"),
    "segment_ids": np.zeros((4, 10), "int32"),
    "padding_mask": np.arange(10) < LENGTHS,
}


def classifier(backbone):
    return TextClassifier(backbone, labels=["no", "yes"])


def ours(**kwargs):
    options = {"num_layers": 2, "hidden_dim": 32, **kwargs}
    return classifier(TransformerEncoder(vocabulary_size=100, **options))


def tiny_bert(num_layers=2):
    return classifier(keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=num_layers, num_heads=2, hidden_dim=32, intermediate_dim=64,
        max_sequence_length=24,
    ))


def relation_loss(teacher, student, relation, **kwargs):
    distiller = TaskDistiller(teacher, student, relation, student_loss_weight=0.0)
    loss = distiller.compute_loss(FEATURES, None, student(FEATURES), training=False)
    return float(loss), distiller


def by_hand(teacher_states, student_states, relation_heads):
    """MiniLMv2's loss by hand: the relations' KL, averaged over relations, heads, real queries."""

    def log_relations(heads, length):
        states = heads[:length].reshape(length, relation_heads, -1).transpose(1, 0, 2)
        logits = states @ states.transpose(0, 2, 1) / np.sqrt(states.shape[-1])
        shifted = logits - logits.max(-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))

    per_query = []
    for row, length in enumerate(LENGTHS[:, 0]):
        divergences = []
        for name in ("query", "key", "value"):
            teacher = log_relations(np.asarray(teacher_states[name][row]), length)
            student = log_relations(np.asarray(student_states[name][row]), length)
            divergences.append((np.exp(teacher) * (teacher - student)).sum(-1).mean(0))
        per_query.extend(np.mean(divergences, axis=0))
    return np.mean(per_query)


@pytest.mark.parametrize("student_options", [
    {"num_heads": 1},
    {"num_heads": 4, "num_kv_heads": 1, "layout": "parallel", "norm": "pre"},
    {"num_heads": 2, "value_free": True},
])
def test_a_bert_teachers_relations_are_compared_with_any_student_at_real_tokens(student_options):
    teacher = tiny_bert()
    student = ours(num_layers=1, hidden_dim=16, **student_options)
    relation = AttentionRelationDistillation(relation_heads=2)
    loss, _ = relation_loss(teacher, student, relation)
    teacher_states, student_states = relation.states(FEATURES, training=False)
    assert loss > 0
    np.testing.assert_allclose(loss, by_hand(teacher_states, student_states, 2), rtol=1e-4)


def test_the_bert_block_read_is_the_one_that_computes_its_sequence_output():
    teacher = tiny_bert()
    relation = AttentionRelationDistillation(relation_heads=2)
    relation.validate_model_compatibility(teacher, ours())
    query = relation.states(FEATURES, training=False)[0]["query"]
    bert = teacher.backbone
    last = bert.transformer_layers[-1]
    block_inputs = keras.Model(bert.input, bert.transformer_layers[0].output)(FEATURES)
    expected = last._self_attention_layer._query_dense(block_inputs)
    np.testing.assert_allclose(query, expected, atol=1e-6)
    np.testing.assert_allclose(
        last(block_inputs, padding_mask=FEATURES["padding_mask"]),
        bert(FEATURES)["sequence_output"],
        atol=1e-5,
    )


def test_our_projections_give_the_attention_weights_the_block_computes():
    model = ours(num_heads=2, num_kv_heads=1, norm="pre")
    encoder = model.backbone
    states = encoder.self_attention_projections(FEATURES["token_ids"], FEATURES["padding_mask"])
    query, key = np.asarray(states["query"]), np.asarray(states["key"])
    assert query.shape == (4, 10, 2, 16) and key.shape == (4, 10, 1, 16)
    logits = np.einsum("bqhd,bkd->bhqk", query, key[:, :, 0]) / 4.0
    logits = np.where(FEATURES["padding_mask"][:, None, None, :], logits, -1e9)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    stream = encoder._embed(FEATURES["token_ids"], training=False)
    stream = encoder.blocks[0](stream, mask=FEATURES["padding_mask"])
    _, expected = encoder.blocks[1](
        stream, mask=FEATURES["padding_mask"], return_attention_scores=True
    )
    np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_a_student_with_the_teachers_weights_has_no_relation_loss_and_fit_lowers_it():
    teacher = ours(num_heads=2)
    twin = ours(num_heads=2)
    twin.set_weights(teacher.get_weights())
    loss, _ = relation_loss(teacher, twin, AttentionRelationDistillation(relation_heads=4))
    assert loss == pytest.approx(0.0, abs=1e-6)

    keras.utils.set_random_seed(0)
    student = make_student(teacher, {"num_layers": 1, "hidden_dim": 16}, num_kv_heads=1)
    relation = AttentionRelationDistillation(relation_heads=4, relations=("query", "key"))
    before, distiller = relation_loss(teacher, student, relation)
    distiller.compile(keras.optimizers.Adam(1e-2), student.default_loss())
    distiller.fit(FEATURES, epochs=30, batch_size=4, verbose=0)
    after = float(distiller.compute_loss(FEATURES, None, student(FEATURES), training=False))
    assert after < 0.5 * before


def test_widths_not_a_multiple_of_the_relation_heads_are_named():
    message = "The teacher's query width 32 is not a multiple of relation_heads=3"
    with pytest.raises(ValueError, match=message):
        relation_loss(tiny_bert(), ours(), AttentionRelationDistillation(relation_heads=3))
    with pytest.raises(ValueError, match="`relations` must be some of"):
        AttentionRelationDistillation(relations=("attention",))


def test_it_round_trips_through_the_distillers_config():
    teacher, student = tiny_bert(), ours(num_layers=1, hidden_dim=16)
    distiller = TaskDistiller(teacher, student, [
        SoftTargetDistillation(), AttentionRelationDistillation(8, ("key",), teacher_block=0),
    ])
    relation = TaskDistiller.from_config(distiller.get_config()).distillation_losses[1]
    assert (relation.relation_heads, relation.relations, relation.teacher_block) == (8, ("key",), 0)
