"""Reader of CoNLL-2003-style files: one token per line, sentences split by blank lines.

The entity tags are converted to IOB2 (see `keras_simpletf.data.tag_schemes`).
"""

import functools
import os
import re

import tensorflow as tf

from keras_simpletf.data.errors import ENCODING_ERRORS, DataError, read_lines
from keras_simpletf.data.tag_schemes import TAG_SCHEMES, TagSchemeError, to_iob2
from keras_simpletf.layers.validation import check_choice

DOCUMENT_START = "-DOCSTART-"

# Columns are split on spaces and tabs only: a non-breaking space is part of a token.
_FIELD = re.compile(r"[^ \t\r\n]+")


def iter_conll(path, scheme="auto", token_column=0, tag_column=-1, encoding_errors="strict"):
    """Streams `(tokens, tags)` sentences from a CoNLL file, tags in IOB2.

    Each line holds one token's whitespace-separated columns, e.g.
    `token POS chunk NER` (CoNLL-2003) or just `token NER`; every data line
    must have as many columns as the file's first one. A blank line ends a
    sentence, and so does a `-DOCSTART-` line (a document break, not a token).
    The last sentence needs no blank line after it; runs of blank lines give
    no empty sentences.

    Args:
        path: str or path-like; any file system `tf.io.gfile` reads (`gs://`).
        scheme: the file's tag scheme, one of `TAG_SCHEMES` (see `to_iob2`);
            `"auto"` decides per sentence between BIOES and IOB1/IOB2.
        token_column: int index of the token column (negative counts from the end).
        tag_column: int index of the tag column; the last one by default.
        encoding_errors: `"strict"`: bytes that are not UTF-8 raise a
            `DataError` naming the line and byte offset; `"replace"`: they
            are read as U+FFFD (the Unicode replacement character).

    Returns:
        A generator of `(tokens, tags)`: two lists of str of the same length.

    Raises:
        ValueError: at once, for an unknown `scheme` or `encoding_errors`.
        DataError: while iterating, at the first line with a wrong number of
            columns or a tag that is not valid in `scheme`.

    Example:
    ```python
    with open("train.txt", "w") as file:
        file.write("-DOCSTART- -X- -X- O\\n\\nEU NNP B-NP I-ORG\\nrejects VBZ B-VP O\\n")
    list(iter_conll("train.txt", scheme="iob1"))   # [(['EU', 'rejects'], ['B-ORG', 'O'])]
    ```
    """
    check_choice("scheme", scheme, TAG_SCHEMES)
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    return _sentences(os.fspath(path), scheme, token_column, tag_column, encoding_errors)


def read_conll(path, scheme="auto", token_column=0, tag_column=-1, encoding_errors="strict"):
    """`iter_conll` as a streaming `tf.data.Dataset` of dicts.

    A malformed line fails the iteration that reaches it with a TensorFlow
    error (`tf.errors.InvalidArgumentError`) whose message holds the
    `path:line_number: ...` text of the `DataError`.

    Args:
        path, scheme, token_column, tag_column, encoding_errors: as in `iter_conll`.

    Returns:
        A `tf.data.Dataset` of `{"tokens": tf.string (None,), "tags": tf.string (None,)}`.

    Example:
    ```python
    dataset = read_conll("train.txt").ragged_batch(32)
    ```
    """
    sentences = functools.partial(
        iter_conll, path, scheme, token_column, tag_column, encoding_errors
    )
    sentences()  # Checks the arguments now rather than at the first element.
    words = tf.TensorSpec((None,), tf.string)
    signature = {"tokens": words, "tags": words}
    return tf.data.Dataset.from_generator(
        lambda: (dict(zip(signature, sentence)) for sentence in sentences()),
        output_signature=signature,
    )


def _sentences(path, scheme, token_column, tag_column, encoding_errors):
    for sentence in _sentence_lines(path, token_column, tag_column, encoding_errors):
        line_numbers, tokens, tags = (list(column) for column in zip(*sentence))
        try:
            iob2_tags = to_iob2(tags, scheme)
        except TagSchemeError as error:
            raise DataError(path, line_numbers[error.position], str(error)) from None
        yield tokens, iob2_tags


def _sentence_lines(path, token_column, tag_column, encoding_errors):
    """Each sentence as a list of `(line_number, token, tag)`."""
    sentence, first_line_number, width = [], None, None
    for line_number, line in enumerate(read_lines(path, encoding_errors), start=1):
        fields = _FIELD.findall(line)
        if not fields or fields[0] == DOCUMENT_START:
            if sentence:
                yield sentence
            sentence = []
            continue
        if width is None:
            first_line_number, width = line_number, len(fields)
            _check_width(path, line_number, width, token_column, tag_column)
        elif len(fields) != width:
            raise DataError(
                path, line_number,
                f"expected {width} whitespace-separated columns, as on line "
                f"{first_line_number}, got {len(fields)}: {line.strip()!r}",
            )
        sentence.append((line_number, fields[token_column], fields[tag_column]))
    if sentence:
        yield sentence


def _check_width(path, line_number, width, token_column, tag_column):
    """A first data line must hold a token and a tag, at the columns asked for."""
    if width < 2 or not all(-width <= c < width for c in (token_column, tag_column)):
        raise DataError(
            path, line_number,
            f"too few columns: {width}; expected at least a token and a tag, with "
            f"token_column={token_column} and tag_column={tag_column} in range",
        )
