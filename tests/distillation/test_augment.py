"""Tests for `augment`: Tang et al.'s variants of training texts for a teacher to label."""

from keras_simpletf.data import demo_ner, demo_qa, demo_sentiment
from keras_simpletf.distillation import augment, augment_questions

TEXTS = demo_sentiment(200, seed=5)[0]


def _is_ngram_of(variant, words):
    return any(words[start : start + len(variant)] == variant for start in range(len(words)))


def test_each_variant_is_an_ngram_of_its_text_or_the_text_with_words_replaced():
    vocabulary = {word for text in TEXTS for word in text.split()}
    long_texts = [text.split() for text in TEXTS if len(text.split()) >= 8]
    variants = [variant.split() for variant in augment(TEXTS, copies=3, seed=1)]
    ngrams = replaced = 0
    for variant in variants:
        assert set(variant) <= vocabulary
        if len(variant) <= 5 and any(_is_ngram_of(variant, words) for words in long_texts):
            ngrams += 1
        else:
            # Same length as a long text, differing from it in some words but not most.
            closest = min(
                (sum(a != b for a, b in zip(variant, words)) for words in long_texts
                 if len(words) == len(variant)),
                default=None,
            )
            assert closest is not None and 1 <= closest <= len(variant) // 2
            replaced += 1
    # About a quarter n-grams (some n-grams repeat and are dropped), the rest replacements.
    assert len(variants) > 2 * len(long_texts)
    assert 0.1 < ngrams / len(variants) < 0.4 and replaced > ngrams


def test_short_texts_are_not_varied_and_nothing_repeats():
    short = [text for text in TEXTS if len(text.split()) < 8]
    assert short and augment(short, copies=5) == []
    variants = augment(TEXTS, copies=4, seed=2)
    assert len(set(variants)) == len(variants)
    assert not set(variants) & set(TEXTS)
    # Without n-grams or replacements every variant is its text again, so none is kept.
    assert augment(TEXTS, copies=3, replace_rate=0.0, ngram_rate=0.0) == []


def test_the_same_seed_gives_the_same_variants_and_word_lists_stay_word_lists():
    assert augment(TEXTS, 2, seed=7) == augment(TEXTS, 2, seed=7)
    assert augment(TEXTS, 2, seed=7) != augment(TEXTS, 2, seed=8)
    sentences = demo_ner(100, seed=3)[0]
    variants = augment(sentences, 2, seed=0, min_words=4)
    assert variants and all(isinstance(variant, list) for variant in variants)
    words = {word for sentence in sentences for word in sentence}
    assert all(set(variant) <= words for variant in variants)


def test_question_variants_replace_some_words_of_question_and_context_and_keep_no_answer():
    questions = demo_qa(300, seed=4)
    variants = augment_questions(questions, copies=2, seed=3)
    assert [v.id for v in variants[:4]] == [
        f"{questions[0].id}~0", f"{questions[0].id}~1", f"{questions[1].id}~0", f"{questions[1].id}~1"
    ]
    question_words = {word for q in questions for word in q.question.split()}
    context_words = {word for q in questions for word in q.context.split()}
    changed = {"question": [0, 0], "context": [0, 0]}
    for variant, question in zip(variants, [q for q in questions for _ in range(2)]):
        assert variant.answers == () and variant.answer_starts == ()
        for part, words in (("question", question_words), ("context", context_words)):
            old, new = getattr(question, part).split(), getattr(variant, part).split()
            assert len(new) == len(old) and set(new) <= words
            changed[part][0] += sum(a != b for a, b in zip(old, new))
            changed[part][1] += len(old)
    # Replaced at 15% and 10%, less the draws that happen to be the same word.
    assert 0.12 < changed["question"][0] / changed["question"][1] < 0.17
    assert 0.07 < changed["context"][0] / changed["context"][1] < 0.11
    assert augment_questions(questions, 2, seed=3) == variants
    assert augment_questions(questions, 2, seed=4) != variants
