"""Entity-level precision, recall and F1, the way seqeval scores them by default.

Tags are IOB2 strings ("O", "B-PER", "I-PER", ...). Entities are chunked by
seqeval's default, conlleval-compatible rules, not its strict mode: an "I-X"
after "O" or after another type starts an entity, and a change of type ends
one. An entity counts as found when the prediction has one of the same type,
first and last position. The report's numbers and its printed table are those
of `seqeval.metrics.classification_report(y_true, y_pred, digits=digits)`.
"""

import numpy as np

_HEADERS = ("precision", "recall", "f1-score", "support")


def _prefix_and_type(tag):
    """seqeval's reading of a tag: its first character and what follows the first "-"."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def entity_type(tag):
    """The entity type a tag names: "PER" for "B-PER", "_" for "O"."""
    return _prefix_and_type(tag)[1]


def is_chunk_end(previous_tag, tag):
    """Whether an entity ends at `previous_tag`, given the tag that follows it.

    seqeval's `end_of_chunk` rules, which also cover IOBES tags.
    """
    previous_prefix, previous_type = _prefix_and_type(previous_tag)
    prefix, type_ = _prefix_and_type(tag)
    if previous_prefix in ("E", "S"):
        return True
    if previous_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return previous_prefix not in ("O", ".") and previous_type != type_


def is_chunk_start(previous_tag, tag):
    """Whether an entity starts at `tag`, given the tag before it.

    seqeval's `start_of_chunk` rules, which also cover IOBES tags.
    """
    previous_prefix, previous_type = _prefix_and_type(previous_tag)
    prefix, type_ = _prefix_and_type(tag)
    if prefix in ("B", "S"):
        return True
    if previous_prefix in ("E", "S", "O") and prefix in ("E", "I"):
        return True
    return prefix not in ("O", ".") and previous_type != type_


def _is_flat(tags):
    return all(isinstance(tag, str) for tag in tags)


def extract_entities(tags):
    """The entities in a tag sequence, as seqeval's `get_entities` finds them.

    Args:
        tags: a sequence of tag strings, or a sequence of sentences (sequences
            of tag strings). Sentences are joined with one "O" after each, so
            no entity spans two sentences and positions count from the start
            of the first sentence, one extra per sentence boundary, exactly as
            in seqeval.

    Returns:
        A list of `(type, start, end)` tuples in order of their end, with
        `start` and `end` the positions of the entity's first and last tag.

    Example:

    ```python
    extract_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    # [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)]
    ```
    """
    if not _is_flat(tags):
        tags = [tag for sentence in tags for tag in [*sentence, "O"]]
    entities = []
    # Before the first tag seqeval sees an "O", and an entity starts at 0
    # unless a later start says otherwise.
    previous_tag, begin = "O", 0
    for position, tag in enumerate([*tags, "O"]):
        if is_chunk_end(previous_tag, tag):
            entities.append((entity_type(previous_tag), begin, position - 1))
        if is_chunk_start(previous_tag, tag):
            begin = position
        previous_tag = tag
    return entities


def _check_same_shape(y_true, y_pred):
    if len(y_true) != len(y_pred) or _is_flat(y_true) != _is_flat(y_pred):
        raise ValueError(
            "`y_true` and `y_pred` must have the same number of sentences (or "
            f"tags); got {len(y_true)} and {len(y_pred)}."
        )
    if not _is_flat(y_true):
        for index, (true_tags, predicted_tags) in enumerate(zip(y_true, y_pred)):
            if len(true_tags) != len(predicted_tags):
                raise ValueError(
                    f"Sentence {index} has {len(true_tags)} true tags but "
                    f"{len(predicted_tags)} predicted tags."
                )


def _divide(numerator, denominator):
    """`numerator / denominator`; a 0 denominator comes with a 0 numerator, and gives 0.

    That 0 is seqeval's default `zero_division`.
    """
    return numerator / np.where(denominator == 0, 1, denominator)


def _precision_recall_f1(true_positives, predicted, actual):
    precision = _divide(true_positives, predicted)
    recall = _divide(true_positives, actual)
    total = precision + recall
    f1 = 2.0 * precision * recall / np.where(total == 0.0, 1.0, total)
    return precision, recall, f1


class EntityReport:
    """Entity-level precision, recall, F1 and support per type, and their averages.

    Built by `entity_report`. Types come in sorted order; a type that only the
    predictions contain has support 0 and recall 0. Undefined ratios (nothing
    predicted, nothing true) are 0, as seqeval's default `zero_division`
    makes them. With no entity at all in either sequence the macro average is
    NaN, as in seqeval (whose printed table fails in that case; ours prints).

    Args:
        types: the entity types, sorted.
        true_positives: per type, the number of true entities predicted exactly.
        predicted: per type, the number of predicted entities.
        actual: per type, the number of true entities (the support).
        digits: number of decimals in the printed table.

    Example:

    ```python
    report = entity_report(
        [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]]
    )
    print(report)
    report.as_dict()["micro avg"]["f1-score"]  # 0.5
    ```
    """

    def __init__(self, types, true_positives, predicted, actual, digits=2):
        self.types = list(types)
        self.true_positives = np.asarray(true_positives, dtype=np.int64)
        self.predicted = np.asarray(predicted, dtype=np.int64)
        self.actual = np.asarray(actual, dtype=np.int64)
        self.digits = digits

    def _rows(self):
        """`(name, precision, recall, f1, support)` per type, then the three averages."""
        precision, recall, f1 = _precision_recall_f1(
            self.true_positives, self.predicted, self.actual
        )
        support = int(self.actual.sum())
        rows = [
            (name, float(p), float(r), float(f), int(s))
            for name, p, r, f, s in zip(self.types, precision, recall, f1, self.actual)
        ]
        micro = _precision_recall_f1(
            self.true_positives.sum(), self.predicted.sum(), self.actual.sum()
        )
        rows.append(("micro avg", *map(float, micro), support))
        macro = [np.mean(score) if self.types else np.nan for score in (precision, recall, f1)]
        rows.append(("macro avg", *map(float, macro), support))
        if support:
            weighted = [
                np.average(score, weights=self.actual) for score in (precision, recall, f1)
            ]
        else:
            weighted = [0.0, 0.0, 0.0]
        rows.append(("weighted avg", *map(float, weighted), support))
        return rows

    def as_dict(self):
        """The report as seqeval's `output_dict=True` gives it.

        Returns:
            `{name: {"precision", "recall", "f1-score", "support"}}` for each
            type, then "micro avg", "macro avg" and "weighted avg".
        """
        return {
            name: {"precision": p, "recall": r, "f1-score": f, "support": s}
            for name, p, r, f, s in self._rows()
        }

    def __str__(self):
        rows = self._rows()
        width = max([len(name) for name, *_ in rows] + [self.digits])
        lines = [
            f"{'':>{width}} " + "".join(f" {header:>9}" for header in _HEADERS),
            "",
        ]
        for index, (name, *scores, support) in enumerate(rows):
            if index == len(self.types):
                lines.append("")
            lines.append(
                f"{name:>{width}} "
                + "".join(f" {score:>9.{self.digits}f}" for score in scores)
                + f" {support:>9}"
            )
        return "\n".join(lines) + "\n"


def entity_report(y_true, y_pred, digits=2):
    """Scores predicted entities against true ones, type by type.

    Args:
        y_true: the true tags: a sequence of sentences, each a sequence of IOB2
            tag strings (or one flat sequence of tags).
        y_pred: the predicted tags, shaped like `y_true`.
        digits: number of decimals in the printed table.

    Returns:
        An `EntityReport`; `print` it for seqeval's table, or call `as_dict()`.

    Raises:
        ValueError: if `y_true` and `y_pred` differ in shape.
    """
    _check_same_shape(y_true, y_pred)
    true_entities = set(extract_entities(y_true))
    predicted_entities = set(extract_entities(y_pred))
    types = sorted({type_ for type_, _, _ in true_entities | predicted_entities})

    def count(entities):
        return [sum(type_ == name for type_, _, _ in entities) for name in types]

    return EntityReport(
        types,
        true_positives=count(true_entities & predicted_entities),
        predicted=count(predicted_entities),
        actual=count(true_entities),
        digits=digits,
    )
