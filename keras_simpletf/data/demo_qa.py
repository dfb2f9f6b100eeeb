"""Deterministic DEMO question answering data: synthetic facts and questions about them.

Nothing here is real; it exists so the question-answering job, the README and
the tests run offline. Each context states a few facts of different kinds
about different people ("Anna Schmidt lives in Oslo. Wei Chen plays the
cello."), and each question asks for one of them ("What does Wei Chen
play?"), so a model must find the sentence the question is about and copy
the right span of it.
"""

import numpy as np

from keras_simpletf.data.squad import QuestionAnswer

_PEOPLE = (
    "Anna Schmidt", "John Smith", "Maria Garcia", "Wei Chen", "Olga Petrova",
    "Kenji Tanaka", "Fatima Haddad", "Paul Martin", "Sara Lind", "Omar Farouk",
    "Lena Novak", "Tom Baker",
)
_SLOTS = {
    "place": ("Berlin", "New York", "Paris", "Tokyo", "Buenos Aires", "Cape Town", "Oslo",
              "San Francisco", "Lima", "Cairo"),
    "employer": ("Acme Corp", "Globex", "Initech", "Umbrella Group", "Hooli",
                 "Vandelay Imports", "Stark Industries"),
    "year": tuple(str(year) for year in range(1950, 2001, 3)),
    "instrument": ("piano", "cello", "violin", "drums", "guitar", "flute", "trumpet"),
}
# (fact, question, slot): a person's fact and the question whose answer is the slot.
_RELATIONS = (
    ("{person} lives in {place}.", "Where does {person} live?", "place"),
    ("{person} works for {employer}.", "Who does {person} work for?", "employer"),
    ("{person} was born in {year}.", "When was {person} born?", "year"),
    ("{person} plays the {instrument}.", "What does {person} play?", "instrument"),
)


def demo_qa(count, seed=0, facts=(2, 4), unanswerable=0.0):
    """`count` DEMO questions about short synthetic contexts, as `QuestionAnswer`s.

    A context states `facts` facts, each of a different kind (where someone
    lives, works, was born, what they play) about a different person; a
    question asks for one of them. An unanswerable question asks for a kind
    of fact its context does not state.

    Args:
        count: int, number of questions.
        seed: int, the data is a pure function of the arguments.
        facts: `(fewest, most)` facts per context (one sentence each), at
            most 4 (3 for contexts of unanswerable questions).
        unanswerable: float, the share of questions without an answer in
            their context (SQuAD v2.0 style).

    Returns:
        A list of `count` `QuestionAnswer`s with ids `"demo-<i>"`; an
        answerable one has one answer, found at `answer_starts[0]`.

    Example:

    ```python
    example = demo_qa(1)[0]
    start = example.answer_starts[0]
    assert example.context[start : start + len(example.answers[0])] == example.answers[0]
    ```
    """
    if not 1 <= facts[0] <= facts[1] <= len(_RELATIONS):
        raise ValueError(f"`facts` must be (fewest, most) with 1 <= fewest <= most <= "
                         f"{len(_RELATIONS)}, got {facts}.")
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(count):
        impossible = rng.random() < unanswerable
        most = min(facts[1], len(_RELATIONS) - 1) if impossible else facts[1]
        relations = rng.permutation(len(_RELATIONS))
        stated = relations[: rng.integers(min(facts[0], most), most + 1)]
        people = rng.choice(len(_PEOPLE), size=len(relations), replace=False)
        sentences, spans, offset = [], [], 0
        for relation, person in zip(stated, people):
            fact, question, slot = _RELATIONS[relation]
            name, value = _PEOPLE[person], str(rng.choice(_SLOTS[slot]))
            sentence = fact.format(person=name, **{slot: value})
            before_value = fact.split("{" + slot + "}")[0].format(person=name)
            spans.append((question.format(person=name), value, offset + len(before_value)))
            sentences.append(sentence)
            offset += len(sentence) + 1
        context = " ".join(sentences)
        if impossible:
            question = _RELATIONS[relations[-1]][1].format(person=_PEOPLE[people[-1]])
            examples.append(QuestionAnswer(f"demo-{index}", question, context))
            continue
        question, answer, start = spans[rng.integers(len(spans))]
        examples.append(QuestionAnswer(f"demo-{index}", question, context, (answer,), (start,)))
    return examples
