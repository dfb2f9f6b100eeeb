"""Rows of TSV/CSV/JSONL files, columns chosen by name or index, errors naming file and line.

The format-level parsing that the classification, interaction and item readers
share, so that every kind of table file parses and fails the same way. TSV and
CSV are parsed in-graph with TensorFlow string ops, a chunk of lines at a time
(`delimited_rows`, a `tf.data.Dataset` of chunks as described in
`keras_simpletf.data.errors`); JSON Lines are decoded by Python's `json`
(`jsonl_rows`), the only JSON parser at hand, over the same chunks of lines. A
malformed line is a `DataError` naming the file, the line and what was
expected, when reading reaches it.
"""

import json
import os

import tensorflow as tf

from keras_simpletf.data.errors import (
    ENCODING_ERRORS,
    DataError,
    iter_chunks,
    line_chunks,
    quoted_list,
    stop_at_first,
)
from keras_simpletf.layers.validation import check_choice

FILE_FORMATS = ("tsv", "csv", "jsonl")

_FORMAT_OF_EXTENSION = {
    ".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
_FIELDS = {"tsv": "tab-separated fields", "csv": "comma-separated fields"}

# The characters Python's `str.strip()` removes (`str.isspace()`).
_WHITESPACE = (
    "[\\t-\\r\\x1c-\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
    "\\x{202f}\\x{205f}\\x{3000}]"
)
_STRIP = f"^{_WHITESPACE}+|{_WHITESPACE}+$"

# CSV as RFC 4180 has it: a field is quoted, with a quote inside doubled, or
# holds no quote at all. A quoted field may span lines, so a record ends at the
# first line after which the quotes are balanced. CSV lines keep the "\r" of a
# CRLF line end, which is part of a quoted field that spans the line end.
_CSV_QUOTED_FIELD = '"(?:[^"]|"")*"'
_CSV_FIELD = f'{_CSV_QUOTED_FIELD}|[^,"]*'
_CSV_OPENING_LINE = f'(?:(?:{_CSV_FIELD}),)*"(?:[^"]|"")*'
_CSV_CLOSING_LINE = f'(?:[^"]|"")*"(?:,(?:{_CSV_FIELD}))*\\r?'
_CSV_QUOTE_NOT_CLOSING_A_FIELD = f'(?s)(?:(?:{_CSV_FIELD}),)*"(?:[^"]|"")*"[^,].*'
# What comes before the text of the quoted field a record leaves open.
_CSV_OPEN_FIELD_START = f'^(?:(?:{_CSV_FIELD}),)*"'
_EVEN_QUOTES = '[^"]*(?:"[^"]*"[^"]*)*'
# Python's `csv.field_size_limit()`, in characters of the field's value; a
# record left open with a field longer than this has a stray quote.
_FIELD_SIZE_LIMIT = 131072
# `json.loads` is `json.JSONDecoder().decode`, which skips this space and calls
# the scanner; calling the scanner directly saves a third of a line's time.
_scan_json = json.JSONDecoder().scan_once
_JSON_SPACE = json.decoder.WHITESPACE.match
_CSV_QUOTING = (
    'expected fields quoted as in RFC 4180, with a quote inside a quoted field doubled ("")'
)


def iter_rows(path, columns, file_format=None, header=None, encoding_errors="strict"):
    """Streams `(line_number, [value of each column])` from a TSV, CSV or JSONL file.

    TSV fields are not quoted (a `"` is text); CSV fields may be quoted as in
    RFC 4180 (a quoted field may hold commas, quotes written `""` and line
    breaks, kept as written, `"\\r\\n"` too; an unquoted field holds no
    quote), and a record's line number is the line it starts on. Every
    TSV/CSV row must have as many fields as the first one. Blank lines are
    skipped: empty lines, and TSV lines of whitespace; a CSV line of
    whitespace is a field, and a CSV field longer than 131072 characters
    (`csv.field_size_limit()`) is an error, as in Python's `csv` module. A
    JSONL line is one JSON object, and its values are returned as decoded
    (str, number, list, None, ...); TSV/CSV values are str.

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
    file_format, has_header = table_format(path, columns, file_format, header, encoding_errors)
    if file_format == "jsonl":
        chunks = iter_chunks(line_chunks(path, encoding_errors), path)
        return (
            row for chunk in chunks
            for row in jsonl_rows(path, chunk["line_numbers"], chunk["lines"], columns)
        )
    chunks = delimited_rows(path, columns, file_format, has_header, encoding_errors)
    return (
        (int(line_number), [value.decode("utf-8") for value in values])
        for chunk in iter_chunks(chunks, path)
        for line_number, values in zip(chunk["line_numbers"], chunk["values"])
    )


def table_format(path, columns, file_format=None, header=None, encoding_errors="strict"):
    """Checks the arguments of a table reader; returns `(file_format, has_header)`.

    Args:
        path, columns, file_format, header, encoding_errors: as in `iter_rows`.

    Returns:
        The file format (one of `FILE_FORMATS`) and whether a TSV/CSV file's
        first row is a header (False for JSONL).

    Raises:
        ValueError: for arguments that cannot work together.

    Example:
    ```python
    table_format("train.tsv", ["text", "label"])   # ('tsv', True)
    ```
    """
    file_format = _file_format(os.fspath(path), file_format)
    _check_arguments(file_format, columns, header, encoding_errors)
    if file_format == "jsonl":
        return file_format, False
    return file_format, any(isinstance(c, str) for c in columns) if header is None else header


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


def stripped(strings):
    """Each string of a tf.string tensor (dense or ragged) stripped as Python's `str.strip()`.

    Args:
        strings: tf.string tensor or RaggedTensor of UTF-8 text.

    Returns:
        A tensor of the same shape, without leading and trailing whitespace.

    Example:
    ```python
    stripped(tf.constant([" a\\u00a0", "b"])).numpy().tolist()   # [b'a', b'b']
    ```
    """
    return tf.strings.regex_replace(strings, _STRIP, "")


def delimited_rows(path, columns, file_format, has_header, encoding_errors="strict"):
    """The data rows of a TSV or CSV file as a `tf.data.Dataset` of chunks, parsed in-graph.

    Args:
        path: str, the file.
        columns: as in `iter_rows`.
        file_format: `"tsv"` or `"csv"`.
        has_header: bool, whether the first row is a header.
        encoding_errors: as in `iter_rows`.

    Returns:
        A `tf.data.Dataset` of chunks (see `keras_simpletf.data.errors`) whose
        records are `"line_numbers"` (int64 `(n,)`) and `"values"`
        (tf.string `(n, len(columns))`).

    Example:
    ```python
    with open("clicks.csv", "w") as file:
        file.write("user,item\\nu1,i1\\n")
    chunk = next(delimited_rows("clicks.csv", ["item"], "csv", True).as_numpy_iterator())
    chunk["values"].tolist()   # [[b'i1']]
    ```
    """
    chunks = line_chunks(path, encoding_errors).map(
        lambda chunk: _record_lines(chunk, file_format), num_parallel_calls=tf.data.AUTOTUNE)
    if file_format == "csv":
        chunks = chunks.scan((tf.constant(""), tf.constant(0, tf.int64)), _csv_records)
    chunks = chunks.map(
        lambda chunk: _fields(chunk, file_format), num_parallel_calls=tf.data.AUTOTUNE)
    first_row = (
        tf.constant(-1, tf.int64), tf.constant(0, tf.int64), tf.zeros([len(columns)], tf.int64))
    columns = tuple(columns)
    return chunks.scan(
        first_row, lambda state, chunk: _rows(state, chunk, columns, has_header, file_format))


def _without_crlf(lines):
    """`lines` without the "\\r" of a CRLF line end."""
    length = tf.strings.length(lines)
    crlf = tf.strings.substr(lines, tf.maximum(length - 1, 0), tf.minimum(length, 1)) == "\r"
    return tf.cond(
        tf.reduce_any(crlf),
        lambda: tf.strings.substr(lines, tf.zeros_like(length), length - tf.cast(crlf, tf.int32)),
        lambda: lines,
    )


@tf.function(autograph=False)
def _record_lines(chunk, file_format):
    """Makes each TSV line a record; marks the CSV lines that leave a quoted field open.

    A TSV line, without the "\\r" of a CRLF line end, is a record
    (`"records"`); a CSV line goes on to `_csv_records` as it is, with
    `"odd_quotes"`.
    """
    lines = chunk["lines"]
    chunk = {key: value for key, value in chunk.items() if key != "lines"}
    if file_format == "tsv":
        return dict(chunk, records=_without_crlf(lines))
    odd = ~tf.strings.regex_full_match(lines, _EVEN_QUOTES)
    # An odd line that can neither open nor close a quoted field has a quote
    # inside an unquoted field; it is left to be a malformed record of its own.
    suspect = tf.where(odd)[:, 0]
    suspect_lines = tf.gather(lines, suspect)
    stray = ~tf.strings.regex_full_match(suspect_lines, _CSV_OPENING_LINE) & (
        ~tf.strings.regex_full_match(suspect_lines, _CSV_CLOSING_LINE))
    odd = tf.tensor_scatter_nd_update(odd, suspect[:, None], ~stray)
    return dict(chunk, lines=lines, odd_quotes=odd)


@tf.function(autograph=False)
def _csv_records(state, chunk):
    """Joins the lines of each CSV record; the last one may be left open for the next chunk."""
    open_record, open_line = state
    lines, line_numbers, odd_quotes = chunk["lines"], chunk["line_numbers"], chunk["odd_quotes"]
    record = {"at_end": chunk["at_end"]}

    def join_lines():
        # The open record goes first, as a line with an odd number of quotes.
        carried = tf.cast(open_line > 0, tf.int32)
        all_lines = tf.concat([tf.stack([open_record])[:carried], lines], 0)
        all_numbers = tf.concat([tf.stack([open_line])[:carried], line_numbers], 0)
        odd = tf.concat([tf.constant([True])[:carried], odd_quotes], 0)
        closed = tf.math.cumsum(tf.cast(odd, tf.int32)) % 2 == 0
        record_of_line = tf.math.cumsum(tf.cast(closed, tf.int32), exclusive=True)
        count = tf.reduce_sum(tf.cast(closed, tf.int32))
        texts = tf.strings.unsorted_segment_join(
            all_lines, record_of_line, count + 1, separator="\n")
        first_lines = tf.math.unsorted_segment_min(all_numbers, record_of_line, count + 1)
        still_open = tf.reduce_any(~closed[-1:])
        return (texts[:count], first_lines[:count], texts[count],
                tf.where(still_open, first_lines[count], tf.constant(0, tf.int64)))

    records, record_lines, open_record, open_line = tf.cond(
        tf.reduce_any(odd_quotes) | (open_line > 0),
        join_lines,
        lambda: (lines, line_numbers, tf.constant(""), tf.constant(0, tf.int64)),
    )
    record.update(records=records, line_numbers=record_lines)
    error_line, problem = chunk["error_line"], chunk["problem"]
    ran_out = chunk["at_end"] & (open_line > 0)
    # A character takes one to four bytes: only a record of more bytes than
    # the limit can have an open field of more characters.
    too_long = tf.cond(
        tf.strings.length(open_record) > _FIELD_SIZE_LIMIT,
        lambda: _open_field_length(open_record) > _FIELD_SIZE_LIMIT,
        lambda: tf.constant(False),
    )
    record["error_line"] = tf.where(
        (error_line == 0) & (ran_out | too_long), open_line, error_line)
    record["problem"] = tf.where(error_line > 0, problem, tf.where(
        too_long,
        f"malformed CSV record (field larger than field limit ({_FIELD_SIZE_LIMIT})); "
        f"{_CSV_QUOTING}",
        f"malformed CSV record (unexpected end of data); {_CSV_QUOTING}",
    ))
    return (open_record, open_line), record


def _open_field_length(open_record):
    """The characters so far of the value of the quoted field an open CSV record ends in."""
    text = tf.strings.regex_replace(open_record, _CSV_OPEN_FIELD_START, "")
    doubled_quotes = tf.strings.length(text) - tf.strings.length(
        tf.strings.regex_replace(text, '""', '"'))
    return tf.strings.length(text, unit="UTF8_CHAR") - doubled_quotes


@tf.function(autograph=False)
def _fields(chunk, file_format):
    """Splits each record into fields and drops blank records.

    The fields of all records are `"field_values"`, those of record i from
    `"starts"[i]`, `"widths"[i]` of them (flat, as ragged tensors cost more
    graph to run). A CSV record loses the "\\r" of its CRLF line end here.
    """
    records = chunk["records"]
    if file_format == "csv":
        records = _without_crlf(records)
    pieces = tf.strings.split(records, "," if file_format == "csv" else "\t")
    values, record_of_value = pieces.flat_values, pieces.value_rowids()
    if file_format == "csv":
        values, record_of_value, badly_quoted, too_long = _csv_fields(
            values, record_of_value, pieces.nrows())
    widths = tf.math.unsorted_segment_sum(
        tf.ones_like(record_of_value), record_of_value, tf.size(records, tf.int64))
    starts = tf.cumsum(widths, exclusive=True)
    fields = {
        "line_numbers": chunk["line_numbers"],
        "starts": starts,
        "widths": widths,
        "field_values": values,
        "error_line": chunk["error_line"],
        "problem": chunk["problem"],
        "at_end": chunk["at_end"],
    }
    keys = ("line_numbers", "starts", "widths")
    if file_format == "csv":
        fields = stop_at_first(
            fields, keys, badly_quoted | too_long, chunk["line_numbers"],
            lambda index: _malformed_csv_problem(records[index], badly_quoted[index]),
        )
        # An empty line is no row, as Python's csv module has it (`[]`).
        blank = tf.strings.length(records[:tf.size(fields["widths"])]) == 0
    else:
        first_fields = tf.gather(tf.concat([values, [""]], 0), fields["starts"])
        blank = (fields["widths"] == 1) & tf.strings.regex_full_match(
            first_fields, f"{_WHITESPACE}*")
    for key in keys:
        fields[key] = tf.boolean_mask(fields[key], ~blank)
    return fields


def _malformed_csv_problem(record, badly_quoted):
    reason = tf.where(
        tf.strings.regex_full_match(record, _CSV_QUOTE_NOT_CLOSING_A_FIELD),
        "',' expected after '\"'",
        "'\"' inside an unquoted field",
    )
    return tf.where(
        badly_quoted,
        tf.strings.join(["malformed CSV record (", reason, "); ", _CSV_QUOTING]),
        f"malformed CSV record (field larger than field limit ({_FIELD_SIZE_LIMIT})); "
        f"expected fields of at most {_FIELD_SIZE_LIMIT} characters, as Python's "
        "csv.field_size_limit() has it",
    )


def _csv_fields(pieces, record_of_piece, records):
    """The unquoted fields of CSV records split at every comma; which records are malformed.

    A comma inside a quoted field splits it into pieces with an odd number of
    quotes at either end; the pieces of each field are joined back. Returns
    the fields, the record of each, and for each record whether it is badly
    quoted and whether it has a field longer than the field limit.
    """
    odd = ~tf.strings.regex_full_match(pieces, _EVEN_QUOTES)

    def join_pieces():
        quotes = tf.cumsum(tf.cast(odd, tf.int64))
        last_of_record = record_of_piece != tf.concat([record_of_piece[1:], [-1]], 0)
        quotes_before_record = tf.math.unsorted_segment_min(
            quotes - tf.cast(odd, tf.int64), record_of_piece, records)
        ends = last_of_record | (
            (quotes - tf.gather(quotes_before_record, record_of_piece)) % 2 == 0)
        field_of_piece = tf.cumsum(tf.cast(ends, tf.int64), exclusive=True)
        fields = tf.strings.unsorted_segment_join(
            pieces, field_of_piece, tf.reduce_sum(tf.cast(ends, tf.int64)), separator=",")
        return fields, tf.boolean_mask(record_of_piece, ends)

    fields, record_of_field = tf.cond(
        tf.reduce_any(odd), join_pieces, lambda: (pieces, record_of_piece))
    quoted = tf.where(~tf.strings.regex_full_match(fields, '[^"]*'))[:, 0]
    quoted_fields = tf.gather(fields, quoted)
    well_quoted = tf.strings.regex_full_match(quoted_fields, _CSV_QUOTED_FIELD)
    malformed = tf.math.unsorted_segment_max(
        tf.cast(~well_quoted, tf.int32), tf.gather(record_of_field, quoted), records) > 0
    length = tf.strings.length(quoted_fields)
    inner = tf.strings.regex_replace(
        tf.strings.substr(quoted_fields, tf.minimum(length, 1), tf.maximum(length - 2, 0)),
        '""', '"')
    fields = tf.tensor_scatter_nd_update(fields, quoted[:, None], inner)
    # A field of no more bytes than the limit has no more characters.
    too_long = tf.cond(
        tf.reduce_any(tf.strings.length(fields) > _FIELD_SIZE_LIMIT),
        lambda: tf.math.unsorted_segment_max(
            tf.cast(tf.strings.length(fields, unit="UTF8_CHAR") > _FIELD_SIZE_LIMIT, tf.int32),
            record_of_field, records) > 0,
        lambda: tf.zeros([records], tf.bool),
    )
    return fields, record_of_field, malformed, too_long


@tf.function(autograph=False)
def _rows(state, chunk, columns, has_header, file_format):
    """Checks the first row (the header, if any) and the width of every row; picks the columns."""
    width, first_line, positions = state
    line_numbers, starts, widths = chunk["line_numbers"], chunk["starts"], chunk["widths"]
    field_values = tf.concat([chunk["field_values"], [""]], 0)
    defines = (width < 0) & (tf.size(widths) > 0)
    first_start = tf.concat([starts, [0]], 0)[0]
    first_width = tf.concat([widths, [0]], 0)[0]
    first_fields = field_values[first_start:first_start + first_width]
    new_positions, first_row_problem = _column_positions(
        first_fields, first_width, columns, has_header)
    width = tf.where(defines, first_width, width)
    first_line = tf.where(defines, tf.concat([line_numbers, [0]], 0)[0], first_line)
    positions = tf.where(defines, new_positions, positions)
    first_row_failed = defines & (tf.strings.length(first_row_problem) > 0)
    failed = (widths != width) | (
        (tf.range(tf.size(widths)) == 0) & first_row_failed)

    def problem_of(index):
        return tf.cond(
            (index == 0) & first_row_failed,
            lambda: first_row_problem,
            lambda: tf.strings.join([
                "expected ", tf.strings.as_string(width), f" {_FIELDS[file_format]}, as on line ",
                tf.strings.as_string(first_line), ", got ", tf.strings.as_string(widths[index]),
            ]),
        )

    # Cells of rows past a problem are clipped, then cut off with their rows.
    cells = tf.clip_by_value(
        starts[:, None] + positions[None, :], 0, tf.size(field_values, tf.int64) - 1)
    rows = {
        "line_numbers": line_numbers,
        "values": tf.gather(field_values, cells),
        "error_line": chunk["error_line"],
        "problem": chunk["problem"],
        "at_end": chunk["at_end"],
    }
    rows = stop_at_first(rows, ("line_numbers", "values"), failed, line_numbers, problem_of)
    data_start = tf.cast(defines & has_header, tf.int64)
    rows["line_numbers"] = rows["line_numbers"][data_start:]
    rows["values"] = rows["values"][data_start:]
    return (width, first_line, positions), rows


def _column_positions(names, width, columns, has_header):
    """The index in each row of each column, and what is wrong with the first row, or ""."""
    positions, missing = [], []
    for column in columns:
        if isinstance(column, str):
            matches = tf.cast(tf.equal(names, column), tf.int32)
            missing.append(tf.reduce_sum(matches) == 0)
            positions.append(tf.argmax(tf.concat([matches, [1]], 0)))
        else:
            positions.append(tf.constant(column, tf.int64) + (width if column < 0 else 0))
    problem = tf.constant("")
    for column in reversed([c for c in columns if isinstance(c, int)]):
        problem = tf.where(
            (column < -width) | (column >= width),
            tf.strings.join([
                f"column index {column} is out of range; the row has ",
                tf.strings.as_string(width), " fields",
            ]),
            problem,
        )
    if has_header and missing:
        named = [column for column in columns if isinstance(column, str)]
        missing = tf.stack(missing)
        problem = tf.where(
            tf.reduce_any(missing),
            tf.strings.join([
                "the header has no column ", quoted_list(tf.boolean_mask(named, missing)),
                "; expected a header row naming the columns, got the names ",
                quoted_list(names),
            ]),
            problem,
        )
    return tf.stack(positions), problem


def jsonl_rows(path, line_numbers, lines, columns):
    """`(line_number, [value of each column])` of each JSON object among a chunk's lines.

    Args:
        path: str, the file, for messages.
        line_numbers: 1-D int NumPy array, the line number of each line.
        lines: 1-D NumPy array of UTF-8 bytes, the lines (a chunk's `"lines"`).
        columns: list of str keys.

    Returns:
        A generator of `(line_number, values)`, values as `json` decodes them;
        blank lines are skipped.

    Raises:
        DataError: while iterating, for the first line that is not a JSON
            object holding every key of `columns`.

    Example:
    ```python
    lines = np.array([b'{"text": "x", "n": 2}'], object)
    list(jsonl_rows("a.jsonl", np.array([1]), lines, ["n"]))   # [(1, [2])]
    ```
    """
    for line_number, line in zip(line_numbers.tolist(), lines.tolist()):
        line = line.decode("utf-8")
        if not line.strip():
            continue
        record = _json_object(path, line_number, line)
        try:
            values = [record[column] for column in columns]
        except KeyError:
            missing = [column for column in columns if column not in record]
            raise DataError(
                path, line_number,
                f"the object has no key {missing}; expected the keys {columns}, "
                f"got {sorted(record)}",
            ) from None
        yield line_number, values


def _json_object(path, line_number, line):
    """The object `line` holds, decoded as `json.loads` does, by its C scanner directly."""
    try:
        record, end = _scan_json(line, _JSON_SPACE(line, 0).end())
        whole_line = _JSON_SPACE(line, end).end() == len(line)
    except (StopIteration, json.JSONDecodeError):
        whole_line = False
    if not whole_line:
        record = _decoded_or_error(path, line_number, line)
    if not isinstance(record, dict):
        raise DataError(
            path, line_number,
            f"expected a JSON object {{...}} per line, got {line.strip()[:60]}",
        )
    return record


def _decoded_or_error(path, line_number, line):
    """What `json.loads` makes of `line`, or its error as a `DataError`."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(
            path, line_number,
            f"invalid JSON ({error.msg} at column {error.colno}); expected one JSON "
            "object per line",
        ) from None
