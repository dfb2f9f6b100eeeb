"""Single-label classification report: accuracy, per-class P/R/F1, averages, confusion matrix.

The numbers are scikit-learn's `classification_report(..., output_dict=True,
zero_division=0)` and `confusion_matrix`, computed here with numpy alone.
"""

import numpy as np

_HEADERS = ("precision", "recall", "f1-score", "support")


def _divide(numerator, denominator):
    """`numerator / denominator`; a 0 denominator comes with a 0 numerator, and gives 0."""
    return numerator / np.where(denominator == 0, 1, denominator)


def _label_ids(values, labels, argument):
    """`values` (label ids or label names) as ids into `labels`."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"`{argument}` must be one-dimensional, got shape {values.shape}.")
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8")
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind in "iu":
        unknown = values[(values < 0) | (values >= len(labels))].tolist()
        ids = values
    elif values.dtype.kind in "UO":
        index = {label: position for position, label in enumerate(labels)}
        unknown = [str(value) for value in values if value not in index]
        ids = np.array([index.get(value, -1) for value in values])
    else:
        raise ValueError(
            f"`{argument}` must hold label ids (integers) or label names (strings), "
            f"got dtype {values.dtype}."
        )
    if unknown:
        raise ValueError(
            f"`{argument}` has labels that are not in `labels`: {sorted(set(unknown))}."
        )
    return ids.astype(np.int64)


class ClassificationReport:
    """Accuracy, per-class precision/recall/F1/support, averages and confusion matrix.

    Built by `classification_report` from a confusion matrix. Precision,
    recall or F1 whose denominator is 0 (a class never predicted, or absent
    from the truth) is 0.

    Args:
        labels: the label names, in the order of the matrix's rows.
        confusion_matrix: int `(num_labels, num_labels)` counts, rows are the
            true labels and columns the predicted ones.
        digits: number of decimals in the printed table.

    Example:

    ```python
    report = classification_report(
        ["cat", "dog", "dog", "bird"], ["cat", "dog", "cat", "bird"],
        labels=["bird", "cat", "dog"],
    )
    print(report)
    report.accuracy, report.macro_f1  # (0.75, 0.7777...)
    report.as_dict()["dog"]["recall"]  # 0.5
    ```
    """

    def __init__(self, labels, confusion_matrix, digits=2):
        self.labels = list(labels)
        self.confusion_matrix = np.asarray(confusion_matrix, dtype=np.int64)
        self.digits = digits
        correct = np.diag(self.confusion_matrix)
        self.support = self.confusion_matrix.sum(axis=1)
        predicted = self.confusion_matrix.sum(axis=0)
        self.precision = _divide(correct, predicted)
        self.recall = _divide(correct, self.support)
        self.f1 = _divide(2.0 * correct, self.support + predicted)
        self.accuracy = float(correct.sum() / self.support.sum())
        self.macro_f1 = float(np.mean(self.f1))

    def _rows(self):
        """`(name, precision, recall, f1, support)` per label, then the two averages."""
        scores = (self.precision, self.recall, self.f1)
        rows = [
            (str(label), float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(self.labels, *scores, self.support)
        ]
        total = int(self.support.sum())
        rows.append(("macro avg", *(float(np.mean(score)) for score in scores), total))
        weighted = (float(np.average(score, weights=self.support)) for score in scores)
        rows.append(("weighted avg", *weighted, total))
        return rows

    def as_dict(self):
        """The report as scikit-learn's `output_dict=True` gives it.

        Returns:
            `{label: {"precision", "recall", "f1-score", "support"}}` for each
            label, then `"accuracy": float`, "macro avg" and "weighted avg".
        """
        report = {}
        for name, precision, recall, f1, support in self._rows():
            if name == "macro avg":
                report["accuracy"] = self.accuracy
            report[name] = {
                "precision": precision, "recall": recall, "f1-score": f1, "support": support
            }
        return report

    def __str__(self):
        rows = self._rows()
        width = max(len(name) for name, *_ in rows)

        def line(name, scores, support):
            cells = "".join(
                " " * 10 if score is None else f" {score:>9.{self.digits}f}" for score in scores
            )
            return f"{name:>{width}} {cells} {support:>9}"

        label_rows, average_rows = rows[: len(self.labels)], rows[len(self.labels) :]
        total = average_rows[0][-1]
        lines = [f"{'':>{width}} " + "".join(f" {header:>9}" for header in _HEADERS), ""]
        lines += [line(name, scores, support) for name, *scores, support in label_rows]
        lines += ["", line("accuracy", (None, None, self.accuracy), total)]
        lines += [line(name, scores, support) for name, *scores, support in average_rows]

        names = [name for name, *_ in label_rows]
        name_width = max(len(name) for name in names)
        cell_width = max(len(name) for name in [*names, str(self.confusion_matrix.max())])
        lines += ["", "Confusion matrix (rows: true, columns: predicted):"]
        lines.append(" " * name_width + "".join(f"  {name:>{cell_width}}" for name in names))
        for name, counts in zip(names, self.confusion_matrix):
            cells = "".join(f"  {count:>{cell_width}}" for count in counts)
            lines.append(f"{name:>{name_width}}{cells}")
        return "\n".join(lines) + "\n"


def classification_report(y_true, y_pred, labels, digits=2):
    """Scores single-label predictions class by class.

    Args:
        y_true: 1-D true labels: ids into `labels`, or label names.
        y_pred: 1-D predicted labels, ids or names, as many as `y_true`.
        labels: the label vocabulary; its order is the order of the report's
            rows and of the confusion matrix.
        digits: number of decimals in the printed table.

    Returns:
        A `ClassificationReport`.

    Raises:
        ValueError: if a label is not in `labels`, the inputs are empty or of
            different lengths, or `labels` repeats a name.
    """
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"`labels` repeats names: {labels}.")
    true_ids = _label_ids(y_true, labels, "y_true")
    predicted_ids = _label_ids(y_pred, labels, "y_pred")
    if len(true_ids) != len(predicted_ids):
        raise ValueError(
            f"`y_true` has {len(true_ids)} labels but `y_pred` has {len(predicted_ids)}."
        )
    if not len(true_ids):
        raise ValueError("`y_true` and `y_pred` are empty; there is nothing to report.")
    confusion_matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion_matrix, (true_ids, predicted_ids), 1)
    return ClassificationReport(labels, confusion_matrix, digits=digits)
