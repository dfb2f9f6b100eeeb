"""Tests for keras_simpletf/data/tag_schemes.py: IOB1, IOB2 and BIOES tags read into IOB2."""

import pytest
import tensorflow as tf

from keras_simpletf.data.tag_schemes import TagSchemeError, iob2_tags, to_iob2

# "John Smith met Ann Lee Bob in New York .": two adjacent PER entities, "Ann Lee"
# and "Bob", which IOB1 separates with B-PER, then a LOC.
IOB2 = ["B-PER", "I-PER", "O", "B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "O"]
SAME_ANNOTATION = {
    "iob1": ["I-PER", "I-PER", "O", "I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-LOC", "O"],
    "iob2": IOB2,
    "bioes": ["B-PER", "E-PER", "O", "B-PER", "E-PER", "S-PER", "O", "B-LOC", "E-LOC", "O"],
}


@pytest.mark.parametrize("scheme", sorted(SAME_ANNOTATION))
def test_the_same_annotation_in_every_scheme_gives_the_same_iob2(scheme):
    assert to_iob2(SAME_ANNOTATION[scheme], scheme) == IOB2
    assert to_iob2(SAME_ANNOTATION[scheme], "auto") == IOB2


def test_iob1_reading_leaves_iob2_unchanged():
    assert to_iob2(IOB2, "iob1") == IOB2


def test_bioes_single_token_entities_and_unclosed_entities():
    assert to_iob2(["S-LOC", "S-LOC", "B-ORG", "I-ORG", "O"], "bioes") == [
        "B-LOC", "B-LOC", "B-ORG", "I-ORG", "O"]


def test_types_may_contain_hyphens_and_empty_sentences_are_empty():
    assert to_iob2(["I-MISC-X", "I-MISC-X"], "iob1") == ["B-MISC-X", "I-MISC-X"]
    assert to_iob2([], "auto") == []


@pytest.mark.parametrize(
    "tags, scheme, position, message",
    [
        (["O", "I-PER"], "iob2", 1,
         "tag 'I-PER' at position 1 does not continue an entity of type 'PER' "
         "(it follows 'O'); in iob2 an entity starts with 'B-PER'"),
        (["I-PER"], "iob2", 0, "(it follows the sentence start)"),
        (["B-PER", "I-LOC"], "iob2", 1, "does not continue an entity of type 'LOC'"),
        (["O", "E-PER"], "bioes", 1,
         "in bioes an entity starts with 'B-PER' or is 'S-PER'"),
        (["B-PER", "E-PER", "I-PER"], "bioes", 2, "tag 'I-PER' at position 2 does not"),
        (["B-PER", "E-LOC"], "bioes", 1, "tag 'E-LOC' at position 1 does not"),
        (["S-LOC", "I-LOC"], "auto", 1, "in bioes an entity starts"),
    ],
)
def test_an_entity_that_is_continued_without_being_started_is_an_error(
        tags, scheme, position, message):
    with pytest.raises(TagSchemeError) as raised:
        to_iob2(tags, scheme)
    assert raised.value.position == position
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "tags, scheme, message",
    [
        (["O", "X-PER"], "iob2",
         "tag 'X-PER' at position 1 is not valid in iob2; expected 'O' or one of "
         "'B-TYPE', 'I-TYPE' with a non-empty TYPE"),
        (["B-"], "iob2", "tag 'B-' at position 0 is not valid in iob2"),
        (["PER"], "iob1", "tag 'PER' at position 0 is not valid in iob1"),
        (["B-LOC", "E-LOC"], "iob2", "tag 'E-LOC' at position 1 is not valid in iob2"),
        (["S-LOC"], "iob1", "tag 'S-LOC' at position 0 is not valid in iob1"),
        (["BB-LOC"], "bioes",
         "is not valid in bioes; expected 'O' or one of 'B-TYPE', 'I-TYPE', 'E-TYPE', "
         "'S-TYPE'"),
        (["O", "o"], "auto",
         "tag 'o' at position 1 is not valid in iob1 (detected by scheme='auto')"),
    ],
)
def test_a_tag_outside_the_scheme_is_a_value_error_naming_tag_position_and_forms(
        tags, scheme, message):
    with pytest.raises(ValueError) as raised:
        to_iob2(tags, scheme)
    assert message in str(raised.value)


def test_unknown_scheme_is_a_value_error_naming_the_schemes():
    allowed = r"`scheme` must be one of \['iob1', 'iob2', 'bioes', 'auto'\]"
    with pytest.raises(ValueError, match=allowed):
        to_iob2(["O"], "bilou")


def test_a_batch_of_sentences_is_converted_at_once_with_auto_deciding_per_sentence():
    tags = tf.ragged.constant(
        [SAME_ANNOTATION["iob1"], [], SAME_ANNOTATION["bioes"], ["O", "B-LOC", "I-LOC"]])
    iob2, problem_tag, problem = iob2_tags(tags, "auto")
    assert iob2.to_list() == [[tag.encode() for tag in sentence] for sentence in (
        IOB2, [], IOB2, ["O", "B-LOC", "I-LOC"])]
    assert (int(problem_tag), problem.numpy()) == (23, b"")


def test_a_batch_names_its_first_problem_by_index_among_all_tags():
    tags = tf.ragged.constant([["B-PER", "I-PER"], ["O", "S-LOC", "I-LOC"], ["X-PER"]])
    _, problem_tag, problem = iob2_tags(tags, "auto")
    assert int(problem_tag) == 4
    assert problem.numpy().decode() == (
        "tag 'I-LOC' at position 2 does not continue an entity of type 'LOC' (it follows "
        "'S-LOC'); in bioes an entity starts with 'B-LOC' or is 'S-LOC'")
