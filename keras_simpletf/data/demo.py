"""Deterministic DEMO data (sentiment, NER): synthetic, templated, for examples and tests only.

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


NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

_PEOPLE = (
    "Anna Schmidt", "John Smith", "Maria Garcia", "Wei Chen", "Jordan",
    "Washington", "Olga Petrova", "Kenji Tanaka", "Fatima Haddad", "Paul",
)
_ORGANISATIONS = (
    "Acme Corp", "Globex", "Initech", "Umbrella Group", "Stark Industries",
    "Wayne Enterprises", "Hooli", "Vandelay Imports",
)
_PLACES = (
    "Berlin", "New York", "Jordan", "Washington", "Paris", "Tokyo",
    "Buenos Aires", "Cape Town", "Oslo", "San Francisco",
)
# Each template is a list of words and {PER}/{ORG}/{LOC} slots. "Jordan" and
# "Washington" are people in some sentences and places in others, so the tag
# of a word depends on its context.
_NER_TEMPLATES = (
    "{PER} lives in {LOC} .",
    "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened an office in {LOC} last year .",
    "Yesterday {PER} met {PER} at the {ORG} headquarters .",
    "{PER} flew from {LOC} to {LOC} on Monday .",
    "Shares of {ORG} rose after {PER} joined the board .",
    "The mayor of {LOC} thanked {ORG} .",
    "We visited {LOC} with {PER} .",
)
_SLOT_VALUES = {"PER": _PEOPLE, "ORG": _ORGANISATIONS, "LOC": _PLACES}


def demo_ner(count, seed=0):
    """`count` DEMO sentences as words with IOB2 entity tags (PER, ORG, LOC).

    Args:
        count: int, number of sentences.
        seed: int, the sentences are a pure function of `(count, seed)`.

    Returns:
        `(sentences, tags)`: two lists of `count` lists of strings, one word
        and one tag from `NER_TAGS` per position. Joining a sentence's words
        with spaces gives a text that `keras_simpletf.text.split_words` splits
        back into the same words.
    """
    rng = np.random.default_rng(seed)
    sentences, tags = [], []
    for _ in range(count):
        words, word_tags = [], []
        for part in rng.choice(_NER_TEMPLATES).split():
            if part.startswith("{"):
                entity_type = part[1:-1]
                entity = str(rng.choice(_SLOT_VALUES[entity_type])).split()
                words += entity
                word_tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(entity) - 1)
            else:
                words.append(part)
                word_tags.append("O")
        sentences.append(words)
        tags.append(word_tags)
    return sentences, tags
