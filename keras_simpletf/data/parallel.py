"""Readers of text pairs (translation, summarization): line-aligned files, TSV, JSONL; length filters.

Every reader streams: files are read a chunk of lines at a time (the
`tf.data` line reader of `keras_simpletf.data.errors`), and a malformed line
is a `DataError` naming the file and the line when reading reaches it.
"""

import collections
import itertools
import os

from keras_simpletf.data.errors import DataError, iter_chunks, line_chunks
from keras_simpletf.data.tables import iter_rows, table_format

_DEFAULT_FIELDS = {"tsv": (0, 1), "jsonl": ("source", "target")}


def iter_parallel(paths, fields=None, file_format=None, encoding_errors="strict"):
    """Streams `(source, target)` text pairs from one TSV/JSONL file or two line-aligned files.

    - Two paths, `(source_path, target_path)` (e.g. `("train.en",
      "train.de")`): line `i` of one is the pair of line `i` of the other.
      Files of different lengths are an error naming both; so is an empty
      line (every line holds a sentence).
    - One `.tsv` file: `source<TAB>target` on each line, no header (or
      `fields` of column names, with a header row). Blank lines are skipped.
    - One `.jsonl` file: a JSON object on each line, its string values
      under `fields` (`("source", "target")` by default; e.g. `("dialogue",
      "summary")` for DialogSum). Blank lines are skipped.

    Texts are stripped of surrounding whitespace (and a CRLF's `"\\r"`).

    Args:
        paths: str, one TSV/JSONL file, or a sequence of two line-aligned
            files; any path `tf.io.gfile` reads.
        fields: the source and target column (TSV: int index, or str name
            with a header) or key (JSONL); `None` for the defaults above.
        file_format: `"tsv"` or `"jsonl"` for a single file, or `None` to
            infer it from the extension.
        encoding_errors: `"strict"` (bytes that are not UTF-8 are a
            `DataError`) or `"replace"` (read as U+FFFD).

    Returns:
        A generator of `(source, target)` str pairs.

    Raises:
        ValueError: at once, for arguments that cannot work.
        DataError: while iterating, at the first bad line.

    Example:

    ```python
    with open("train.tsv", "w") as file:
        file.write("one two\\tzwei eins\\n")
    list(iter_parallel("train.tsv"))   # [('one two', 'zwei eins')]
    ```
    """
    if isinstance(paths, (str, os.PathLike)):
        return _iter_table(os.fspath(paths), fields, file_format, encoding_errors)
    paths = [os.fspath(path) for path in paths]
    if len(paths) != 2 or fields is not None or file_format is not None:
        raise ValueError(
            "Line-aligned pairs are two files, `(source_path, target_path)`, read without "
            f"`fields` or `file_format`; got paths {paths}, fields={fields!r}, "
            f"file_format={file_format!r}."
        )
    return _iter_aligned(*paths, encoding_errors)


def _iter_table(path, fields, file_format, encoding_errors):
    file_format, _ = table_format(path, ["any"], file_format)
    if file_format not in _DEFAULT_FIELDS:
        raise ValueError(
            f"Pairs are read from TSV or JSONL files, or two line-aligned files; {path!r} "
            f"is {file_format}."
        )
    fields = list(fields or _DEFAULT_FIELDS[file_format])
    if len(fields) != 2:
        raise ValueError(f"`fields` are a source and a target field, got {fields!r}.")
    rows = iter_rows(path, fields, file_format, encoding_errors=encoding_errors)
    for line_number, values in rows:
        for field, value in zip(fields, values):
            if not isinstance(value, str):
                raise DataError(
                    path, line_number,
                    f"field {field!r} holds {type(value).__name__} {value!r}; expected text",
                )
        yield values[0].strip(), values[1].strip()


def _lines(path, encoding_errors):
    for chunk in iter_chunks(line_chunks(path, encoding_errors), path):
        for line_number, line in zip(chunk["line_numbers"].tolist(), chunk["lines"].tolist()):
            yield line_number, line.decode("utf-8").strip()


def _iter_aligned(source_path, target_path, encoding_errors):
    pairs = itertools.zip_longest(
        _lines(source_path, encoding_errors), _lines(target_path, encoding_errors)
    )
    for source, target in pairs:
        if source is None or target is None:
            longer, shorter, (line_number, _) = (
                (target_path, source_path, target) if source is None
                else (source_path, target_path, source)
            )
            extra = 1 + sum(1 for _ in pairs)
            raise DataError(
                longer, line_number,
                f"line-aligned files differ in length: {shorter} ends before this line, "
                f"{longer} has {extra} more line(s); line i of {source_path} must translate "
                f"line i of {target_path}",
            )
        for path, (line_number, text) in ((source_path, source), (target_path, target)):
            if not text:
                raise DataError(
                    path, line_number,
                    "empty line; every line of line-aligned files holds one sentence",
                )
        yield source[1], target[1]


class LengthFilter:
    """Drops pairs whose source or target is too long (or empty), and says how many it dropped.

    Lengths are counted by `length` (whitespace-separated words by
    default; a tokenizer's piece count works too), targets by
    `target_length` when the two sides are tokenized differently.

    Args:
        max_source_length: int or `None`, the longest source kept.
        max_target_length: int or `None`, the longest target kept.
        length: callable from a text to its length.
        target_length: callable from a target to its length, or `None` for
            `length`.

    Attributes:
        kept: int, pairs passed so far.
        dropped: `collections.Counter` of dropped pairs by reason.

    Example:

    ```python
    too_long = LengthFilter(max_source_length=3)
    list(too_long([("a b", "x"), ("a b c d", "y")]))   # [('a b', 'x')]
    too_long.report()   # 'kept 1 of 2 pairs; dropped 1: source longer than 3 (1)'
    ```
    """

    def __init__(self, max_source_length=None, max_target_length=None, length=None,
                 target_length=None):
        for name, value in (("max_source_length", max_source_length),
                            ("max_target_length", max_target_length)):
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"`{name}` must be a positive int or None, got {value!r}.")
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.length = length or (lambda text: len(text.split()))
        self.target_length = target_length or self.length
        self.kept = 0
        self.dropped = collections.Counter()

    def _problem(self, source, target):
        for side, text, limit, count in (
            ("source", source, self.max_source_length, self.length),
            ("target", target, self.max_target_length, self.target_length),
        ):
            length = count(text)
            if length == 0:
                return f"{side} empty"
            if limit is not None and length > limit:
                return f"{side} longer than {limit}"
        return None

    def __call__(self, pairs):
        """Streams the pairs of `pairs` (an iterable of `(source, target)`) that fit."""
        for source, target in pairs:
            problem = self._problem(source, target)
            if problem:
                self.dropped[problem] += 1
            else:
                self.kept += 1
                yield source, target

    def report(self):
        """One line: how many pairs were kept and dropped, and why."""
        dropped = sum(self.dropped.values())
        line = f"kept {self.kept} of {self.kept + dropped} pairs"
        if not dropped:
            return line
        reasons = ", ".join(f"{reason} ({count})" for reason, count in sorted(self.dropped.items()))
        return f"{line}; dropped {dropped}: {reasons}"
