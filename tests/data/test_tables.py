"""Tests for keras_simpletf/data/tables.py: CSV rows as Python's `csv` module reads them, TSV blank lines."""

import csv

import pytest

from keras_simpletf.data import errors
from keras_simpletf.data.tables import iter_rows
from tests.data.files import data_file, raises_at


def python_csv_rows(path):
    """The rows `csv.reader` gives, the empty rows of empty lines left out."""
    with open(path, newline="", encoding="utf-8") as file:
        return [row for row in csv.reader(file) if row]


def csv_rows(path, width):
    """The rows `iter_rows` gives of every one of `width` columns, without a header."""
    return [values for _, values in iter_rows(path, list(range(width)), "csv", header=False)]


@pytest.fixture(params=[7, errors.BLOCK_BYTES], ids=lambda size: f"{size}-byte blocks")
def block_bytes(request, monkeypatch):
    """Reads files in blocks of this many bytes, so records and lines cross block boundaries."""
    monkeypatch.setattr(errors, "BLOCK_BYTES", request.param)
    return request.param


def test_a_quoted_empty_field_alone_on_a_line_is_a_row_as_in_python_csv(tmp_path, block_bytes):
    path = data_file(tmp_path, "a.csv", 'a\n""\n\nb\n""')
    assert csv_rows(path, 1) == python_csv_rows(path) == [["a"], [""], ["b"], [""]]


def test_a_csv_line_of_whitespace_is_a_field_and_an_empty_line_is_skipped_as_in_python_csv(
        tmp_path, block_bytes):
    path = data_file(tmp_path, "a.csv", "a\n   \n\r\n\n\t\nb\n")
    assert csv_rows(path, 1) == python_csv_rows(path) == [["a"], ["   "], ["\t"], ["b"]]


def test_a_csv_line_of_whitespace_is_a_row_of_one_field(tmp_path):
    path = data_file(tmp_path, "a.csv", "a,b\n  \nc,d\n")
    with raises_at(path, 2, "expected 2 comma-separated fields, as on line 1, got 1"):
        csv_rows(path, 2)


def test_tsv_lines_of_whitespace_are_blank_lines_and_skipped(tmp_path, block_bytes):
    path = data_file(tmp_path, "a.tsv", "a\tb\n   \n\r\n\u3000\nc\td\r\n")
    assert list(iter_rows(path, [1, 0], header=False)) == [(1, ["b", "a"]), (5, ["d", "c"])]


def test_line_breaks_inside_a_quoted_csv_field_are_kept_verbatim_as_in_python_csv(
        tmp_path, block_bytes):
    path = data_file(
        tmp_path, "a.csv", '"x\r\ny",z\r\n"p\rq",w\n"a\nb\r\n",c\r\n"\r\n""d\r\n",""\r\n')
    assert csv_rows(path, 2) == python_csv_rows(path) == [
        ["x\r\ny", "z"], ["p\rq", "w"], ["a\nb\r\n", "c"], ['\r\n"d\r\n', ""]]
    assert [line for line, _ in iter_rows(path, [0], "csv", header=False)] == [1, 3, 4, 7]


def test_a_csv_field_of_as_many_characters_as_the_field_limit_is_read_across_blocks(
        tmp_path, monkeypatch):
    # 130,130 characters of 260,130 bytes, over several blocks: no longer than the limit.
    monkeypatch.setattr(errors, "BLOCK_BYTES", 1 << 16)
    field = ("é" * 1000 + "\n") * 130
    path = data_file(tmp_path, "a.csv", f'text,label\n"{field}",a\nnext,b\n')
    assert csv_rows(path, 2) == python_csv_rows(path) == [
        ["text", "label"], [field, "a"], ["next", "b"]]


def test_a_csv_field_of_the_field_limit_with_doubled_quotes_is_read(tmp_path):
    field = '"' * 131072
    path = data_file(tmp_path, "a.csv", f'"{field * 2}",a\n')
    assert csv_rows(path, 2) == python_csv_rows(path) == [[field, "a"]]


@pytest.mark.parametrize("field", [
    "x" * 131073,
    '"' + "x\n" * 65536 + 'y"',
    '"' + "é" * 131073 + '"',
], ids=["unquoted", "quoted over lines", "quoted, two bytes a character"])
def test_a_csv_field_longer_than_the_field_limit_is_an_error_at_its_record(tmp_path, field):
    path = data_file(tmp_path, "a.csv", f"text,label\ngood,a\n{field},b\nnext,c\n")
    with pytest.raises(csv.Error, match=r"field larger than field limit \(131072\)"):
        python_csv_rows(path)
    rows = iter_rows(path, [0], "csv", header=True)
    assert next(rows) == (2, ["good"])
    with raises_at(path, 3, "malformed CSV record (field larger than field limit (131072))"):
        next(rows)


def test_an_unclosed_quote_before_the_field_limit_is_an_error_at_the_end_of_data(
        tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "BLOCK_BYTES", 1 << 16)
    path = data_file(tmp_path, "a.csv", 'text,label\n"open,a\n' + "more,é\n" * 18_000)
    with raises_at(path, 2, "malformed CSV record (unexpected end of data)"):
        csv_rows(path, 2)
