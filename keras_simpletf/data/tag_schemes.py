"""Entity tag schemes (IOB1, IOB2, BIOES), all read into IOB2, the scheme used inside the library.

In IOB2 (also called BIO) every entity starts with `B-TYPE`, continues with
`I-TYPE`, and every other token is `O`. The conversion is written in
TensorFlow ops over a batch of sentences (`iob2_tags`), so the CoNLL reader
runs it in-graph; `to_iob2` applies it to one Python list.
"""

import tensorflow as tf

from keras_simpletf.data.errors import quoted
from keras_simpletf.layers.validation import check_choice

TAG_SCHEMES = ("iob1", "iob2", "bioes", "auto")

_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}
_OUTSIDE = "O"


class TagSchemeError(ValueError):
    """A tag that is not valid in its scheme; `position` is its index in the sentence.

    Args:
        position: int, 0-based index of the tag in the sentence.
        message: str, what was wrong and what was expected.

    Example:
    ```python
    try:
        to_iob2(["O", "I-PER"], "iob2")
    except TagSchemeError as error:
        assert error.position == 1
    ```
    """

    def __init__(self, position, message):
        super().__init__(message)
        self.position = position


def to_iob2(tags, scheme="auto"):
    """One sentence's entity tags, read in `scheme`, written in IOB2.

    - `"iob1"`: `I-X` may start an entity; `B-X` only separates two adjacent
      entities of type X. An `I-X` that does not continue an entity of type X
      becomes `B-X`, so IOB2 input comes back unchanged.
    - `"iob2"`: strict; an `I-X` that does not continue `B-X`/`I-X` is an error.
    - `"bioes"`: `S-X` (single) becomes `B-X`, `E-X` (end) becomes `I-X`; `I-X`
      and `E-X` must continue an entity of type X. An entity that is not
      closed by `E-X` is accepted as is.
    - `"auto"`: a sentence with any `S-`/`E-` tag is read as BIOES, otherwise
      as IOB1 (which also accepts IOB2).

    Args:
        tags: sequence of str, `"O"` or `PREFIX-TYPE` with a non-empty TYPE.
        scheme: one of `TAG_SCHEMES`.

    Returns:
        A list of str IOB2 tags, one per input tag.

    Raises:
        TagSchemeError: (a `ValueError`) naming the tag, its position and the
            forms the scheme allows.

    Example:
    ```python
    assert to_iob2(["B-PER", "E-PER", "O", "S-LOC"], "bioes") == [
        "B-PER", "I-PER", "O", "B-LOC"]
    assert to_iob2(["I-PER", "I-PER", "B-PER"], "iob1") == [
        "B-PER", "I-PER", "B-PER"]
    ```
    """
    check_choice("scheme", scheme, TAG_SCHEMES)
    sentence = tf.RaggedTensor.from_row_lengths(
        tf.constant(list(tags), tf.string, shape=[len(tags)]), [len(tags)])
    iob2, problem_tag, problem = _traced_iob2_tags(sentence, scheme)
    if problem_tag < len(tags):
        raise TagSchemeError(int(problem_tag), problem.numpy().decode("utf-8"))
    return [tag.decode("utf-8") for tag in iob2.flat_values.numpy()]


def iob2_tags(tags, scheme="auto"):
    """The tags of a batch of sentences, read in `scheme`, written in IOB2, in TensorFlow ops.

    Reads each sentence as `to_iob2` does, all sentences at once (in eager
    mode or inside a `tf.function` or `tf.data` map).

    Args:
        tags: tf.string `tf.RaggedTensor` of shape `(sentences, None)`.
        scheme: one of `TAG_SCHEMES`.

    Returns:
        `(iob2, problem_tag, problem)`: the IOB2 tags (a RaggedTensor shaped
        like `tags`; a tag after a problem is meaningless), the int64 index
        in `tags.flat_values` of the first tag that is not valid in its
        sentence's scheme (the number of tags when all are), and what is
        wrong with it as `to_iob2` says it (a tf.string scalar, "" when
        nothing is).

    Example:
    ```python
    tags = tf.ragged.constant([["I-PER", "I-PER"], ["O", "S-LOC"]])
    iob2, problem_tag, problem = iob2_tags(tags)
    iob2.to_list()   # [[b'B-PER', b'I-PER'], [b'O', b'B-LOC']]
    ```
    """
    check_choice("scheme", scheme, TAG_SCHEMES)
    flat = tags.flat_values
    sentence = tags.value_rowids()
    position = tf.range(tf.size(flat, out_type=tf.int64)) - tf.cast(
        tf.gather(tags.row_starts(), sentence), tf.int64)
    length = tf.strings.length(flat)
    prefix = tf.strings.substr(flat, tf.zeros_like(length), tf.minimum(length, 1))
    entity_type = tf.strings.substr(flat, tf.minimum(length, 2), length)
    outside = tf.equal(flat, _OUTSIDE)
    if scheme == "auto":
        ends_or_singles = tf.cast(tf.strings.regex_full_match(flat, "[SE]-.*"), tf.int32)
        bioes = tf.gather(
            tf.math.unsorted_segment_max(ends_or_singles, sentence, tags.nrows()) > 0, sentence)
        strict = bioes
    else:
        bioes = tf.fill(tf.shape(flat), scheme == "bioes")
        strict = tf.fill(tf.shape(flat), scheme != "iob1")
    allowed = tf.where(
        bioes,
        tf.strings.regex_full_match(prefix, f"[{_PREFIXES['bioes']}]"),
        tf.strings.regex_full_match(prefix, f"[{_PREFIXES['iob1']}]"),
    )
    valid = outside | (allowed & tf.equal(tf.strings.substr(
        flat, tf.minimum(length, 1), tf.minimum(length, 1)), "-") & (length > 2))
    opens = valid & tf.strings.regex_full_match(prefix, "[BI]")
    open_type = tf.where(opens, entity_type, "")
    previous_open = tf.where(position > 0, tf.concat([[""], open_type[:-1]], 0), "")
    continues = ~outside & tf.equal(entity_type, previous_open)
    inside = tf.strings.regex_full_match(prefix, "[IE]")
    broken = valid & inside & ~continues & strict
    problem_tag = tf.argmax(tf.cast(tf.concat([~valid | broken, [True]], 0), tf.int32))
    iob2 = tf.where(outside, _OUTSIDE, tf.strings.join(
        [tf.where(inside & continues, "I-", "B-"), entity_type]))

    def problem():
        index = problem_tag
        read_as = tf.where(bioes[index], "bioes", tf.where(strict[index], scheme, "iob1"))
        tag = quoted(flat[index])
        at = tf.strings.join([
            "tag ", tag, " at position ", tf.strings.as_string(position[index])])
        detected = " (detected by scheme='auto')" if scheme == "auto" else ""
        if_invalid = tf.strings.join([
            at, " is not valid in ", read_as, detected, "; expected 'O' or one of ",
            tf.where(bioes[index], _forms("bioes"), _forms("iob1")),
            " with a non-empty TYPE",
        ])
        follows = tf.where(
            position[index] > 0, quoted(flat[tf.maximum(index - 1, 0)]), "the sentence start")
        this_type = entity_type[index]
        if_broken = tf.strings.join([
            at, " does not continue an entity of type ", quoted(this_type), " (it follows ",
            follows, "); in ", read_as, " an entity starts with 'B-", this_type, "'",
            tf.where(bioes[index], tf.strings.join([" or is 'S-", this_type, "'"]), ""),
        ])
        return tf.where(valid[index], if_broken, if_invalid)

    found = problem_tag < tf.size(flat, out_type=tf.int64)
    return tags.with_flat_values(iob2), problem_tag, tf.cond(
        found, problem, lambda: tf.constant(""))


def _forms(scheme):
    return ", ".join(f"'{prefix}-TYPE'" for prefix in _PREFIXES[scheme])


# Traced once per scheme (and sentence shape), rather than run op by op at every call.
_traced_iob2_tags = tf.function(iob2_tags, autograph=False, reduce_retracing=True)
