"""Tests for keras_simpletf/data/conll.py: CoNLL token-per-line files read as IOB2 sentences."""

import re

import pytest
import tensorflow as tf

from keras_simpletf.data import errors
from keras_simpletf.data.conll import iter_conll, read_conll
from tests.data.files import data_file, raises_at


def conll_file(tmp_path, content, name="train.txt"):
    """Writes `content` (str as UTF-8, or bytes) to `tmp_path/name`; returns the path as str."""
    return data_file(tmp_path, name, content)


# The start of the CoNLL-2003 English training file (IOB1 tags), abridged.
CONLL_2003 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""


def test_conll_2003_sentences_with_iob1_tags_read_as_iob2(tmp_path):
    path = conll_file(tmp_path, CONLL_2003)
    assert list(iter_conll(path, scheme="iob1")) == [
        (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["BRUSSELS"], ["B-LOC"]),
    ]


def test_other_columns_can_be_chosen(tmp_path):
    path = conll_file(tmp_path, CONLL_2003)
    [first, *_] = iter_conll(path, token_column=0, tag_column=2)
    assert first == (
        ["EU", "rejects", "German", "call", "."], ["B-NP", "B-VP", "B-NP", "I-NP", "O"])


def test_document_breaks_and_runs_of_blank_lines_give_no_empty_sentences(tmp_path):
    path = conll_file(
        tmp_path, "\n\nA B-PER\n\n\n\n-DOCSTART- O\nB O\n-DOCSTART- O\n\n\nC S-LOC\n\n")
    assert list(iter_conll(path)) == [(["A"], ["B-PER"]), (["B"], ["O"]), (["C"], ["B-LOC"])]


def test_the_last_sentence_needs_no_blank_line_after_it(tmp_path):
    path = conll_file(tmp_path, "A\tB-PER\nB\tI-PER\n\nC\tO")
    assert list(iter_conll(path)) == [(["A", "B"], ["B-PER", "I-PER"]), (["C"], ["O"])]


def test_bioes_and_iob2_files_give_the_same_iob2_sentences(tmp_path):
    bioes = conll_file(tmp_path, "New B-LOC\nYork E-LOC\nAnn S-PER\n", "bioes.txt")
    iob2 = conll_file(tmp_path, "New B-LOC\nYork I-LOC\nAnn B-PER\n", "iob2.txt")
    expected = [(["New", "York", "Ann"], ["B-LOC", "I-LOC", "B-PER"])]
    assert list(iter_conll(bioes, scheme="bioes")) == expected
    assert list(iter_conll(iob2, scheme="iob2")) == expected
    assert list(iter_conll(bioes)) == list(iter_conll(iob2)) == expected


def test_a_non_breaking_space_is_part_of_a_token(tmp_path):
    path = conll_file(tmp_path, "10\u00a0000 O\n")
    assert list(iter_conll(path)) == [(["10\u00a0000"], ["O"])]


# Malformed lines.

def test_a_line_with_another_number_of_columns_is_an_error_at_that_line(tmp_path):
    path = conll_file(tmp_path, "-DOCSTART- O\n\nEU NNP I-ORG\nrejects O\n")
    with raises_at(path, 4, "expected 3 whitespace-separated columns, as on line 3, got 2: "
                   "'rejects O'"):
        list(iter_conll(path))


def test_a_first_line_with_too_few_columns_is_an_error(tmp_path):
    path = conll_file(tmp_path, "\nEU\n")
    with raises_at(path, 2, "too few columns: 1; expected at least a token and a tag"):
        list(iter_conll(path))


def test_a_tag_column_out_of_range_is_an_error_at_the_first_data_line(tmp_path):
    path = conll_file(tmp_path, "EU I-ORG\n")
    with raises_at(path, 1, "tag_column=2 in range"):
        list(iter_conll(path, tag_column=2))


@pytest.mark.parametrize(
    "content, scheme, line_number, problem",
    [
        ("A O\n\nB O\nC X-PER\n", "auto", 4,
         "tag 'X-PER' at position 1 is not valid in iob1 (detected by scheme='auto')"),
        ("A O\n\nB O\nC E-LOC\n", "iob2", 4, "tag 'E-LOC' at position 1 is not valid in iob2"),
        ("A O\n\nB O\nC I-LOC\n", "iob2", 4,
         "tag 'I-LOC' at position 1 does not continue an entity of type 'LOC'"),
        ("A O\n\nB O\nC S-LOC\nD E-LOC\n", "bioes", 5,
         "tag 'E-LOC' at position 2 does not continue"),
    ],
)
def test_a_tag_outside_the_scheme_is_an_error_at_the_line_of_its_token(
        tmp_path, content, scheme, line_number, problem):
    path = conll_file(tmp_path, content)
    with raises_at(path, line_number, problem):
        list(iter_conll(path, scheme=scheme))


def test_unknown_scheme_is_a_value_error_at_once(tmp_path):
    with pytest.raises(ValueError, match="`scheme` must be one of"):
        iter_conll(str(tmp_path / "missing.txt"), scheme="bilou")


# Bytes.

def test_invalid_utf8_is_an_error_or_the_replacement_character(tmp_path):
    path = conll_file(tmp_path, b"A O\nK\xf6ln B-LOC\n")
    with raises_at(
            path, 2, "invalid UTF-8 bytes b'\\xf6' at byte offset 1 of the line (5 of the file)"):
        list(iter_conll(path))
    assert list(iter_conll(path, encoding_errors="replace")) == [
        (["A", "K\ufffdln"], ["O", "B-LOC"])]


# Streaming and the tf.data.Dataset.

MALFORMED_LINE_5 = "EU B-ORG\n\nPeter B-PER\n\nrejects\n"


def test_sentences_before_a_malformed_line_are_streamed_before_it_fails(tmp_path):
    path = conll_file(tmp_path, MALFORMED_LINE_5)
    sentences = iter_conll(path)
    assert next(sentences) == (["EU"], ["B-ORG"])
    assert next(sentences) == (["Peter"], ["B-PER"])
    with raises_at(path, 5, "expected 2 whitespace-separated columns, as on line 1, got 1"):
        next(sentences)


def test_dataset_streams_and_fails_with_file_and_line_only_when_it_reaches_them(tmp_path):
    path = conll_file(tmp_path, MALFORMED_LINE_5)
    dataset = read_conll(path)
    assert dataset.element_spec == {
        "tokens": tf.TensorSpec((None,), tf.string),
        "tags": tf.TensorSpec((None,), tf.string),
    }
    assert [
        (element["tokens"].tolist(), element["tags"].tolist())
        for element in dataset.take(2).as_numpy_iterator()
    ] == [([b"EU"], [b"B-ORG"]), ([b"Peter"], [b"B-PER"])]
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            f"{path}:5: expected 2 whitespace-separated columns")):
        list(dataset)


def dataset_sentences(dataset):
    """The elements of a `read_conll` dataset as `(tokens, tags)` lists of str."""
    return [
        ([token.decode("utf-8") for token in element["tokens"]],
         [tag.decode("utf-8") for tag in element["tags"]])
        for element in dataset.as_numpy_iterator()
    ]


@pytest.fixture(params=[5, errors.BLOCK_BYTES], ids=lambda size: f"{size}-byte blocks")
def block_bytes(request, monkeypatch):
    """Reads files in blocks of this many bytes, so sentences cross block boundaries."""
    monkeypatch.setattr(errors, "BLOCK_BYTES", request.param)
    return request.param


TRICKY_FILES = [
    ("iob1", CONLL_2003, "iob1", [
        (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["BRUSSELS"], ["B-LOC"]),
    ]),
    ("bioes", "New B-LOC\nYork E-LOC\nAnn S-PER\n\nBob S-PER\nLee B-PER\nKim E-PER\n", "bioes", [
        (["New", "York", "Ann"], ["B-LOC", "I-LOC", "B-PER"]),
        (["Bob", "Lee", "Kim"], ["B-PER", "B-PER", "I-PER"]),
    ]),
    ("auto per sentence", "A I-PER\nB B-PER\n\nC S-LOC\n\nD B-X\nE E-X", "auto", [
        (["A", "B"], ["B-PER", "B-PER"]), (["C"], ["B-LOC"]), (["D", "E"], ["B-X", "I-X"]),
    ]),
    ("crlf, tabs, no final newline", "\ufeffA\tB-PER\r\nB \t I-PER\r\n\r\n\r\nC\tO", "iob2", [
        (["A", "B"], ["B-PER", "I-PER"]), (["C"], ["O"]),
    ]),
    ("unicode", "Köln B-LOC\n10\u00a0000 O\n東京 B-LOC\n", "auto", [
        (["Köln", "10\u00a0000", "東京"], ["B-LOC", "O", "B-LOC"]),
    ]),
]


@pytest.mark.parametrize(
    "content, scheme, sentences", [case[1:] for case in TRICKY_FILES],
    ids=[case[0] for case in TRICKY_FILES])
def test_tricky_files_give_the_same_sentences_in_python_and_in_the_dataset(
        tmp_path, block_bytes, content, scheme, sentences):
    path = conll_file(tmp_path, content)
    assert list(iter_conll(path, scheme=scheme)) == sentences
    assert dataset_sentences(read_conll(path, scheme=scheme)) == sentences


@pytest.mark.parametrize(
    "content, line_number, problem",
    [
        ("A B-PER\nB I-PER\n\nC B-LOC\nD\n", 5,
         "expected 2 whitespace-separated columns, as on line 1, got 1: \'D\'"),
        ("A B-PER\nB I-PER\n\nC B-LOC\nD X-LOC\nE O\n", 5,
         "tag \'X-LOC\' at position 1 is not valid in iob1 (detected by scheme=\'auto\')"),
        ("A B-PER\n\nB\tI-PER x\n", 3,
         "expected 2 whitespace-separated columns, as on line 1, got 3: \'B\\tI-PER x\'"),
    ],
)
def test_problems_name_the_line_across_block_boundaries(
        tmp_path, block_bytes, content, line_number, problem):
    path = conll_file(tmp_path, content)
    with raises_at(path, line_number, problem):
        list(iter_conll(path))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"{path}:{line_number}: ")):
        list(read_conll(path))


def test_the_sentence_a_problem_interrupts_is_not_produced(tmp_path):
    path = conll_file(tmp_path, "A B-PER\n\nB B-LOC\nC\nD O\n")
    sentences = iter_conll(path)
    assert next(sentences) == (["A"], ["B-PER"])
    with raises_at(path, 4, "expected 2 whitespace-separated columns"):
        next(sentences)


def test_many_chunks_keep_sentences_whole_and_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "BLOCK_BYTES", 64)
    sentences = [([f"w{i}", f"x{i}", f"y{i}"][:1 + i % 3], ["B-PER", "I-PER", "O"][:1 + i % 3])
                 for i in range(500)]
    content = "\n\n".join(
        "\n".join(f"{token} NN {tag}" for token, tag in zip(*sentence)) for sentence in sentences)
    assert list(iter_conll(conll_file(tmp_path, content))) == sentences
