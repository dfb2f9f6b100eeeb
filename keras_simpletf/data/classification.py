"""Readers of labelled sentences (text classification data) in TSV, CSV or JSON Lines files.

The files are streamed line by line; a malformed line raises a `DataError`
naming the file, the line and what was expected, when reading reaches it.
"""

import csv
import functools
import itertools
import json
import os

import tensorflow as tf

from keras_simpletf.data.errors import ENCODING_ERRORS, DataError, read_lines
from keras_simpletf.layers.validation import check_choice

FILE_FORMATS = ("tsv", "csv", "jsonl")

_FORMAT_OF_EXTENSION = {
    ".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
# A TSV field is never quoted (it cannot hold a tab or a newline), so a quote in
# a sentence is just text; CSV follows RFC 4180 quoting, and a bad quote is an error.
_DIALECTS = {
    "tsv": {"delimiter": "\t", "quoting": csv.QUOTE_NONE},
    "csv": {"delimiter": ",", "strict": True},
}
_FIELDS = {"tsv": "tab-separated fields", "csv": "comma-separated fields"}


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
    file_format = _file_format(path, file_format)
    columns = _columns(text_column, text_pair_column, label_column)
    _check_arguments(file_format, columns, header, label_separator, encoding_errors)
    has_header = any(isinstance(column, str) for column in columns) if header is None else header
    return _records(path, file_format, columns, has_header, label_separator, encoding_errors)


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


def _file_format(path, file_format):
    if file_format is not None:
        return check_choice("file_format", file_format, FILE_FORMATS)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMAT_OF_EXTENSION:
        raise ValueError(
            f"Cannot infer `file_format` from the extension {extension!r} of {path!r} "
            f"(known: {sorted(_FORMAT_OF_EXTENSION)}); pass `file_format`, one of "
            f"{list(FILE_FORMATS)}."
        )
    return _FORMAT_OF_EXTENSION[extension]


def _columns(text_column, text_pair_column, label_column):
    columns = [text_column] + ([] if text_pair_column is None else [text_pair_column])
    columns.append(label_column)
    for column in columns:
        if isinstance(column, bool) or not isinstance(column, (str, int)):
            raise ValueError(
                f"Columns are chosen by name (str) or index (int), got {column!r}."
            )
    return columns


def _check_arguments(file_format, columns, header, label_separator, encoding_errors):
    check_choice("header", header, (None, True, False))
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    if label_separator == "":
        raise ValueError("`label_separator` must be None or a non-empty string, got ''.")
    named = any(isinstance(column, str) for column in columns)
    if file_format == "jsonl" and (header is not None or not all(
            isinstance(column, str) for column in columns)):
        raise ValueError(
            f"JSONL records are objects: columns must be key names and `header` "
            f"None, got columns {columns} and header={header!r}."
        )
    if header is False and named:
        raise ValueError(
            f"Columns {columns} are chosen by name, which needs a header row, but "
            "header=False; pass header=True or None, or choose columns by index."
        )


def _records(path, file_format, columns, has_header, label_separator, encoding_errors):
    lines = read_lines(path, encoding_errors)
    if file_format == "jsonl":
        rows = _jsonl_rows(path, lines, columns)
    else:
        rows = _delimited_rows(path, lines, columns, file_format, has_header)
    for line_number, values in rows:
        yield _record(path, line_number, columns, values, label_separator)


def _delimited_rows(path, lines, columns, file_format, has_header):
    """`(line_number, [value of each column])` of each data row of a TSV/CSV file."""
    rows = _numbered_rows(path, csv.reader(lines, **_DIALECTS[file_format]), file_format)
    first_line_number, first_row = next(rows, (None, None))
    if first_row is None:
        return
    positions = _column_positions(path, first_line_number, first_row, columns, has_header)
    if not has_header:
        rows = itertools.chain([(first_line_number, first_row)], rows)
    for line_number, row in rows:
        if len(row) != len(first_row):
            raise DataError(
                path, line_number,
                f"expected {len(first_row)} {_FIELDS[file_format]}, as on line "
                f"{first_line_number}, got {len(row)}",
            )
        yield line_number, [row[position] for position in positions]


def _numbered_rows(path, reader, file_format):
    """`(line_number, fields)` of each non-blank record, numbered by its first line."""
    first_line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(
                path, first_line,
                f"malformed {file_format.upper()} record ({error}); expected fields "
                'quoted as in RFC 4180, with a quote inside a quoted field doubled ("")',
            ) from None
        if len(row) > 1 or (row and row[0].strip()):
            yield first_line, row
        first_line = reader.line_num + 1


def _column_positions(path, line_number, first_row, columns, has_header):
    """The index in each row of each column; names are looked up in the header `first_row`."""
    if has_header:
        missing = [c for c in columns if isinstance(c, str) and c not in first_row]
        if missing:
            raise DataError(
                path, line_number,
                f"the header has no column {missing}; expected a header row naming "
                f"the columns, got the names {first_row}",
            )
    for column in columns:
        if isinstance(column, int) and not -len(first_row) <= column < len(first_row):
            raise DataError(
                path, line_number,
                f"column index {column} is out of range; the row has {len(first_row)} fields",
            )
    return [first_row.index(c) if isinstance(c, str) else c for c in columns]


def _jsonl_rows(path, lines, columns):
    """`(line_number, [value of each column])` of each JSON object of a JSONL file."""
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _json_object(path, line_number, line)
        missing = [column for column in columns if column not in record]
        if missing:
            raise DataError(
                path, line_number,
                f"the object has no key {missing}; expected the keys {columns}, "
                f"got {sorted(record)}",
            )
        yield line_number, [record[column] for column in columns]


def _json_object(path, line_number, line):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(
            path, line_number,
            f"invalid JSON ({error.msg} at column {error.colno}); expected one JSON "
            "object per line",
        ) from None
    if not isinstance(record, dict):
        raise DataError(
            path, line_number,
            f"expected a JSON object {{...}} per line, got {line.strip()[:60]}",
        )
    return record


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
