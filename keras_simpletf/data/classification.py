"""Readers of labelled sentences (text classification data) in TSV, CSV or JSON Lines files.

One `tf.data` pipeline reads every format: the file is streamed a chunk of
lines at a time, TSV and CSV parsed with TensorFlow string ops and JSON Lines
with Python's `json` once per chunk; labels are cleaned in-graph. A malformed
line raises a `DataError` naming the file, the line and what was expected,
when reading reaches it.
"""

import functools
import os

import numpy as np
import tensorflow as tf

from keras_simpletf.data.errors import (
    DataError,
    iter_chunks,
    line_chunks,
    records_or_error,
    stop_at_first,
)
from keras_simpletf.data.tables import delimited_rows, jsonl_rows, stripped, table_format


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
    RFC 4180, so a quoted field can hold commas, quotes (written `""`) and
    newlines, while an unquoted field holds no quote; a record's line number
    is the line it starts on. Blank lines are skipped.

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

    This is the Python face of `read_classification`: the same pipeline, its
    records converted to str.

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
    chunks, keys = _classification_chunks(
        path, text_column, label_column, text_pair_column, file_format, header,
        label_separator, encoding_errors,
    )
    return _python_records(iter_chunks(chunks, path), keys, label_separator)


def _python_records(chunks, keys, label_separator):
    for chunk in chunks:
        texts = [[text.decode("utf-8") for text in chunk[key]] for key in keys[:-1]]
        if label_separator is None:
            labels = [label.decode("utf-8") for label in chunk["label"]]
        else:
            labels = [[part.decode("utf-8") for part in row] for row in chunk["label"]]
        yield from zip(*texts, labels)


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
    """Labelled sentences of a TSV, CSV or JSONL file as a streaming `tf.data.Dataset` of dicts.

    The file is read as `iter_classification` describes, by a `tf.data`
    pipeline: TSV and CSV are parsed with TensorFlow string ops, JSON Lines by
    Python's `json` once per chunk of lines (2 to 3.5 x 10^5 rows per CPU
    second, JSON Lines and CSV at the low end; see "Readers" in BENCHMARKS.md).
    With `label_separator` each row then passes through a map of its own, to
    hand out its labels as a tensor: 15 to 20 microseconds a row, which holds
    it to some 3 to 6 x 10^4 rows a second. A malformed line fails the
    iteration that reaches it with a `tf.errors.InvalidArgumentError` whose
    message holds the `path:line_number: ...` text of the `DataError`
    (`iter_classification` raises the `DataError` itself); the records
    before it are produced normally.

    Args:
        path, text_column, label_column, text_pair_column, file_format,
        header, label_separator, encoding_errors: as in `iter_classification`.

    Returns:
        A `tf.data.Dataset` of `{"text": tf.string scalar, "label": tf.string}`
        (plus `"text_pair"` when `text_pair_column` is given); `"label"` is a
        scalar, or a vector of shape `(None,)` with `label_separator`.

    Raises:
        ValueError: at once, for arguments that cannot work together.
        tf.errors.NotFoundError: at once, when the file does not exist.

    Example:
    ```python
    with open("train.csv", "w") as file:
        file.write('text,label\\n"A fine, warm film","good, warm"\\n')
    dataset = read_classification("train.csv", label_separator=",")
    dataset = dataset.shuffle(10_000).batch(32)
    ```
    """
    path = os.fspath(path)
    chunks, keys = _classification_chunks(
        path, text_column, label_column, text_pair_column, file_format, header,
        label_separator, encoding_errors,
    )
    records = records_or_error(chunks, path, keys)
    if label_separator is None:
        return records
    # Each label comes out of its batch as a ragged row; this makes it a tf.Tensor.
    return records.map(lambda record: record)


def _classification_chunks(
    path, text_column, label_column, text_pair_column, file_format, header,
    label_separator, encoding_errors,
):
    """The records as chunks, and their keys: `"text"`, maybe `"text_pair"`, `"label"`."""
    columns = [text_column] + ([] if text_pair_column is None else [text_pair_column])
    columns.append(label_column)
    file_format, has_header = table_format(path, columns, file_format, header, encoding_errors)
    if label_separator == "":
        raise ValueError("`label_separator` must be None or a non-empty string, got ''.")
    keys = ["text"] + ([] if text_pair_column is None else ["text_pair"]) + ["label"]
    if file_format == "jsonl":
        chunks = line_chunks(path, encoding_errors).map(
            lambda chunk: _jsonl_records(chunk, path, columns, keys, label_separator),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        chunks = delimited_rows(path, columns, file_format, has_header, encoding_errors).map(
            lambda chunk: _delimited_records(chunk, tuple(keys), label_separator),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return chunks.map(
        lambda chunk: _clean_labels(chunk, tuple(keys), label_column, label_separator),
        num_parallel_calls=tf.data.AUTOTUNE,
    ), keys


@tf.function(autograph=False)
def _delimited_records(chunk, keys, label_separator):
    chunk = dict(chunk)
    values = chunk.pop("values")
    for index, key in enumerate(keys):
        chunk[key] = values[:, index]
    if label_separator is not None:
        chunk["label"] = tf.strings.split(chunk["label"], label_separator)
    return chunk


def _jsonl_records(chunk, path, columns, keys, label_separator):
    """The records of a chunk of JSON lines, parsed by Python's `json`."""
    # Not converted by AutoGraph, which would make each Python call several times slower.
    parse = tf.autograph.experimental.do_not_convert(
        functools.partial(_parse_jsonl, path, columns, label_separator))
    outputs = tf.numpy_function(
        parse, [chunk["line_numbers"], chunk["lines"]],
        [tf.int64] + [tf.string] * len(keys) + [tf.int64, tf.int64, tf.string],
        stateful=False,
    )
    numbers, *texts, label_parts, label_lengths, error_line, problem = outputs
    records = {"line_numbers": tf.ensure_shape(numbers, [None]), "at_end": chunk["at_end"]}
    for key, text in zip(keys, texts):
        records[key] = tf.ensure_shape(text, [None])
    labels = tf.RaggedTensor.from_row_lengths(
        tf.ensure_shape(label_parts, [None]), tf.ensure_shape(label_lengths, [None]),
        validate=False)
    records["label"] = labels if label_separator is not None else labels.flat_values
    found = tf.ensure_shape(error_line, []) > 0
    records["error_line"] = tf.where(found, error_line, chunk["error_line"])
    records["problem"] = tf.where(found, tf.ensure_shape(problem, []), chunk["problem"])
    return records


def _parse_jsonl(path, columns, label_separator, line_numbers, lines):
    """NumPy columns of the records among `lines`, up to the first problem, and that problem."""
    numbers, texts, label_parts, part_counts = [], [[] for _ in columns[:-1]], [], []
    error_line, problem = 0, ""
    try:
        for line_number, values in jsonl_rows(path, line_numbers, lines, columns):
            *row_texts, label = _record(path, line_number, columns, values, label_separator)
            parts = [label] if label_separator is None else label
            encoded = _utf8(path, line_number, row_texts + parts)
            numbers.append(line_number)
            for column, text in zip(texts, encoded):
                column.append(text)
            label_parts += encoded[len(row_texts):]
            part_counts.append(len(parts))
    except DataError as error:
        error_line, problem = error.line_number, error.problem
    return (
        np.array(numbers, np.int64),
        *(np.array(column, object) for column in texts),
        np.array(label_parts, object),
        np.array(part_counts, np.int64),
        np.int64(error_line),
        np.bytes_(problem.encode("utf-8")),
    )


def _utf8(path, line_number, texts):
    try:
        return [text.encode("utf-8") for text in texts]
    except UnicodeEncodeError as error:
        raise DataError(
            path, line_number,
            f"the text {error.object!r} holds an unpaired surrogate; expected text that "
            "UTF-8 can encode",
        ) from None


def _record(path, line_number, columns, values, label_separator):
    """The texts and the label parts of a JSON object's values, checked for type."""
    *text_columns, label_column = columns
    *texts, label = values
    for column, text in zip(text_columns, texts):
        if not isinstance(text, str):
            raise DataError(
                path, line_number, f"text {column!r} is {text!r}; expected a string"
            )
    if label_separator is not None and isinstance(label, list) and all(
            isinstance(part, str) for part in label):
        return (*texts, label)
    if isinstance(label, (str, int, float)) and not isinstance(label, bool):
        label = str(label)
        return (*texts, label if label_separator is None else label.split(label_separator))
    raise DataError(
        path, line_number,
        f"label {label_column!r} is {label!r}; expected a string, a number or, with "
        "`label_separator`, a list of strings",
    )


@tf.function(autograph=False)
def _clean_labels(chunk, keys, label_column, label_separator):
    """Strips the labels and drops empty parts; an empty label is the chunk's problem."""
    labels = stripped(chunk["label"])
    if label_separator is None:
        empty = tf.equal(labels, "")
    else:
        kept = tf.not_equal(labels.flat_values, "")
        labels = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(labels.flat_values, kept), tf.boolean_mask(labels.value_rowids(), kept),
            labels.nrows(), validate=False)
        empty = tf.equal(labels.row_lengths(), 0)
    chunk = dict(chunk, label=labels)
    problem = tf.constant(f"label {label_column!r} is empty; expected a class name")
    return stop_at_first(
        chunk, ["line_numbers", *keys], empty, chunk["line_numbers"], lambda index: problem)
