"""Rows of TSV/CSV/JSONL files, columns chosen by name or index, errors naming file and line.

The format-level parsing that the classification, interaction and item readers
share, so that every kind of table file parses and fails the same way: the
file is streamed line by line, and a malformed line raises a `DataError`
naming the file, the line and what was expected, when reading reaches it.
"""

import csv
import itertools
import json
import os

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


def iter_rows(path, columns, file_format=None, header=None, encoding_errors="strict"):
    """Streams `(line_number, [value of each column])` from a TSV, CSV or JSONL file.

    TSV fields are not quoted (a `"` is text); CSV fields may be quoted as in
    RFC 4180, and a record's line number is the line it starts on. Every
    TSV/CSV row must have as many fields as the first one. Blank lines are
    skipped. A JSONL line is one JSON object, and its values are returned as
    decoded (str, number, list, None, ...); TSV/CSV values are str.

    With `header=None` a TSV/CSV file has a header row exactly when a column
    is chosen by name; the header must then contain every named column.

    Args:
        path: str or path-like; any file system `tf.io.gfile` reads (`gs://`).
        columns: list of str names or int indices (TSV/CSV; negative counts
            from the end) of the columns to return, in that order; JSONL
            takes names (keys) only.
        file_format: one of `FILE_FORMATS`; None infers it from the
            extension: `.tsv`/`.txt`, `.csv`, `.jsonl`/`.ndjson`.
        header: True (the first TSV/CSV row is a header), False (it is data,
            and columns must be indices) or None (see above); TSV/CSV only.
        encoding_errors: `"strict"`: bytes that are not UTF-8 raise a
            `DataError` naming the line and byte offset; `"replace"`: they
            are read as U+FFFD (the Unicode replacement character).

    Returns:
        A generator of `(line_number, values)`: the 1-based line of each
        record, and the list of its value of each of `columns`.

    Raises:
        ValueError: at once, for arguments that cannot work together.
        DataError: while iterating, for the first malformed line.

    Example:
    ```python
    with open("clicks.csv", "w") as file:
        file.write("user,item,when\\nu1,i1,7\\n\\nu2,i2,9\\n")
    list(iter_rows("clicks.csv", ["item", 0]))   # [(2, ['i1', 'u1']), (4, ['i2', 'u2'])]
    ```
    """
    path = os.fspath(path)
    file_format = _file_format(path, file_format)
    _check_arguments(file_format, columns, header, encoding_errors)
    has_header = any(isinstance(column, str) for column in columns) if header is None else header
    lines = read_lines(path, encoding_errors)
    if file_format == "jsonl":
        return _jsonl_rows(path, lines, columns)
    return _delimited_rows(path, lines, columns, file_format, has_header)


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


def _check_arguments(file_format, columns, header, encoding_errors):
    for column in columns:
        if isinstance(column, bool) or not isinstance(column, (str, int)):
            raise ValueError(
                f"Columns are chosen by name (str) or index (int), got {column!r}."
            )
    check_choice("header", header, (None, True, False))
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    if file_format == "jsonl" and (header is not None or not all(
            isinstance(column, str) for column in columns)):
        raise ValueError(
            f"JSONL records are objects: columns must be key names and `header` "
            f"None, got columns {columns} and header={header!r}."
        )
    if header is False and any(isinstance(column, str) for column in columns):
        raise ValueError(
            f"Columns {columns} are chosen by name, which needs a header row, but "
            "header=False; pass header=True or None, or choose columns by index."
        )


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
