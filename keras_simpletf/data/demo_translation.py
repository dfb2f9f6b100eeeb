"""DEMO translation data: English number words to German ones, synthetic, for examples and tests only.

Nothing here is real data; it exists so sequence-to-sequence tests and
examples run offline, and a tiny model learns the task in seconds, so that an
exact-match threshold on decoded outputs fails when decoding is broken.
"""

import numpy as np

PAD, START, END = "<pad>", "<s>", "</s>"
_ENGLISH = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_GERMAN = ("eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn")
# One vocabulary for both languages; its index is the token id (0 padding).
DEMO_TRANSLATION_VOCABULARY = (PAD, START, END, *_ENGLISH, *_GERMAN)


def demo_translation(count, seed=0, min_words=2, max_words=8):
    """`count` DEMO pairs: a string of English number words and its German, in reverse order.

    "one two five" translates to "fünf zwei eins": the model must both map
    words and reorder them, so attention has to find the source position.

    Args:
        count: int, number of pairs.
        seed: int, the pairs are a pure function of the arguments.
        min_words: int, fewest words in a sentence.
        max_words: int, most words in a sentence.

    Returns:
        `(sources, targets)`: two lists of `count` strings.
    """
    rng = np.random.default_rng(seed)
    sources, targets = [], []
    for _ in range(count):
        words = rng.integers(len(_ENGLISH), size=rng.integers(min_words, max_words + 1))
        sources.append(" ".join(_ENGLISH[word] for word in words))
        targets.append(" ".join(_GERMAN[word] for word in words[::-1]))
    return sources, targets


def demo_translation_features(sources, targets, sequence_length):
    """Teacher-forcing batches of DEMO pairs, one id per word of `DEMO_TRANSLATION_VOCABULARY`.

    Args:
        sources: list of str, source sentences.
        targets: list of str, their translations.
        sequence_length: int, the padded length of every row; a sentence
            must fit with its start or end token.

    Returns:
        `(features, target_out_ids)`: features `{"source_ids",
        "target_in_ids"}` and labels, int32 `(count, sequence_length)`
        arrays padded with 0. `source_ids` is the sentence then `</s>`;
        `target_in_ids` is `<s>` then the translation; `target_out_ids` the
        translation then `</s>`.
    """
    ids = {word: index for index, word in enumerate(DEMO_TRANSLATION_VOCABULARY)}

    def rows(sentences, before, after):
        array = np.zeros((len(sentences), sequence_length), np.int32)
        for row, sentence in enumerate(sentences):
            tokens = before + [ids[word] for word in sentence.split()] + after
            if len(tokens) > sequence_length:
                raise ValueError(
                    f"{sentence!r} needs {len(tokens)} positions; `sequence_length` is "
                    f"{sequence_length}."
                )
            array[row, : len(tokens)] = tokens
        return array

    features = {
        "source_ids": rows(sources, [], [ids[END]]),
        "target_in_ids": rows(targets, [ids[START]], []),
    }
    return features, rows(targets, [], [ids[END]])
