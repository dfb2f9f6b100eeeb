"""SQuAD scoring exactly as the official scripts do: exact match and token F1.

`normalize_answer`, `exact_match` and `token_f1` follow the official
`evaluate-v1.1.py` line for line (lower-case, strip ASCII punctuation, remove
the articles a/an/the, collapse whitespace; F1 over the bag of normalised
whitespace tokens); a question scores the best over its gold answers.
`evaluate-v2.0.py` differs in three places, each kept under `version="2.0"`:
gold answers that normalise to nothing do not count, and an unanswerable
question's gold answer is `""` (an empty prediction is its right answer); F1
is 1 when both sides normalise to no tokens (0 in v1.1); and its
`HasAns_*`/`NoAns_*` split scores the questions with and without gold answers
apart.

No installed library scores SQuAD without a download (Hugging Face
`evaluate` fetches the official script at run time), so the official
functions are written out here.
"""

import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)
VERSIONS = ("1.1", "2.0")


def normalize_answer(text):
    """Lower-cases, strips punctuation and articles, collapses whitespace (official SQuAD).

    Example:

    ```python
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    ```
    """
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, gold):
    """1.0 if both normalise to the same string, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction, gold, version="1.1"):
    """F1 of the normalised tokens' multiset overlap (official SQuAD `version`, "1.1" or "2.0").

    The versions differ only where both sides normalise to no tokens: 0.0 in
    v1.1 (no token in common), 1.0 in v2.0 (no answer, rightly).

    Example:

    ```python
    token_f1("the Denver Broncos", "Broncos")   # 2/3: precision 1/2, recall 1
    ```
    """
    _check_version(version)
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if version == "2.0" and (not predicted or not expected):
        return float(predicted == expected)
    common = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions, gold_answers, version=None):
    """EM and F1 in percent over questions, each the max over its gold answers.

    Args:
        predictions: dict of question id -> predicted answer text (`""`: no
            answer), or a list in the order of `gold_answers`.
        gold_answers: dict of question id -> list of gold answer texts (empty
            for an unanswerable question), or a list of such lists.
        version: `"1.1"` or `"2.0"`, the official script to score as; `None`:
            "2.0" when a question has no gold answer (SQuAD v2.0 data), else
            "1.1".

    Returns:
        A dict with `exact_match`, `f1` and `total`; under v2.0, when both
        answerable and unanswerable questions occur, also `HasAns_exact`,
        `HasAns_f1`, `HasAns_total`, `NoAns_exact`, `NoAns_f1` and
        `NoAns_total`. A question without a prediction scores 0.

    Raises:
        ValueError: a version other than `VERSIONS`, a list of predictions
            of another length than `gold_answers`, or under v1.1 a question
            without gold answers.

    Example:

    ```python
    squad_scores({"q1": "Denver Broncos"}, {"q1": ["the Denver Broncos", "Broncos"]})
    # {'exact_match': 100.0, 'f1': 100.0, 'total': 1}
    ```
    """
    if not isinstance(gold_answers, dict):
        if len(predictions) != len(gold_answers):
            raise ValueError(
                f"Got {len(predictions)} predictions for {len(gold_answers)} questions."
            )
        gold_answers = dict(enumerate(gold_answers))
        predictions = dict(enumerate(predictions))
    if version is None:
        version = "2.0" if not all(gold_answers.values()) else "1.1"
    _check_version(version)
    groups = {"": [], "HasAns_": [], "NoAns_": []}
    for question_id, answers in gold_answers.items():
        group = groups["HasAns_" if answers else "NoAns_"]
        if version == "2.0":
            answers = [answer for answer in answers if normalize_answer(answer)] or [""]
        elif not answers:
            raise ValueError(
                f"Question {question_id!r} has no gold answer: SQuAD v1.1 scores answerable "
                'questions only (version="2.0" scores unanswerable ones).'
            )
        prediction = predictions.get(question_id)
        if prediction is None:
            scores = (0.0, 0.0)
        else:
            scores = (
                max(exact_match(prediction, answer) for answer in answers),
                max(token_f1(prediction, answer, version) for answer in answers),
            )
        groups[""].append(scores)
        group.append(scores)
    results = {}
    for prefix, scores in groups.items():
        if not scores or (prefix and len(scores) == len(groups[""])):
            continue
        results[f"{prefix}exact" if prefix else "exact_match"] = 100 * _mean(s[0] for s in scores)
        results[f"{prefix}f1"] = 100 * _mean(s[1] for s in scores)
        results[f"{prefix}total"] = len(scores)
    return results


def _check_version(version):
    if version not in VERSIONS:
        raise ValueError(f"`version` must be one of {VERSIONS}, got {version!r}.")


def _mean(values):
    values = list(values)
    return sum(values) / len(values)
