"""Errors of the data readers, and the decoded line stream where byte-level errors arise.

Every reader turns what is wrong with a file into a `DataError` whose message
starts with `path:line_number:`, the form editors and terminals link to.

The readers are `tf.data` pipelines over TensorFlow string ops, which work a
chunk of lines at a time: `line_chunks` reads a file in blocks of bytes and
splits them into chunks of decoded lines, and each reader parses a chunk into a
chunk of records. A chunk is a dict of tensors: its records (one row each,
`"line_numbers"` among them), `"error_line"` and `"problem"` (the first problem
found in the chunk, `error_line` 0 when there is none) and `"at_end"` (True on
the last chunk of the file). A chunk's records all come before its problem:
`records_or_error` streams them before failing, `iter_chunks` raises the
`DataError` after them.

Each stage is a module-level `tf.function` without AutoGraph, traced once for
its Python arguments and reused by every pipeline built after it: building a
reader is then several times faster.
"""

import os

import tensorflow as tf

from keras_simpletf.layers.validation import check_choice

ENCODING_ERRORS = ("strict", "replace")

# Bytes read at a time; each block becomes one chunk of lines.
BLOCK_BYTES = 1 << 20

# Valid UTF-8 exactly as Python decodes it: RE2 compiles this class to the byte
# sequences of valid UTF-8, so surrogates and code points past U+10FFFF fail too.
_UTF8_TEXT = "[\\x{0}-\\x{D7FF}\\x{E000}-\\x{10FFFF}]*"
_REPLACEMENT_CHARACTER = 0xFFFD
_BYTE_ORDER_MARK = "\ufeff"
_BYTE_ESCAPES = [f"\\x{byte:02x}" for byte in range(256)]


class DataError(ValueError):
    """A malformed line of a data file: `"{path}:{line_number}: {problem}"`.

    Args:
        path: str, the file.
        line_number: int, 1-based number of the offending line.
        problem: str, what was wrong and what was expected.

    Example:
    ```python
    error = DataError("train.tsv", 3, "expected 2 fields, got 3")
    assert str(error) == "train.tsv:3: expected 2 fields, got 3"
    ```
    """

    def __init__(self, path, line_number, problem):
        super().__init__(f"{path}:{line_number}: {problem}")
        self.path = path
        self.line_number = line_number
        self.problem = problem


def line_chunks(path, encoding_errors="strict"):
    """The lines of a file as a `tf.data.Dataset` of chunks, decoded as UTF-8 in-graph.

    The file is read in blocks of `BLOCK_BYTES` bytes by
    `tf.data.FixedLengthRecordDataset` (so `gs://` and every other TensorFlow
    file system work, and a large file is never held in memory) and split at
    `"\\n"`; the `"\\r"` of a CRLF line end stays on its line, for the formats
    to treat. A byte-order mark at the start of the file is dropped. The
    file's size is read when the dataset is built.

    Args:
        path: str or path-like, the file.
        encoding_errors: `"strict"`: bytes that are not UTF-8 are the chunk's
            problem, naming the line and byte offset, and the lines stop
            before that line; `"replace"`: they are read as U+FFFD (the
            Unicode replacement character).

    Returns:
        A `tf.data.Dataset` of dicts: `"line_numbers"` (int64, shape `(n,)`,
        1-based), `"lines"` (tf.string, `(n,)`, without their `"\\n"`),
        `"error_line"` (int64 scalar), `"problem"` (tf.string scalar) and
        `"at_end"` (bool scalar), as described in the module docstring.

    Raises:
        tf.errors.NotFoundError: at once, when the file does not exist.

    Example:
    ```python
    with open("notes.txt", "w") as file:
        file.write("first\\nsecond\\n")
    chunk = next(line_chunks("notes.txt").as_numpy_iterator())
    chunk["lines"].tolist()   # [b'first', b'second']
    ```
    """
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    path = os.fspath(path)
    start = (tf.constant(""), tf.constant(1, tf.int64), tf.constant(0, tf.int64))
    return _blocks(path).scan(start, _split_block).map(
        lambda chunk: _decode(chunk, encoding_errors),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _blocks(path):
    """`(bytes, at_end)` of each block of the file, then `("", True)`."""
    size = tf.io.gfile.stat(path).length
    tail = size % BLOCK_BYTES
    blocks = tf.data.Dataset.from_tensor_slices(tf.constant([], tf.string))
    if size >= BLOCK_BYTES:
        blocks = blocks.concatenate(tf.data.FixedLengthRecordDataset(
            path, BLOCK_BYTES, footer_bytes=tail, buffer_size=BLOCK_BYTES))
    if tail:
        blocks = blocks.concatenate(
            tf.data.FixedLengthRecordDataset(path, tail, header_bytes=size - tail))
    end = tf.data.Dataset.from_tensors((tf.constant(""), tf.constant(True)))
    return blocks.map(lambda block: (block, tf.constant(False))).concatenate(end)


@tf.function(autograph=False)
def _split_block(state, block):
    """Splits a block, after the unfinished line carried from the last one, into lines."""
    carry, next_line, next_offset = state
    data, at_end = block
    pieces = tf.strings.split(carry + data, "\n")
    last = tf.size(pieces) - 1
    # The text after the last "\n" is a line only at the end of the file, and
    # only if it is not empty (a file ending in "\n" has no line after it).
    count = tf.where(at_end & (tf.strings.length(pieces[last]) > 0), last + 1, last)
    lines = pieces[:count]
    lengths = tf.cast(tf.strings.length(lines), tf.int64) + 1
    line_numbers = next_line + tf.range(tf.cast(count, tf.int64))
    chunk = {
        "line_numbers": line_numbers,
        "lines": lines,
        "offsets": next_offset + tf.cumsum(lengths, exclusive=True),
        "at_end": at_end,
    }
    state = (tf.where(at_end, "", pieces[last]), next_line + tf.cast(count, tf.int64),
             next_offset + tf.reduce_sum(lengths))
    return state, chunk


@tf.function(autograph=False)
def _decode(chunk, encoding_errors):
    """Checks that the lines are UTF-8 (or replaces what is not) and drops a byte-order mark."""
    lines, line_numbers = chunk["lines"], chunk["line_numbers"]
    valid = tf.strings.regex_full_match(lines, _UTF8_TEXT)
    decoded = {
        "line_numbers": line_numbers,
        "lines": lines,
        "error_line": tf.constant(0, tf.int64),
        "problem": tf.constant(""),
        "at_end": chunk["at_end"],
    }
    if encoding_errors == "replace":
        decoded["lines"] = tf.cond(
            tf.reduce_all(valid),
            lambda: lines,
            lambda: tf.where(valid, lines, tf.strings.unicode_transcode(
                lines, "UTF-8", "UTF-8", errors="replace")),
        )
    else:
        decoded = stop_at_first(
            decoded, ("line_numbers", "lines"), ~valid, line_numbers,
            lambda index: _encoding_problem(lines[index], chunk["offsets"][index]),
        )
    first_line = decoded["lines"][:1]
    first_line = tf.where(
        decoded["line_numbers"][:1] == 1,
        tf.strings.regex_replace(first_line, "^" + _BYTE_ORDER_MARK, ""),
        first_line,
    )
    decoded["lines"] = tf.concat([first_line, decoded["lines"][1:]], 0)
    return decoded


def _encoding_problem(line, file_offset):
    """What Python's UTF-8 decoder says of the first invalid bytes of `line`."""
    characters, starts = tf.strings.unicode_decode_with_offsets(line, "UTF-8", errors="replace")
    ends = tf.concat([starts[1:], [tf.cast(tf.strings.length(line), tf.int64)]], 0)
    spans = tf.strings.substr(tf.fill(tf.shape(starts), line), starts, ends - starts)
    invalid = (characters == _REPLACEMENT_CHARACTER) & (spans != "\N{REPLACEMENT CHARACTER}")
    index = tf.argmax(tf.cast(invalid, tf.int32))
    start = starts[index]
    bad_bytes = tf.io.decode_raw(spans[index], tf.uint8)
    escaped = tf.strings.reduce_join(tf.gather(_BYTE_ESCAPES, tf.cast(bad_bytes, tf.int32)))
    return tf.strings.join([
        "invalid UTF-8 bytes b'", escaped, "' at byte offset ", tf.strings.as_string(start),
        " of the line (", tf.strings.as_string(file_offset + start), " of the file); expected "
        "UTF-8 text, or pass encoding_errors='replace' to read such bytes as U+FFFD",
    ])


def stop_at_first(chunk, record_keys, failed, error_lines, problem_of):
    """`chunk` cut before its first failed record, whose problem becomes the chunk's.

    A reader stage calls this with what it found wrong with a chunk's records;
    the records it keeps all come before any problem the chunk already had.

    Args:
        chunk: dict of tensors, a chunk (see the module docstring).
        record_keys: the keys of `chunk` holding one row per record.
        failed: bool tensor `(n,)`, True for each record with a problem.
        error_lines: int64 tensor `(n,)`, the line to name for each record.
        problem_of: callable from the int index of the first failed record
            to its problem (a tf.string scalar); called only in the branch
            where a record failed.

    Returns:
        The new chunk, a dict of the same keys.

    Example:
    ```python
    chunk = {"line_numbers": tf.constant([1, 2], tf.int64), "error_line": tf.constant(
        0, tf.int64), "problem": tf.constant("")}
    cut = stop_at_first(chunk, ["line_numbers"], tf.constant([False, True]),
                        chunk["line_numbers"], lambda index: tf.constant("bad"))
    cut["line_numbers"].numpy().tolist(), int(cut["error_line"])   # ([1], 2)
    ```
    """
    count = tf.size(failed, out_type=tf.int64)
    index = tf.argmax(tf.cast(tf.concat([failed, [True]], 0), tf.int32))
    stopped = index < count
    cut = dict(chunk)
    for key in record_keys:
        cut[key] = _head(chunk[key], index)
    cut["error_line"], cut["problem"] = tf.cond(
        stopped,
        lambda: (error_lines[index], problem_of(index)),
        lambda: (chunk["error_line"], chunk["problem"]),
    )
    return cut


def _head(records, count):
    """The first `count` rows of a tensor or RaggedTensor (without the checks of ragged slicing)."""
    if isinstance(records, tf.RaggedTensor):
        splits = records.row_splits
        return tf.RaggedTensor.from_row_splits(
            records.values[:splits[count]], splits[:count + 1], validate=False)
    return records[:count]


def records_or_error(chunks, path, record_keys):
    """The records of `chunks`, one element each, failing where a chunk has a problem.

    The records before a problem are produced normally; the element after
    them fails with a `tf.errors.InvalidArgumentError` whose message holds
    `"{path}:{line}: {problem}"`.

    Args:
        chunks: a `tf.data.Dataset` of chunks (see the module docstring).
        path: str, the file, for messages.
        record_keys: the keys of the records to produce.

    Returns:
        A `tf.data.Dataset` of dicts of `record_keys`.

    Example:
    ```python
    with open("notes.txt", "w") as file:
        file.write("first\\nsecond\\n")
    lines = records_or_error(line_chunks("notes.txt"), "notes.txt", ["lines"])
    [element["lines"] for element in lines.as_numpy_iterator()]   # [b'first', b'second']
    ```
    """
    record_keys = list(record_keys)

    def fail(chunk):
        message = tf.strings.join(
            [path, ":", tf.strings.as_string(chunk["error_line"]), ": ", chunk["problem"]])
        failure = tf.debugging.Assert(chunk["error_line"] <= 0, [message])
        with tf.control_dependencies([failure]):
            return {key: tf.identity(_head(chunk[key], 0)) for key in record_keys}

    def records_then_problem(chunk):
        records = tf.data.Dataset.from_tensors({key: chunk[key] for key in record_keys})
        problem = tf.data.Dataset.from_tensors(chunk).filter(
            lambda chunk: chunk["error_line"] > 0).map(fail)
        return records.concatenate(problem)

    return chunks.flat_map(records_then_problem).unbatch()


def iter_chunks(chunks, path):
    """Streams the chunks of `chunks` as NumPy dicts, raising the `DataError` after them.

    Args:
        chunks: a `tf.data.Dataset` of chunks (see the module docstring).
        path: str, the file, for messages.

    Returns:
        A generator of dicts of NumPy values; after yielding a chunk with a
        problem it raises `DataError(path, error_line, problem)`.

    Example:
    ```python
    with open("notes.txt", "w") as file:
        file.write("first\\nsecond\\n")
    lines = [line for chunk in iter_chunks(line_chunks("notes.txt"), "notes.txt")
             for line in chunk["lines"]]   # [b'first', b'second']
    ```
    """
    for chunk in chunks.prefetch(1).as_numpy_iterator():
        yield chunk
        if chunk["error_line"]:
            raise DataError(path, int(chunk["error_line"]), chunk["problem"].decode("utf-8"))


def quoted(strings):
    """Python's `repr` of each string of a tf.string tensor, for messages.

    Quotes as Python does (`'...'`, or `"..."` around a text holding `'` and
    no `"`) and escapes backslashes, tabs, carriage returns and newlines.

    Args:
        strings: tf.string tensor of UTF-8 text.

    Returns:
        A tf.string tensor of the same shape.

    Example:
    ```python
    quoted(tf.constant(["a\\tb", "it's"])).numpy().tolist()   # [b"'a\\\\tb'", b'"it\\'s"']
    ```
    """
    escaped = tf.strings.regex_replace(strings, r"\\", r"\\\\")
    for character, escape in (("\t", r"\\t"), ("\r", r"\\r"), ("\n", r"\\n")):
        escaped = tf.strings.regex_replace(escaped, character, escape)
    double = tf.strings.regex_full_match(strings, "(?s)[^\"]*'[^\"]*")
    return tf.where(
        double,
        tf.strings.join(['"', escaped, '"']),
        tf.strings.join(["'", tf.strings.regex_replace(escaped, "'", r"\\'"), "'"]),
    )


def quoted_list(strings):
    """Python's `repr` of a list of str, for a 1-D tf.string tensor: `"['a', 'b']"`.

    Args:
        strings: 1-D tf.string tensor.

    Returns:
        A tf.string scalar.

    Example:
    ```python
    quoted_list(tf.constant(["text", "label"])).numpy()   # b"['text', 'label']"
    ```
    """
    return tf.strings.join(["[", tf.strings.reduce_join(quoted(strings), separator=", "), "]"])
