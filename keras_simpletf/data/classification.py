"""Readers of labelled sentences (text classification data) in TSV, CSV or JSON Lines files.

The files are streamed line by line; a malformed line raises a `DataError`
naming the file, the line and what was expected, when reading reaches it.
"""

import functools
import os

import tensorflow as tf

from keras_simpletf.data.errors import DataError
from keras_simpletf.data.tables import iter_rows


def iter_classification(
    path,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    file_format=None,
    header=None,
    label_separator=None,
    encoding_errors="strict",
):
    """Streams `(text, label)` or `(text, text_pair, label)` records from a file.

    TSV fields are not quoted (a `"` is text); CSV fields may be quoted as in
    RFC 4180, so a quoted field can hold commas and newlines, and a record's
    line number is the line it starts on. Blank lines are skipped.

    Which TSV/CSV row is the header:
    - `header=True`: the first row is a header; `header=False`: it is data,
      and columns must be indices.
    - `header=None` (default): there is a header row exactly when a column is
      chosen by name. The header must then contain every named column.
      With indices only, every row is data: pass `header=True` to skip a header.
      (A guess such as `csv.Sniffer().has_header` is not used: on typical
      data, e.g. labels of unequal lengths, it both misses headers and drops
      first records, silently.)

    Texts are returned as written, and may be empty. Labels are stripped of
    surrounding whitespace and must not be empty.

    Args:
        path: str or path-like; any file system `tf.io.gfile` reads (`gs://`).
        text_column: str name or int index (TSV/CSV; negative counts from the
            end) of the text; JSONL takes names (keys) only.
        label_column: str name or int index of the label.
        text_pair_column: str name or int index of a second text (for
            sentence-pair tasks), or None.
        file_format: `"tsv"`, `"csv"` or `"jsonl"`; None infers it from the
            extension: `.tsv`/`.txt`, `.csv`, `.jsonl`/`.ndjson`.
        header: True, False or None (see above); TSV/CSV only.
        label_separator: None for one label per record; a str (e.g. `","`)
            for multi-label data: the label field is split on it and empty
            parts dropped. A JSONL label may then also be a list of strings.
        encoding_errors: `"strict"`: bytes that are not UTF-8 raise a
            `DataError` naming the line and byte offset; `"replace"`: they
            are read as U+FFFD (the Unicode replacement character).

    Returns:
        A generator of tuples of str; with `label_separator` the label is a
        non-empty list of str. A JSON number label is converted to str.

    Raises:
        ValueError: at once, for arguments that cannot work together.
        DataError: while iterating, for the first malformed line.

    Example:
    ```python
    with open("train.tsv", "w") as file:
        file.write("text\\tlabel\\na fine film\\tpositive\\n")
    list(iter_classification("train.tsv"))   # [('a fine film', 'positive')]
    ```
    """
    path = os.fspath(path)
    columns = [text_column] + ([] if text_pair_column is None else [text_pair_column])
    columns.append(label_column)
    rows = iter_rows(path, columns, file_format, header, encoding_errors)
    if label_separator == "":
        raise ValueError("`label_separator` must be None or a non-empty string, got ''.")
    return (
        _record(path, line_number, columns, values, label_separator)
        for line_number, values in rows
    )


def read_classification(
    path,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    file_format=None,
    header=None,
    label_separator=None,
    encoding_errors="strict",
):
    """`iter_classification` as a streaming `tf.data.Dataset` of dicts.

    A malformed line fails the iteration that reaches it with a TensorFlow
    error (`tf.errors.InvalidArgumentError`) whose message holds the
    `path:line_number: ...` text of the `DataError`; the records before it
    are produced normally.

    Args:
        path, text_column, label_column, text_pair_column, file_format,
        header, label_separator, encoding_errors: as in `iter_classification`.

    Returns:
        A `tf.data.Dataset` of `{"text": tf.string scalar, "label": tf.string}`
        (plus `"text_pair"` when `text_pair_column` is given); `"label"` is a
        scalar, or a vector of shape `(None,)` with `label_separator`.

    Example:
    ```python
    dataset = read_classification("train.csv", label_separator=",")
    dataset = dataset.shuffle(10_000).batch(32)
    ```
    """
    records = functools.partial(
        iter_classification, path, text_column, label_column, text_pair_column,
        file_format, header, label_separator, encoding_errors,
    )
    records()  # Checks the arguments now rather than at the first element.
    text = tf.TensorSpec((), tf.string)
    signature = {"text": text} | ({} if text_pair_column is None else {"text_pair": text})
    signature["label"] = tf.TensorSpec(() if label_separator is None else (None,), tf.string)
    return tf.data.Dataset.from_generator(
        lambda: (dict(zip(signature, record)) for record in records()),
        output_signature=signature,
    )


def _record(path, line_number, columns, values, label_separator):
    *text_columns, label_column = columns
    *texts, label = values
    for column, text in zip(text_columns, texts):
        if not isinstance(text, str):
            raise DataError(
                path, line_number, f"text {column!r} is {text!r}; expected a string"
            )
    return (*texts, _label(path, line_number, label_column, label, label_separator))


def _label(path, line_number, column, label, label_separator):
    """The stripped label, or with `label_separator` the non-empty list of labels."""
    if label_separator is not None and isinstance(label, list) and all(
            isinstance(part, str) for part in label):
        parts = label
    elif isinstance(label, (str, int, float)) and not isinstance(label, bool):
        parts = [str(label)] if label_separator is None else str(label).split(label_separator)
    else:
        raise DataError(
            path, line_number,
            f"label {column!r} is {label!r}; expected a string, a number or, with "
            "`label_separator`, a list of strings",
        )
    labels = [part.strip() for part in parts if part.strip()]
    if not labels:
        raise DataError(
            path, line_number, f"label {column!r} is empty; expected a class name"
        )
    return labels if label_separator is not None else labels[0]
