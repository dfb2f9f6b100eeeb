"""Deterministic DEMO data: synthetic, templated, for examples and tests only.

Nothing here is real user data; it exists so the README's main job and the
tests run offline with no download. Same seed, same examples, on any machine.
"""

import numpy as np

SENTIMENT_LABELS = ("negative", "positive")

_SUBJECTS = (
    "the movie", "this film", "the plot", "the acting", "the soundtrack",
    "the ending", "the script", "the cast", "the story", "the direction",
)
_VERBS = ("was", "felt", "seemed", "is", "turned out")
_INTENSIFIERS = ("", "really ", "truly ", "quite ", "very ", "absolutely ")
_CLOSERS = (
    "", " overall", " in my opinion", " from start to finish",
    " for the most part", " to be honest",
)
_ADJECTIVES = {
    "negative": (
        "terrible", "awful", "boring", "dull", "dreadful",
        "clumsy", "tedious", "disappointing", "bland", "poor",
    ),
    "positive": (
        "great", "wonderful", "superb", "delightful", "excellent",
        "moving", "brilliant", "charming", "enjoyable", "fantastic",
    ),
}


def _clause(rng, label, negated):
    polarity = SENTIMENT_LABELS[1 - SENTIMENT_LABELS.index(label)] if negated else label
    adjective = rng.choice(_ADJECTIVES[polarity])
    subject, verb = rng.choice(_SUBJECTS), rng.choice(_VERBS)
    if negated:
        return f"{subject} {verb} not {adjective}"
    return f"{subject} {verb} {rng.choice(_INTENSIFIERS)}{adjective}"


def demo_sentiment(count, seed=0):
    """`count` DEMO movie-review sentences and their sentiment labels.

    Each review has one or two clauses of the same sentiment; about one clause
    in eight says "not <opposite adjective>", so word order matters.

    Args:
        count: int, number of examples.
        seed: int, the examples are a pure function of `(count, seed)`.

    Returns:
        `(texts, labels)`: two lists of `count` strings; labels are from
        `SENTIMENT_LABELS`.
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(count):
        label = SENTIMENT_LABELS[rng.integers(2)]
        clauses = [
            _clause(rng, label, negated=rng.random() < 0.125)
            for _ in range(rng.integers(1, 3))
        ]
        texts.append(" and ".join(clauses) + rng.choice(_CLOSERS) + ".")
        labels.append(label)
    return texts, labels
