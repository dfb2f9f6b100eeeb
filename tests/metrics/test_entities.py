"""Tests for keras_simpletf/metrics/entities.py: seqeval's entities, numbers and table."""

import math

import numpy as np
import pytest
from seqeval.metrics import classification_report as seqeval_report
from seqeval.metrics.sequence_labeling import get_entities

from keras_simpletf.metrics import entity_report, extract_entities

# seqeval warns about undefined ratios and about tags it does not know.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def tag_set(types, prefixes="BIO"):
    return ["O"] + [f"{prefix}-{type_}" for prefix in prefixes if prefix != "O" for type_ in types]


def random_sentences(rng, types, prefixes="BIO"):
    """Random tag sentences, malformed ones (I- after O, type changes) included."""
    tags = tag_set(types, prefixes)
    return [
        [tags[index] for index in rng.integers(len(tags), size=rng.integers(0, 12))]
        for _ in range(rng.integers(1, 6))
    ]


def noisy_copy(rng, sentences, types):
    """Each tag kept with probability 0.6, else a random one: some entities match, some not."""
    tags = tag_set(types)
    return [
        [tag if rng.random() < 0.6 else tags[rng.integers(len(tags))] for tag in sentence]
        for sentence in sentences
    ]


def assert_same_dict(ours, theirs):
    assert list(ours) == list(theirs)
    for name, row in theirs.items():
        for key, value in row.items():
            both_nan = math.isnan(ours[name][key]) and math.isnan(value)
            assert both_nan or ours[name][key] == value, (name, key)


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 2)]),  # I- after O starts an entity
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),  # a type change splits
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
        (["O", "B-LOC", "I-LOC"], [("LOC", 1, 2)]),  # an entity at the end
        ([], []),
        (["O", "O"], []),
    ],
)
def test_extract_entities_follows_seqeval_chunk_rules(tags, expected):
    assert extract_entities(tags) == expected
    assert get_entities(tags) == expected


def test_sentences_are_joined_with_one_o_after_each_like_seqeval():
    sentences = [["B-PER", "I-PER"], ["I-PER", "O"], ["B-LOC"]]
    assert extract_entities(sentences) == [("PER", 0, 1), ("PER", 3, 3), ("LOC", 6, 6)]
    assert extract_entities(sentences) == get_entities(sentences)


@pytest.mark.parametrize("prefixes", ["BIO", "BIOES"])
def test_extract_entities_equals_get_entities_on_random_sequences(prefixes):
    rng = np.random.default_rng(0)
    for _ in range(300):
        sentences = random_sentences(rng, ("PER", "LOC", "MISC"), prefixes)
        assert extract_entities(sentences) == get_entities(sentences)
        assert extract_entities(sentences[0]) == get_entities(sentences[0])


def test_report_on_seqeval_docstring_example():
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    report = entity_report(y_true, y_pred)
    assert report.as_dict()["MISC"]["f1-score"] == 0.0
    assert report.as_dict()["micro avg"]["f1-score"] == 0.5
    assert str(report) == (
        "              precision    recall  f1-score   support\n"
        "\n"
        "        MISC       0.00      0.00      0.00         1\n"
        "         PER       1.00      1.00      1.00         1\n"
        "\n"
        "   micro avg       0.50      0.50      0.50         2\n"
        "   macro avg       0.50      0.50      0.50         2\n"
        "weighted avg       0.50      0.50      0.50         2\n"
    )


@pytest.mark.parametrize("digits", [2, 4])
def test_report_equals_seqeval_on_random_sequences(digits):
    rng = np.random.default_rng(digits)
    for _ in range(200):
        types = ("PER", "LOC", "MISC")[: rng.integers(2, 4)]
        y_true = random_sentences(rng, types)
        y_pred = noisy_copy(rng, y_true, types)
        if not (extract_entities(y_true) or extract_entities(y_pred)):
            continue  # seqeval's table fails with no entities; tested below
        report = entity_report(y_true, y_pred, digits=digits)
        assert str(report) == seqeval_report(y_true, y_pred, digits=digits)
        assert_same_dict(report.as_dict(), seqeval_report(y_true, y_pred, output_dict=True))


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([["O", "B-PER", "I-PER"]], [["O", "O", "O"]]),  # nothing predicted
        ([["O", "O", "O"]], [["B-PER", "O", "I-LOC"]]),  # nothing true
        ([["B-PER", "O"]], [["B-PER", "B-ORGANIZATION"]]),  # a type only predicted, a long name
        ([["B-LOC"], []], [["I-LOC"], []]),  # an empty sentence
    ],
)
@pytest.mark.parametrize("digits", [2, 4, 13])
def test_report_equals_seqeval_on_edge_cases(y_true, y_pred, digits):
    report = entity_report(y_true, y_pred, digits=digits)
    assert str(report) == seqeval_report(y_true, y_pred, digits=digits)
    assert_same_dict(report.as_dict(), seqeval_report(y_true, y_pred, output_dict=True))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_no_entities_at_all_gives_zeros_and_seqeval_nan_macro_average():
    y_true = y_pred = [["O", "O"], ["O"]]
    report = entity_report(y_true, y_pred)
    assert_same_dict(report.as_dict(), seqeval_report(y_true, y_pred, output_dict=True))
    assert report.as_dict()["micro avg"] == {
        "precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0
    }
    assert str(report).splitlines()[3] == "   micro avg       0.00      0.00      0.00         0"


def test_report_rejects_differently_shaped_inputs():
    with pytest.raises(ValueError, match="Sentence 1 has 2 true tags but 1"):
        entity_report([["O"], ["O", "B-PER"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="same number of sentences"):
        entity_report([["O"], ["O"]], [["O"]])
