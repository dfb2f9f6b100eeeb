"""Tests for keras_simpletf/metrics/classification.py: scikit-learn's numbers, in numpy."""


import numpy as np
import pytest
from sklearn.metrics import classification_report as sklearn_report
from sklearn.metrics import confusion_matrix

from keras_simpletf.metrics import classification_report

LABELS = ["negative", "neutral", "positive", "mixed"]


def assert_matches_sklearn(report, true_ids, predicted_ids, labels=LABELS):
    expected = sklearn_report(
        true_ids,
        predicted_ids,
        labels=list(range(len(labels))),
        target_names=labels,
        output_dict=True,
        zero_division=0,
    )
    ours = report.as_dict()
    assert list(ours) == list(expected)
    for name, row in expected.items():
        assert ours[name] == pytest.approx(row, rel=1e-12, abs=1e-12), name
    np.testing.assert_array_equal(
        report.confusion_matrix,
        confusion_matrix(true_ids, predicted_ids, labels=list(range(len(labels)))),
    )
    assert report.accuracy == pytest.approx(expected["accuracy"])
    assert report.macro_f1 == pytest.approx(expected["macro avg"]["f1-score"])


@pytest.mark.parametrize("seed", range(20))
def test_random_ids_and_names_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    size = rng.integers(1, 60)
    # Some labels may never occur, in the truth or in the predictions.
    true_ids = rng.integers(len(LABELS), size=size)
    guesses = rng.integers(len(LABELS), size=size)
    predicted_ids = np.where(rng.random(size) < 0.6, true_ids, guesses)
    by_id = classification_report(true_ids, predicted_ids, LABELS)
    assert_matches_sklearn(by_id, true_ids, predicted_ids)
    names = np.array(LABELS)
    by_name = classification_report(list(names[true_ids]), names[predicted_ids], LABELS)
    assert_matches_sklearn(by_name, true_ids, predicted_ids)


def test_two_classes_and_a_class_never_predicted():
    report = classification_report([0, 1, 1, 0, 1], [0, 0, 0, 0, 0], ["ham", "spam"])
    assert_matches_sklearn(report, [0, 1, 1, 0, 1], [0, 0, 0, 0, 0], ["ham", "spam"])
    assert report.as_dict()["spam"] == {
        "precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 3
    }


def test_printed_report_has_the_table_and_the_confusion_matrix():
    report = classification_report(
        ["cat", "dog", "dog", "bird"], ["cat", "dog", "cat", "bird"], ["bird", "cat", "dog"]
    )
    assert str(report) == (
        "              precision    recall  f1-score   support\n"
        "\n"
        "        bird       1.00      1.00      1.00         1\n"
        "         cat       0.50      1.00      0.67         1\n"
        "         dog       1.00      0.50      0.67         2\n"
        "\n"
        "    accuracy                           0.75         4\n"
        "   macro avg       0.83      0.83      0.78         4\n"
        "weighted avg       0.88      0.75      0.75         4\n"
        "\n"
        "Confusion matrix (rows: true, columns: predicted):\n"
        "      bird   cat   dog\n"
        "bird     1     0     0\n"
        " cat     0     1     0\n"
        " dog     0     1     1\n"
    )


def test_labels_outside_the_vocabulary_are_named_in_the_error():
    unknown = "has labels that are not in `labels`: "
    with pytest.raises(ValueError, match=rf"`y_pred` {unknown}\['ferret', 'owl'\]"):
        classification_report(["cat", "dog"], ["owl", "ferret"], ["cat", "dog"])
    with pytest.raises(ValueError, match=rf"`y_true` {unknown}\[-1, 2\]"):
        classification_report([0, 2, -1], [0, 1, 1], ["cat", "dog"])


def test_bytes_labels_from_tensorflow_are_decoded():
    report = classification_report(np.array([b"cat", b"dog"]), [0, 1], ["cat", "dog"])
    assert report.accuracy == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, labels, message",
    [
        ([], [], ["a"], "empty"),
        ([0, 1], [0], ["a", "b"], "2 labels but `y_pred` has 1"),
        ([0], [0], ["a", "a"], "repeats"),
        ([[0, 1]], [[0, 1]], ["a", "b"], "one-dimensional"),
        ([0.0], [0.0], ["a"], "label ids"),
    ],
)
def test_invalid_inputs_raise(y_true, y_pred, labels, message):
    with pytest.raises(ValueError, match=message):
        classification_report(y_true, y_pred, labels)
