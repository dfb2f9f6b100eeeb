"""Tests for keras_simpletf/data/demo.py."""

from keras_simpletf.data import SENTIMENT_LABELS, demo_sentiment


def test_same_seed_same_examples_other_seed_other_examples():
    assert demo_sentiment(50, seed=3) == demo_sentiment(50, seed=3)
    assert demo_sentiment(50, seed=3) != demo_sentiment(50, seed=4)


def test_labels_are_balanced_and_from_the_label_set():
    texts, labels = demo_sentiment(2000)
    assert len(texts) == len(labels) == 2000
    assert set(labels) == set(SENTIMENT_LABELS)
    assert 0.45 < labels.count("positive") / 2000 < 0.55


def test_some_clauses_are_negated_so_word_order_matters():
    texts, labels = demo_sentiment(400)
    negated = [(t, l) for t, l in zip(texts, labels) if " not " in t]
    assert 20 < len(negated) < 120
    assert any(" not terrible" in t and l == "positive" for t, l in negated) or any(
        " not great" in t and l == "negative" for t, l in negated
    )
