"""Entity tag schemes (IOB1, IOB2, BIOES), all read into IOB2, the scheme used inside the library.

In IOB2 (also called BIO) every entity starts with `B-TYPE`, continues with
`I-TYPE`, and every other token is `O`.
"""

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
    read_as = _detect_scheme(tags) if scheme == "auto" else scheme
    iob2_tags, open_type = [], None
    for position, tag in enumerate(tags):
        prefix, entity_type = _split_tag(tag, position, read_as, scheme)
        continues = entity_type is not None and entity_type == open_type
        if prefix in "IE" and not continues and read_as != "iob1":
            raise TagSchemeError(position, _broken_entity_message(
                tags, position, entity_type, read_as))
        if prefix == _OUTSIDE:
            iob2_tags.append(_OUTSIDE)
        else:
            iob2_tags.append(f"{'I' if prefix in 'IE' and continues else 'B'}-{entity_type}")
        open_type = entity_type if prefix in "BI" else None
    return iob2_tags


def _detect_scheme(tags):
    return "bioes" if any(tag[:2] in ("S-", "E-") for tag in tags) else "iob1"


def _split_tag(tag, position, read_as, scheme):
    """`(prefix, type)` of a valid tag, `("O", None)` for the outside tag."""
    if tag == _OUTSIDE:
        return _OUTSIDE, None
    prefix, hyphen, entity_type = tag.partition("-")
    if len(prefix) == 1 and prefix in _PREFIXES[read_as] and hyphen and entity_type:
        return prefix, entity_type
    detected = " (detected by scheme='auto')" if scheme == "auto" else ""
    allowed = ", ".join(f"'{p}-TYPE'" for p in _PREFIXES[read_as])
    raise TagSchemeError(
        position,
        f"tag {tag!r} at position {position} is not valid in {read_as}{detected}; "
        f"expected 'O' or one of {allowed} with a non-empty TYPE",
    )


def _broken_entity_message(tags, position, entity_type, read_as):
    previous = repr(tags[position - 1]) if position else "the sentence start"
    starts = f"'B-{entity_type}'" + (f" or is 'S-{entity_type}'" if read_as == "bioes" else "")
    return (
        f"tag {tags[position]!r} at position {position} does not continue an entity "
        f"of type {entity_type!r} (it follows {previous}); in {read_as} an entity "
        f"starts with {starts}"
    )
