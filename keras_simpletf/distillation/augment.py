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

`augment_questions` varies question answering's examples by the replacement
rule alone, in the question and in the context.
"""

import collections
import itertools
import random

from keras_simpletf.data.squad import QuestionAnswer


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
    if not any(word_lists):
        return []
    rng = random.Random(seed)
    draw = _word_sampler(word_lists, rng)
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
                variant = _replaced(words, draw, replace_rate, rng)
            if tuple(variant) not in seen:
                seen.add(tuple(variant))
                variants.append(" ".join(variant) if isinstance(example, str) else variant)
    return variants


def augment_questions(questions, copies, seed=0, question_rate=0.15, context_rate=0.1):
    """`copies` variants of each question and its context, for a teacher to label.

    A variant replaces each word of the question with probability
    `question_rate`, and each word of the context with probability
    `context_rate`, by a word drawn from the questions' (or the distinct
    contexts') own word frequencies: Tang et al.'s replacement rule. Their
    n-gram rule is not used, as a few words of a question ask nothing. A
    variant keeps no answer: the teacher's start and end distributions on it
    are its only targets, wherever the replaced words moved the answer.

    On the SQuAD v1.1 articles of `benchmarks/qa.py`, two variants of each of
    4,146 training questions, the teacher's spans the only targets for two
    epochs, took a 2-layer student of MiniLM's layers from dev F1 25.8 (four
    epochs on the questions alone, half hard labels) to 28.6 (BENCHMARKS.md).

    Args:
        questions: `data.QuestionAnswer`s.
        copies: int, variants made of each question.
        seed: int; the same seed gives the same variants.
        question_rate: the chance that a question's word is replaced.
        context_rate: the chance that a context's word is replaced.

    Returns:
        A list of `data.QuestionAnswer`s without answers, `copies` per
        question in order; the `k`th variant of question `id` has the id
        `"<id>~<k>"`.

    Example:

    ```python
    variants = augment_questions([QuestionAnswer("q1", "Who wrote it?", "Ada wrote it.", ("Ada",), (0,))], 2)
    [variant.id for variant in variants]  # ['q1~0', 'q1~1']
    ```
    """
    rng = random.Random(seed)
    question_words = [q.question.split() for q in questions]
    context_words = {q.context: q.context.split() for q in questions}
    draw_question = _word_sampler(question_words, rng)
    draw_context = _word_sampler(context_words.values(), rng)
    return [
        QuestionAnswer(
            f"{q.id}~{k}",
            " ".join(_replaced(words, draw_question, question_rate, rng)),
            " ".join(_replaced(context_words[q.context], draw_context, context_rate, rng)),
        )
        for q, words in zip(questions, question_words)
        for k in range(copies)
    ]


def _word_sampler(word_lists, rng):
    """A function drawing a word of `word_lists` by its frequency there."""
    counts = collections.Counter(word for words in word_lists for word in words)
    vocabulary, weights = zip(*counts.items())
    # Cumulative once: `choices(weights=...)` would sum the whole vocabulary at every draw.
    cumulative = list(itertools.accumulate(weights))
    return lambda: rng.choices(vocabulary, cum_weights=cumulative)[0]


def _replaced(words, draw, rate, rng):
    """`words`, each replaced by `draw()` with probability `rate`."""
    return [draw() if rng.random() < rate else word for word in words]
