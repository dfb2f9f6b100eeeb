"""Extractive question answering data: SQuAD v1.1/v2.0 JSON and JSON Lines readers.

A question is a `QuestionAnswer`: its id, question, context and gold answers
(each a text and its character offset in the context). SQuAD v2.0's
unanswerable questions have no answers.

Two formats are read:

- the official SQuAD JSON (`.json`): `{"data": [{"title", "paragraphs":
  [{"context", "qas": [{"id", "question", "answers": [{"text",
  "answer_start"}], "is_impossible"}]}]}]}`; the file is one JSON document,
  so it is parsed whole and its questions are then yielded one by one.
  Errors name the file and the record's place, e.g.
  `dev.json:data[3].paragraphs[0].qas[2] (id '5733be28'): ...`.
- JSON Lines (`.jsonl`), streamed a line at a time: one object per line with
  `"question"`, `"context"`, `"answers"` and an optional `"id"`. `"answers"` is
  a list of `{"text", "answer_start"}` objects (SQuAD's), a dict of lists
  `{"text": [...], "answer_start": [...]}` (Hugging Face datasets'), or a list
  of answer strings, each found at its first occurrence in the context.
  Errors name the file and line (`train.jsonl:12: ...`).

Every answer is checked: `context[answer_start:answer_start + len(text)]` must
be the answer text, the check the official data passes for every answer.
"""

import dataclasses
import json
import os

import tensorflow as tf

from keras_simpletf.data.errors import DataError

QA_FORMATS = ("squad", "jsonl")


@dataclasses.dataclass(frozen=True)
class QuestionAnswer:
    """One question about one context, and its gold answers.

    Args:
        id: str, the question's id (SQuAD's, or `"<file>:<line>"` for JSONL
            lines without one).
        question: str.
        context: str, the passage the answer is a span of.
        answers: tuple of str, the gold answer texts (several annotators may
            give several; none for an unanswerable question).
        answer_starts: tuple of int, each answer's character offset in `context`.

    Example:

    ```python
    example = QuestionAnswer("q1", "Who?", "Ada wrote it.", ("Ada",), (0,))
    assert not example.is_impossible
    ```
    """

    id: str
    question: str
    context: str
    answers: tuple = ()
    answer_starts: tuple = ()

    @property
    def is_impossible(self):
        """True when the question has no answer in its context (SQuAD v2.0)."""
        return not self.answers


def labelled_columns(examples):
    """`(questions, contexts, answer_starts, answers)` lists: what `QuestionAnsweringPreprocessor` labels.

    Each example is labelled with its first gold answer; an unanswerable one
    with start 0 and answer `""`, which its windows learn as "no answer".

    Example:

    ```python
    columns = labelled_columns([QuestionAnswer("q1", "Who?", "Ada wrote it.", ("Ada",), (0,))])
    assert columns == (["Who?"], ["Ada wrote it."], [0], ["Ada"])
    ```
    """
    return (
        [example.question for example in examples],
        [example.context for example in examples],
        [example.answer_starts[0] if example.answers else 0 for example in examples],
        [example.answers[0] if example.answers else "" for example in examples],
    )


def iter_squad(path, file_format=None):
    """Yields the `QuestionAnswer`s of a SQuAD JSON or JSON Lines file, in file order.

    Args:
        path: str or path-like, any path `tf.io.gfile` reads.
        file_format: `"squad"` (the official JSON), `"jsonl"`, or `None` to
            go by the extension (`.jsonl` is JSON Lines, anything else SQuAD).

    Yields:
        `QuestionAnswer`s.

    Raises:
        DataError: a malformed record; the message starts with the path and
            the record's place (JSONL: its line number).
        ValueError: `file_format` is none of `QA_FORMATS`.

    Example:

    ```python
    with open("qa.jsonl", "w") as file:
        file.write('{"question": "Who?", "context": "Ada wrote it.", "answers": ["Ada"]}\\n')
    [example] = iter_squad("qa.jsonl")
    assert example.answers == ("Ada",) and example.answer_starts == (0,)
    ```
    """
    path = os.fspath(path)
    if file_format is None:
        file_format = "jsonl" if path.endswith(".jsonl") else "squad"
    if file_format not in QA_FORMATS:
        raise ValueError(f"`file_format` must be one of {QA_FORMATS}, got {file_format!r}.")
    if file_format == "jsonl":
        return _iter_jsonl(path)
    return _iter_official(path)


def read_squad(path, file_format=None):
    """All `QuestionAnswer`s of a file, as a list (see `iter_squad`)."""
    return list(iter_squad(path, file_format))


def _iter_official(path):
    with tf.io.gfile.GFile(path, "rb") as file:
        raw = file.read()
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise DataError(path, "byte " + str(error.start), "not UTF-8 text.") from None
    except json.JSONDecodeError as error:
        raise DataError(path, error.lineno, f"not JSON: {error.msg}.") from None
    articles = _field(path, "document", document, "data", list, container=dict)
    for a, article in enumerate(articles):
        place = f"data[{a}]"
        paragraphs = _field(path, place, article, "paragraphs", list, container=dict)
        for p, paragraph in enumerate(paragraphs):
            place = f"data[{a}].paragraphs[{p}]"
            context = _field(path, place, paragraph, "context", str, container=dict)
            for q, qa in enumerate(_field(path, place, paragraph, "qas", list)):
                place = f"data[{a}].paragraphs[{p}].qas[{q}]"
                _field(path, place, qa, "question", str, container=dict)
                record = f"{place} (id {qa.get('id')!r})"
                answers = _field(path, record, qa, "answers", list)
                if qa.get("is_impossible"):
                    answers = []
                yield _question_answer(
                    path, record, str(qa.get("id", place)), qa["question"], context,
                    _answer_pairs(path, record, answers, context),
                )


def _iter_jsonl(path):
    with tf.io.gfile.GFile(path, "rb") as lines:
        for line_number, line in enumerate(lines, start=1):
            try:
                # A byte-order mark may open the file, as the other readers allow.
                line = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(path, line_number, f"byte {error.start} is not UTF-8.") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(path, line_number, f"not a JSON object: {error.msg}.") from None
            question = _field(path, line_number, record, "question", str, container=dict)
            context = _field(path, line_number, record, "context", str)
            answers = _field(path, line_number, record, "answers", (list, dict))
            if isinstance(answers, dict):
                texts = _field(path, line_number, answers, "text", list, owner="answers")
                starts = _field(path, line_number, answers, "answer_start", list, owner="answers")
                if len(texts) != len(starts):
                    raise DataError(
                        path, line_number,
                        f"answers has {len(texts)} texts but {len(starts)} answer_start values.",
                    )
                answers = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
            yield _question_answer(
                path, line_number, str(record.get("id", f"{path}:{line_number}")), question,
                context, _answer_pairs(path, line_number, answers, context),
            )


def _field(path, place, record, key, kind, container=None, owner=None):
    """`record[key]`, checked to be of `kind`; errors name the place and the key."""
    if container is not None and not isinstance(record, container):
        raise DataError(path, place, f"expected a JSON object, got {type(record).__name__}.")
    name = key if owner is None else f"{owner}.{key}"
    if key not in record:
        raise DataError(path, place, f"missing {name!r}.")
    value = record[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds):
        expected = " or ".join(_JSON_TYPES[k] for k in kinds)
        raise DataError(path, place, f"{name!r} must be {expected}, got {value!r:.60}.")
    return value


_JSON_TYPES = {str: "a string", list: "a list", dict: "an object", int: "an integer"}


def _answer_pairs(path, place, answers, context):
    """`(text, start)` of each answer: objects with a start, or strings found in `context`."""
    pairs = []
    for index, answer in enumerate(answers):
        if isinstance(answer, str):
            start = context.find(answer)
            if not answer or start < 0:
                raise DataError(
                    path, place, f"answers[{index}] {answer!r:.60} does not occur in the context."
                )
            pairs.append((answer, start))
            continue
        owner = f"answers[{index}]"
        text = _field(path, place, answer, "text", str, container=dict, owner=owner)
        start = _field(path, place, answer, "answer_start", int, owner=owner)
        pairs.append((text, start))
    return pairs


def _question_answer(path, place, question_id, question, context, pairs):
    for index, (text, start) in enumerate(pairs):
        found = context[start : start + len(text)] if start >= 0 else None
        if not text or found != text:
            raise DataError(
                path, place,
                f"answers[{index}] {text!r:.60} is not at answer_start={start} of the context "
                f"(which has {found!r:.60} there).",
            )
    return QuestionAnswer(
        id=question_id,
        question=question,
        context=context,
        answers=tuple(text for text, _ in pairs),
        answer_starts=tuple(start for _, start in pairs),
    )
