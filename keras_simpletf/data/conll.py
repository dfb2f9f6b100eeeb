"""Reader of CoNLL-2003-style files: one token per line, sentences split by blank lines.

One `tf.data` pipeline over TensorFlow string ops: the file is streamed a chunk
of lines at a time, lines are split into columns and grouped into sentences
in-graph (a sentence left open at the end of a chunk is carried to the next),
and the entity tags are converted to IOB2 (see
`keras_simpletf.data.tag_schemes`).
"""

import os

import tensorflow as tf

from keras_simpletf.data.errors import (
    ENCODING_ERRORS,
    iter_chunks,
    line_chunks,
    quoted,
    records_or_error,
    stop_at_first,
)
from keras_simpletf.data.tables import stripped
from keras_simpletf.data.tag_schemes import TAG_SCHEMES, iob2_tags
from keras_simpletf.layers.validation import check_choice

DOCUMENT_START = "-DOCSTART-"


def iter_conll(path, scheme="auto", token_column=0, tag_column=-1, encoding_errors="strict"):
    """Streams `(tokens, tags)` sentences from a CoNLL file, tags in IOB2.

    Each line holds one token's columns separated by spaces or tabs (a
    non-breaking space is part of a token), e.g. `token POS chunk NER`
    (CoNLL-2003) or just `token NER`; every data line must have as many
    columns as the file's first one. A blank line ends a sentence, and so
    does a `-DOCSTART-` line (a document break, not a token). The last
    sentence needs no blank line after it; runs of blank lines give no empty
    sentences.

    This is the Python face of `read_conll`: the same pipeline, its
    sentences converted to lists of str.

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
    path = os.fspath(path)
    chunks = _sentence_chunks(path, scheme, token_column, tag_column, encoding_errors)
    return _python_sentences(iter_chunks(chunks, path))


def read_conll(path, scheme="auto", token_column=0, tag_column=-1, encoding_errors="strict"):
    """The sentences of a CoNLL file as a streaming `tf.data.Dataset` of dicts, tags in IOB2.

    The file is read as `iter_conll` describes, by a `tf.data` pipeline of
    TensorFlow string ops (about 2 x 10^5 lines per CPU second; see "Readers"
    in BENCHMARKS.md). A malformed line fails the iteration that reaches it with
    a `tf.errors.InvalidArgumentError` whose message holds the
    `path:line_number: ...` text of the `DataError` (`iter_conll` raises the
    `DataError` itself); the sentences before it are produced normally.

    Args:
        path, scheme, token_column, tag_column, encoding_errors: as in `iter_conll`.

    Returns:
        A `tf.data.Dataset` of `{"tokens": tf.string (None,), "tags": tf.string (None,)}`.

    Raises:
        ValueError: at once, for an unknown `scheme` or `encoding_errors`.
        tf.errors.NotFoundError: at once, when the file does not exist.

    Example:
    ```python
    with open("train.txt", "w") as file:
        file.write("EU B-ORG\\nrejects O\\n\\nPeter B-PER\\n")
    dataset = read_conll("train.txt").ragged_batch(32)
    ```
    """
    path = os.fspath(path)
    chunks = _sentence_chunks(path, scheme, token_column, tag_column, encoding_errors)
    # Each sentence comes out of its chunk as a ragged row; this makes it a tf.Tensor.
    return records_or_error(chunks, path, ["tokens", "tags"]).map(lambda sentence: sentence)


def _python_sentences(chunks):
    for chunk in chunks:
        for tokens, tags in zip(chunk["tokens"], chunk["tags"]):
            yield ([token.decode("utf-8") for token in tokens],
                   [tag.decode("utf-8") for tag in tags])


def _sentence_chunks(path, scheme, token_column, tag_column, encoding_errors):
    check_choice("scheme", scheme, TAG_SCHEMES)
    check_choice("encoding_errors", encoding_errors, ENCODING_ERRORS)
    no_sentence = (
        tf.constant(-1, tf.int64), tf.constant(0, tf.int64),
        tf.constant([], tf.string), tf.constant([], tf.string), tf.constant([], tf.int64),
    )
    return line_chunks(path, encoding_errors).map(
        lambda chunk: _columns(chunk, token_column, tag_column),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).scan(
        no_sentence, lambda state, chunk: _sentences(state, chunk, token_column, tag_column),
    ).map(
        lambda chunk: _iob2(chunk, scheme), num_parallel_calls=tf.data.AUTOTUNE,
    )


@tf.function(autograph=False)
def _columns(chunk, token_column, tag_column):
    """The number of columns of each line, its token and tag, and whether it is a sentence break."""
    lines = chunk["lines"]
    spaced = tf.cond(
        tf.reduce_all(tf.strings.regex_full_match(lines, "[^\t\r]*")),
        lambda: lines,
        lambda: tf.strings.regex_replace(lines, "[\t\r]", " "),
    )
    pieces = tf.strings.split(spaced, " ")
    kept = pieces.flat_values != ""
    values = tf.concat([tf.boolean_mask(pieces.flat_values, kept), [""]], 0)
    widths = tf.math.unsorted_segment_sum(
        tf.cast(kept, tf.int64), pieces.value_rowids(), pieces.nrows())
    starts = tf.cumsum(widths, exclusive=True)
    missing = tf.size(values, tf.int64) - 1

    def column(index):
        # Lines too narrow for `index` are errors; they get "" for now.
        position = index + (widths if index < 0 else 0)
        return tf.gather(values, tf.where(
            (position >= 0) & (position < widths), starts + position, missing))

    chunk = dict(chunk, widths=widths, tokens=column(token_column), tags=column(tag_column))
    chunk["breaks"] = (widths == 0) | tf.equal(column(0), DOCUMENT_START)
    return chunk


@tf.function(autograph=False)
def _sentences(state, chunk, token_column, tag_column):
    """Checks the width of each line and groups the lines into sentences.

    The state is the width and first line of the file's first data line and
    the sentence left open by the last chunk (its tokens, tags, line numbers).
    """
    width, first_line, open_tokens, open_tags, open_lines = state
    widths, breaks, line_numbers = chunk["widths"], chunk["breaks"], chunk["line_numbers"]
    data = ~breaks
    first_data = tf.argmax(tf.cast(tf.concat([data, [True]], 0), tf.int32))
    defines = (width < 0) & tf.reduce_any(data)
    width = tf.where(defines, tf.concat([widths, [0]], 0)[first_data], width)
    first_line = tf.where(defines, tf.concat([line_numbers, [0]], 0)[first_data], first_line)
    too_narrow = defines & ~(
        (width >= 2) & _in_range(token_column, width) & _in_range(tag_column, width))
    is_first_data = tf.range(tf.size(data, out_type=tf.int64)) == first_data
    failed = data & ((widths != width) | (is_first_data & too_narrow))

    def problem_of(index):
        return tf.cond(
            too_narrow & (index == first_data),
            lambda: tf.strings.join([
                "too few columns: ", tf.strings.as_string(width), "; expected at least a token "
                f"and a tag, with token_column={token_column} and tag_column={tag_column} "
                "in range",
            ]),
            lambda: tf.strings.join([
                "expected ", tf.strings.as_string(width), " whitespace-separated columns, as on "
                "line ", tf.strings.as_string(first_line), ", got ",
                tf.strings.as_string(widths[index]), ": ",
                quoted(stripped(chunk["lines"][index])),
            ]),
        )

    chunk = stop_at_first(
        chunk, ("line_numbers", "breaks", "tokens", "tags"), failed, line_numbers, problem_of)
    breaks = chunk["breaks"]
    data = ~breaks
    # Sentence i of the chunk ends at its i-th break; the open one is number 0.
    sentence = tf.concat([
        tf.zeros_like(open_lines), tf.boolean_mask(tf.cumsum(tf.cast(breaks, tf.int64)), data)], 0)
    tokens = tf.concat([open_tokens, tf.boolean_mask(chunk["tokens"], data)], 0)
    tags = tf.concat([open_tags, tf.boolean_mask(chunk["tags"], data)], 0)
    token_lines = tf.concat([open_lines, tf.boolean_mask(chunk["line_numbers"], data)], 0)
    stopped = chunk["error_line"] > 0
    # The sentence after the last break ends here at the end of the file, is
    # dropped at a problem (it is never finished), and is otherwise carried on.
    ended = (sentence < tf.reduce_sum(tf.cast(breaks, tf.int64))) | (chunk["at_end"] & ~stopped)
    carried = ~ended & ~stopped
    ended_sentence = tf.boolean_mask(sentence, ended)
    starts_sentence = ended_sentence != tf.concat([[-1], ended_sentence[:-1]], 0)
    row_ids = tf.cumsum(tf.cast(starts_sentence, tf.int64)) - 1
    rows = tf.reduce_sum(tf.cast(starts_sentence, tf.int64))

    def sentences(values):
        return tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(values, ended), row_ids, rows, validate=False)

    sentence_chunk = {
        "line_numbers": sentences(token_lines),
        "tokens": sentences(tokens),
        "tags": sentences(tags),
        "error_line": chunk["error_line"],
        "problem": chunk["problem"],
        "at_end": chunk["at_end"],
    }
    state = (width, first_line, tf.boolean_mask(tokens, carried), tf.boolean_mask(tags, carried),
             tf.boolean_mask(token_lines, carried))
    return state, sentence_chunk


def _in_range(column, width):
    return (-width <= column) & (column < width)


@tf.function(autograph=False)
def _iob2(chunk, scheme):
    """The tags in IOB2; a tag outside `scheme` is the chunk's problem, at its token's line."""
    tags, problem_tag, problem = iob2_tags(chunk["tags"], scheme)
    chunk = dict(chunk, tags=tags)
    line_numbers = chunk["line_numbers"]
    sentence_of_problem = tf.gather(
        tf.concat([line_numbers.value_rowids(), [-1]], 0), problem_tag)
    failed = tf.range(line_numbers.nrows()) == sentence_of_problem
    problem_line = tf.gather(tf.concat([line_numbers.flat_values, [0]], 0), problem_tag)
    return stop_at_first(
        chunk, ("line_numbers", "tokens", "tags"), failed,
        tf.fill([line_numbers.nrows()], problem_line), lambda index: problem,
    )
