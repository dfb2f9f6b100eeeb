"""Tests for keras_simpletf/data/classification.py: TSV/CSV/JSONL labelled sentences, streamed."""

import re

import pytest
import tensorflow as tf

from keras_simpletf.data import errors
from keras_simpletf.data.classification import iter_classification, read_classification
from tests.data.files import data_file, raises_at


# Columns and headers.

def test_tsv_columns_by_name_in_any_order(tmp_path):
    path = data_file(
        tmp_path, "train.tsv", "label\ttext\npositive\tA fine film\nnegative\tDull.\n")
    assert list(iter_classification(path)) == [
        ("A fine film", "positive"), ("Dull.", "negative")]


def test_columns_by_index_read_every_row_as_data_by_default(tmp_path):
    path = data_file(tmp_path, "train.tsv", "A fine film\tpositive\nDull.\tnegative\n")
    assert list(iter_classification(path, text_column=0, label_column=-1)) == [
        ("A fine film", "positive"), ("Dull.", "negative")]


def test_columns_by_index_skip_the_header_when_told(tmp_path):
    path = data_file(tmp_path, "train.tsv", "sentence\tclass\nA fine film\tpositive\n")
    assert list(iter_classification(path, text_column=0, label_column=1, header=True)) == [
        ("A fine film", "positive")]


def test_named_columns_need_a_header_row(tmp_path):
    path = data_file(tmp_path, "train.tsv", "A fine film\tpositive\n")
    with pytest.raises(ValueError, match="needs a header row, but header=False"):
        iter_classification(path, header=False)


def test_a_header_without_the_named_columns_is_an_error_at_line_1_listing_its_names(tmp_path):
    path = data_file(tmp_path, "train.tsv", "sentence\tlabel\nA fine film\tpositive\n")
    with raises_at(path, 1, "the header has no column ['text']; expected a header row "
                   "naming the columns, got the names ['sentence', 'label']"):
        next(iter_classification(path))


def test_a_column_index_out_of_range_is_an_error_at_the_first_row(tmp_path):
    path = data_file(tmp_path, "train.tsv", "\n\nA fine film\tpositive\n")
    with raises_at(path, 3, "column index 2 is out of range; the row has 2 fields"):
        next(iter_classification(path, text_column=0, label_column=2))


def test_text_pairs_come_between_text_and_label(tmp_path):
    path = data_file(
        tmp_path, "pairs.tsv",
        "premise\thypothesis\tlabel\nA man sleeps.\tA man rests.\tentailment\n")
    assert list(iter_classification(path, "premise", "label", "hypothesis")) == [
        ("A man sleeps.", "A man rests.", "entailment")]


# Formats.

def test_csv_quoted_fields_hold_delimiters_quotes_and_newlines(tmp_path):
    path = data_file(
        tmp_path, "train.csv",
        'text,label\n"Hello, world",greeting\n"two\nlines, ""quoted""",multi\nlast,x\n')
    assert list(iter_classification(path)) == [
        ("Hello, world", "greeting"), ('two\nlines, "quoted"', "multi"), ("last", "x")]


def test_csv_records_are_numbered_by_their_first_line(tmp_path):
    path = data_file(tmp_path, "train.csv", 'text,label\n"two\nlines",a\nbad,row,here\n')
    with raises_at(path, 4, "expected 2 comma-separated fields, as on line 1, got 3"):
        list(iter_classification(path))


def test_a_malformed_csv_quote_is_an_error_at_its_record(tmp_path):
    path = data_file(tmp_path, "train.csv", 'text,label\ngood,a\n"unclosed,b\nmore,c\n')
    with raises_at(path, 3, "malformed CSV record (unexpected end of data)"):
        list(iter_classification(path))


def test_tsv_fields_are_never_quoted(tmp_path):
    path = data_file(tmp_path, "train.tsv", 'text\tlabel\n"Great" he said, "really"\tpositive\n')
    assert list(iter_classification(path)) == [('"Great" he said, "really"', "positive")]


def test_jsonl_labels_may_be_strings_or_numbers_and_blank_lines_are_skipped(tmp_path):
    path = data_file(
        tmp_path, "train.jsonl",
        '{"text": "A fine film", "label": "positive", "id": 7}\n\n  \n'
        '{"label": 3, "text": "Dull."}\n')
    assert list(iter_classification(path)) == [("A fine film", "positive"), ("Dull.", "3")]


def test_jsonl_multi_label_from_lists_and_separated_strings(tmp_path):
    path = data_file(
        tmp_path, "topics.jsonl",
        '{"body": "Match report", "topics": ["sport", "", "news"]}\n'
        '{"body": "Budget vote", "topics": "politics, ,economy,"}\n'
        '{"body": "Weather", "topics": 5}\n')
    records = iter_classification(path, "body", "topics", label_separator=",")
    assert list(records) == [
        ("Match report", ["sport", "news"]),
        ("Budget vote", ["politics", "economy"]),
        ("Weather", ["5"]),
    ]


def test_tsv_multi_label(tmp_path):
    path = data_file(tmp_path, "topics.tsv", "text\tlabel\nMatch report\tsport|news\n")
    assert list(iter_classification(path, label_separator="|")) == [
        ("Match report", ["sport", "news"])]


@pytest.mark.parametrize(
    "name, records",
    [
        ("a.txt", "text\tlabel\nx\ty\n"),
        ("a.TSV", "text\tlabel\nx\ty\n"),
        ("a.csv", "text,label\nx,y\n"),
        ("a.ndjson", '{"text": "x", "label": "y"}\n'),
    ],
)
def test_file_format_is_inferred_from_the_extension(tmp_path, name, records):
    assert list(iter_classification(data_file(tmp_path, name, records))) == [("x", "y")]


def test_an_unknown_extension_needs_an_explicit_file_format(tmp_path):
    path = data_file(tmp_path, "train.dat", "text,label\nx,y\n")
    with pytest.raises(ValueError, match=r"pass `file_format`, one of \['tsv', 'csv', 'jsonl'\]"):
        iter_classification(path)
    assert list(iter_classification(path, file_format="csv")) == [("x", "y")]


def test_jsonl_columns_must_be_names(tmp_path):
    path = data_file(tmp_path, "train.jsonl", '{"text": "x", "label": "y"}\n')
    with pytest.raises(ValueError, match="columns must be key names"):
        iter_classification(path, text_column=0)


# Values.

def test_empty_texts_are_valid_and_labels_are_stripped(tmp_path):
    path = data_file(tmp_path, "train.tsv", "text\tlabel\n\t positive \n   \tnegative\n")
    assert list(iter_classification(path)) == [("", "positive"), ("   ", "negative")]


@pytest.mark.parametrize(
    "name, content, line_number, problem",
    [
        ("a.tsv", "text\tlabel\nx\ty\nx\t \n", 3, "label 'label' is empty; expected a class name"),
        ("a.tsv", "text\tlabel\nx\ty\nx\ty\tz\n", 3,
         "expected 2 tab-separated fields, as on line 1, got 3"),
        ("a.tsv", "text\tlabel\nx\ty\nno tab\n", 3,
         "expected 2 tab-separated fields, as on line 1, got 1"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n\n{"text": "x", "label": }\n', 3,
         "invalid JSON (Expecting value at column 24); expected one JSON object per line"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n["x", "y"]\n', 2,
         'expected a JSON object {...} per line, got ["x", "y"]'),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": "x"}\n', 2,
         "the object has no key ['label']; expected the keys ['text', 'label'], got ['text']"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": null, "label": "y"}\n', 2,
         "text 'text' is None; expected a string"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": "x", "label": ["y"]}\n', 2,
         "label 'label' is ['y']; expected a string, a number or, with `label_separator`, "
         "a list of strings"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": "x", "label": true}\n', 2,
         "label 'label' is True; expected a string"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": "x", "label": ""}\n', 2,
         "label 'label' is empty"),
    ],
)
def test_a_malformed_line_is_an_error_naming_file_line_and_expectation(
        tmp_path, name, content, line_number, problem):
    path = data_file(tmp_path, name, content)
    with raises_at(path, line_number, problem):
        list(iter_classification(path))


def test_an_empty_multi_label_is_an_error(tmp_path):
    path = data_file(tmp_path, "a.tsv", "text\tlabel\nx\t , ,\n")
    with raises_at(path, 2, "label 'label' is empty"):
        list(iter_classification(path, label_separator=","))


# Bytes.

def test_invalid_utf8_is_an_error_naming_line_and_byte_offset(tmp_path):
    path = data_file(tmp_path, "train.tsv", b"text\tlabel\ncaf\xe9\tpositive\n")
    with raises_at(path, 2, "invalid UTF-8 bytes b'\\xe9' at byte offset 3 of the line "
                   "(14 of the file); expected UTF-8 text, or pass encoding_errors='replace'"):
        list(iter_classification(path))


def test_invalid_utf8_can_be_replaced_by_the_replacement_character(tmp_path):
    path = data_file(tmp_path, "train.tsv", b"text\tlabel\ncaf\xe9\tpositive\n")
    assert list(iter_classification(path, encoding_errors="replace")) == [
        ("caf\ufffd", "positive")]


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = data_file(tmp_path, "excel.csv", "\ufefftext,label\nx,y\n")
    assert list(iter_classification(path)) == [("x", "y")]


# Streaming and the tf.data.Dataset.

MALFORMED_LINE_3 = "A fine film\tpositive\nDull.\tnegative\nno label here\n"


def test_records_before_a_malformed_line_are_streamed_before_it_fails(tmp_path):
    path = data_file(tmp_path, "train.tsv", MALFORMED_LINE_3)
    records = iter_classification(path, text_column=0, label_column=1)
    assert next(records) == ("A fine film", "positive")
    assert next(records) == ("Dull.", "negative")
    with raises_at(path, 3, "expected 2 tab-separated fields, as on line 1, got 1"):
        next(records)


def test_dataset_streams_and_fails_with_file_and_line_only_when_it_reaches_them(tmp_path):
    path = data_file(tmp_path, "train.tsv", MALFORMED_LINE_3)
    dataset = read_classification(path, text_column=0, label_column=1)
    assert list(dataset.take(2).as_numpy_iterator()) == [
        {"text": b"A fine film", "label": b"positive"},
        {"text": b"Dull.", "label": b"negative"},
    ]
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
            f"{path}:3: expected 2 tab-separated fields, as on line 1, got 1")):
        list(dataset)


def test_dataset_elements_with_text_pairs_and_multi_labels(tmp_path):
    path = data_file(tmp_path, "pairs.tsv", "a\tb\tlabel\nx\ty\tp,q\n")
    dataset = read_classification(path, "a", "label", "b", label_separator=",")
    assert dataset.element_spec == {
        "text": tf.TensorSpec((), tf.string),
        "text_pair": tf.TensorSpec((), tf.string),
        "label": tf.TensorSpec((None,), tf.string),
    }
    [element] = dataset.as_numpy_iterator()
    assert (element["text"], element["text_pair"], element["label"].tolist()) == (
        b"x", b"y", [b"p", b"q"])


def test_dataset_checks_its_arguments_when_built(tmp_path):
    with pytest.raises(ValueError, match="`encoding_errors` must be one of"):
        read_classification(str(tmp_path / "a.tsv"), encoding_errors="ignore")


def dataset_records(dataset):
    """The elements of a `read_classification` dataset as tuples of str (lists for multi-label)."""
    def text(value):
        return value.decode("utf-8") if isinstance(value, bytes) else [
            part.decode("utf-8") for part in value]

    return [tuple(text(value) for value in element.values())
            for element in dataset.as_numpy_iterator()]


@pytest.fixture(params=[7, errors.BLOCK_BYTES], ids=lambda size: f"{size}-byte blocks")
def block_bytes(request, monkeypatch):
    """Reads files in blocks of this many bytes, so records and lines cross block boundaries."""
    monkeypatch.setattr(errors, "BLOCK_BYTES", request.param)
    return request.param


TRICKY_FILES = [
    ("quotes.tsv", 'text\tlabel\n"Great" he said, "really"\tpos\nit\'s\tneg\n',
     {}, [('"Great" he said, "really"', "pos"), ("it's", "neg")]),
    ("empty.tsv", "text\tlabel\n\tpos\n  \tneg\n", {}, [("", "pos"), ("  ", "neg")]),
    ("unicode.tsv", "text\tlabel\ncafé 😀 10\u00a0000\t\u3000pos\u00a0\n", {},
     [("café 😀 10\u00a0000", "pos")]),
    ("crlf.tsv", "text\tlabel\r\nA fine film\tpos\r\n\r\nDull.\tneg\r\n", {},
     [("A fine film", "pos"), ("Dull.", "neg")]),
    ("no_final_newline.tsv", "\ufefftext\tlabel\na\tb\nc\td", {}, [("a", "b"), ("c", "d")]),
    ("multiline.csv",
     'text,label\r\n"two\r\nlines, ""quoted""",a\r\n"",b\r\n\r\n"x,\n\ny","p,q"\n',
     {"label_separator": ","},
     [('two\r\nlines, "quoted"', ["a"]), ("", ["b"]), ("x,\n\ny", ["p", "q"])]),
    ("values.jsonl", '{"text": "caf\\u00e9\\n", "label": 2.5}\r\n\n{"label": 3, "text": ""}', {},
     [("café\n", "2.5"), ("", "3")]),
]


@pytest.mark.parametrize(
    "name, content, options, records", TRICKY_FILES, ids=[case[0] for case in TRICKY_FILES])
def test_tricky_files_give_the_same_records_in_python_and_in_the_dataset(
        tmp_path, block_bytes, name, content, options, records):
    path = data_file(tmp_path, name, content)
    assert list(iter_classification(path, **options)) == records
    assert dataset_records(read_classification(path, **options)) == records


def test_many_chunks_keep_order_and_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "BLOCK_BYTES", 100)
    rows = [f"text {i}\tlabel {i % 3}\n" for i in range(2000)]
    path = data_file(tmp_path, "train.tsv", "text\tlabel\n" + "".join(rows) + "bad row\n")
    records = iter_classification(path)
    assert [next(records) for _ in range(2000)] == [
        (f"text {i}", f"label {i % 3}") for i in range(2000)]
    with raises_at(path, 2002, "expected 2 tab-separated fields, as on line 1, got 1"):
        next(records)


@pytest.mark.parametrize(
    "name, content, line_number, problem",
    [
        ("a.csv", 'text,label\nfine,a\n5" screen,b\n', 3,
         "malformed CSV record (\'\"\' inside an unquoted field); expected fields quoted as in "
         'RFC 4180, with a quote inside a quoted field doubled ("")'),
        ("a.csv", 'text,label\nfine,a\n"x"y,b\n', 3,
         "malformed CSV record (\',\' expected after \'\"\')"),
        ("a.csv", 'text,label\nfine,a\n"open\n\nstill open,b\n', 3,
         "malformed CSV record (unexpected end of data)"),
        ("a.jsonl", '{"text": "x", "label": "y"}\n{"text": "\\ud800", "label": "y"}\n', 2,
         "the text \'\\ud800\' holds an unpaired surrogate; expected text that UTF-8 can encode"),
        ("a.tsv", b"text\tlabel\r\nx\ty\r\ncaf\xe9\ty\r\n", 3,
         "invalid UTF-8 bytes b\'\\xe9\' at byte offset 3 of the line (20 of the file)"),
    ],
)
def test_problems_name_the_line_across_block_boundaries(
        tmp_path, block_bytes, name, content, line_number, problem):
    path = data_file(tmp_path, name, content)
    with raises_at(path, line_number, problem):
        list(iter_classification(path))
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"{path}:{line_number}: ")):
        list(read_classification(path))


@pytest.mark.parametrize(
    "name, content, line_number",
    [
        ("a.csv", 'text,label\ngood,a\n"no,\nend,b\n', 3),
        ("a.jsonl", '{"text": "good", "label": "a"}\n{"text": "x"\n', 2),
        ("a.tsv", "text\tlabel\ngood\ta\nno label\n", 3),
    ],
)
def test_every_format_streams_the_records_before_a_problem(tmp_path, name, content, line_number):
    path = data_file(tmp_path, name, content)
    iterator = iter(read_classification(path))
    assert next(iterator) == {"text": b"good", "label": b"a"}
    with pytest.raises(
            tf.errors.InvalidArgumentError, match=re.escape(f"{path}:{line_number}: ")):
        next(iterator)


def test_a_missing_file_is_an_error_when_the_dataset_is_built(tmp_path):
    with pytest.raises(tf.errors.NotFoundError):
        read_classification(str(tmp_path / "missing.tsv"))


def test_an_unclosed_quote_is_an_error_at_its_line_before_the_rest_of_the_file_is_held(
        tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "BLOCK_BYTES", 1 << 16)
    path = data_file(tmp_path, "a.csv", 'text,label\n"open,a\n' + "more,b\n" * 50_000)
    with raises_at(path, 2, "malformed CSV record (field larger than field limit (131072))"):
        list(iter_classification(path))
