"""Errors of the data readers, and the decoded line stream where byte-level errors arise.

Every reader turns what is wrong with a file into a `DataError` whose message
starts with `path:line_number:`, the form editors and terminals link to.
"""

import tensorflow as tf

from keras_simpletf.layers.validation import check_choice

ENCODING_ERRORS = ("strict", "replace")

_BYTE_ORDER_MARK = "\ufeff"


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


def read_lines(path, encoding_errors="strict"):
    """Yields the lines of `path` one at a time, decoded as UTF-8, line ends kept.

    The file is streamed through `tf.io.gfile.GFile`, so `gs://` and other
    TensorFlow file systems work and a large file is never held in memory.
    A byte-order mark at the start of the file is dropped.

    Args:
        path: str, the file.
        encoding_errors: `"strict"`: bytes that are not UTF-8 raise a
            `DataError` naming the line and the byte offset; `"replace"`:
            they are read as U+FFFD (the Unicode replacement character).

    Returns:
        A generator of str lines; line `i` (1-based) is the `i`-th element.

    Example:
    ```python
    for line_number, line in enumerate(read_lines("train.tsv"), start=1):
        ...
    ```
    """
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    with tf.io.gfile.GFile(path, "rb") as file:
        file_offset = 0
        for line_number, raw_line in enumerate(file, start=1):
            line = _decode(raw_line, encoding_errors, path, line_number, file_offset)
            yield line.removeprefix(_BYTE_ORDER_MARK) if line_number == 1 else line
            file_offset += len(raw_line)


def _decode(raw_line, encoding_errors, path, line_number, file_offset):
    try:
        return raw_line.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as error:
        bad_bytes = raw_line[error.start:error.end]
        raise DataError(
            path,
            line_number,
            f"invalid UTF-8 bytes {bad_bytes!r} at byte offset {error.start} of the "
            f"line ({file_offset + error.start} of the file); expected UTF-8 text, "
            "or pass encoding_errors='replace' to read such bytes as U+FFFD",
        ) from None
