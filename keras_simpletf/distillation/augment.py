"""More text for a teacher to label: variants of the training texts (Tang et al. 2019).

A student learns from its teacher's outputs only where it sees text; Tang et al.
("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks",
2019) give it more by rewriting the training texts and letting the teacher label
the variants. Their rules, without the part-of-speech one (it needs a tagger):
each variant of a text is, with probability `ngram_rate`, a random n-gram of it
(1 to `max_ngram` words), else the text with each word replaced with
probability `replace_rate` by a word drawn from the texts' own word frequencies.
On SST-2, four variants of each row of 8+ words gave a tiny distilled student
0.814 and 0.799 on the dev sentences in two runs, against 0.799 without
(BENCHMARKS.md): within what one run varies; Tang et al. made 20 a row.
"""

import collections
import itertools
import random


def augment(examples, copies, seed=0, min_words=8, replace_rate=0.1, ngram_rate=0.25, max_ngram=5):
    """`copies` variants of each example of `min_words` words or more, in order.

    Args:
        examples: texts (words separated by whitespace) or lists of words
            (NER); the variants are of the same kind.
        copies: int, variants made of each long enough example.
        seed: int; the same seed gives the same variants.
        min_words: examples shorter than this are not varied (a short phrase
            has few variants that still mean something).
        replace_rate: the chance that a word is replaced.
        ngram_rate: the chance that a variant is an n-gram of the example.
        max_ngram: the longest n-gram, in words.

    Returns:
        A list of variants, without duplicates or copies of an example.
    """
    word_lists = [example.split() if isinstance(example, str) else list(example)
                  for example in examples]
    counts = collections.Counter(word for words in word_lists for word in words)
    if not counts:
        return []
    vocabulary, weights = zip(*counts.items())
    # Cumulative once: `choices(weights=...)` would sum the whole vocabulary at every draw.
    cumulative = list(itertools.accumulate(weights))
    rng = random.Random(seed)
    seen = {tuple(words) for words in word_lists}
    variants = []
    for words, example in zip(word_lists, examples):
        if len(words) < min_words:
            continue
        for _ in range(copies):
            if rng.random() < ngram_rate:
                length = min(rng.randint(1, max_ngram), len(words))
                start = rng.randrange(len(words) - length + 1)
                variant = words[start : start + length]
            else:
                variant = [rng.choices(vocabulary, cum_weights=cumulative)[0] if rng.random() < replace_rate
                           else word for word in words]
            if tuple(variant) not in seen:
                seen.add(tuple(variant))
                variants.append(" ".join(variant) if isinstance(example, str) else variant)
    return variants
