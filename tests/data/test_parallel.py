"""Tests for keras_simpletf/data/parallel.py: text pairs from aligned files, TSV and JSONL; length filters."""

import pytest

from keras_simpletf.data import LengthFilter, iter_parallel
from tests.data.files import data_file, raises_at


def test_line_aligned_files_pair_line_by_line_with_crlf_and_umlauts(tmp_path):
    english = data_file(tmp_path, "train.en", "Two men.\r\nA girl runs.\r\n")
    german = data_file(tmp_path, "train.de", "Zwei Männer.\nEin Mädchen läuft.")
    assert list(iter_parallel([english, german])) == [
        ("Two men.", "Zwei Männer."), ("A girl runs.", "Ein Mädchen läuft.")]


@pytest.mark.parametrize("longer", ["source", "target"])
def test_line_aligned_files_of_different_lengths_fail_naming_both(tmp_path, longer):
    source = data_file(tmp_path, "train.en", "a\nb\n" + ("c\n" if longer == "source" else ""))
    target = data_file(tmp_path, "train.de", "x\ny\n" + ("z\n" if longer == "target" else ""))
    long_path, short_path = (source, target) if longer == "source" else (target, source)
    pairs = iter_parallel([source, target])
    assert [next(pairs), next(pairs)] == [("a", "x"), ("b", "y")]
    with raises_at(long_path, 3, f"{short_path} ends before this line, {long_path} has 1 more"):
        next(pairs)


def test_an_empty_line_in_aligned_files_is_named(tmp_path):
    source = data_file(tmp_path, "train.en", "a\n\nc\n")
    target = data_file(tmp_path, "train.de", "x\ny\nz\n")
    pairs = iter_parallel([source, target])
    assert next(pairs) == ("a", "x")  # streamed: the pairs before the bad line come first
    with raises_at(source, 2, "empty line"):
        next(pairs)


def test_tsv_pairs_skip_blank_lines_and_name_columns_with_a_header(tmp_path):
    path = data_file(tmp_path, "pairs.tsv", "one two\tzwei eins\n\nДва\t两\n")
    assert list(iter_parallel(path)) == [("one two", "zwei eins"), ("Два", "两")]
    named = data_file(tmp_path, "named.tsv", "de\ten\nHaus\thouse\n")
    assert list(iter_parallel(named, fields=("en", "de"))) == [("house", "Haus")]
    ragged = data_file(tmp_path, "ragged.tsv", "a\tb\nc\n")
    with raises_at(ragged, 2, "expected 2 tab-separated fields"):
        list(iter_parallel(ragged))


def test_jsonl_pairs_under_configurable_keys_and_bad_records_named(tmp_path):
    path = data_file(
        tmp_path, "dialogsum.jsonl",
        '{"dialogue": "#Person1#: Hi. #Person2#: Hello.", "summary": "They greet."}\n'
        '{"dialogue": "A: Tschüss.", "summary": 3}\n',
    )
    pairs = iter_parallel(path, fields=("dialogue", "summary"))
    assert next(pairs) == ("#Person1#: Hi. #Person2#: Hello.", "They greet.")
    with raises_at(path, 2, "field 'summary' holds int 3; expected text"):
        next(pairs)
    with raises_at(path, 1, "the object has no key ['source', 'target']"):
        list(iter_parallel(path))


def test_invalid_utf8_is_named_by_file_and_line(tmp_path):
    source = data_file(tmp_path, "train.en", b"fine\nbad \xff byte\n")
    target = data_file(tmp_path, "train.de", "gut\nschlecht\n")
    with raises_at(source, 2, "invalid UTF-8 bytes"):
        list(iter_parallel([source, target]))


def test_arguments_that_cannot_work_are_refused_at_once(tmp_path):
    with pytest.raises(ValueError, match="two files"):
        iter_parallel(["a.en", "b.de", "c.fr"])
    with pytest.raises(ValueError, match="TSV or JSONL files"):
        list(iter_parallel(data_file(tmp_path, "pairs.csv", "a,b\n")))
    with pytest.raises(ValueError, match="positive int"):
        LengthFilter(max_source_length=0)


def test_length_filter_drops_long_and_empty_pairs_and_reports_how_many():
    pairs = [("a b", "x"), ("a b c d", "y"), ("a", "x y z"), ("", "x"), ("c", "z")]
    length_filter = LengthFilter(max_source_length=3, max_target_length=2)
    assert list(length_filter(pairs)) == [("a b", "x"), ("c", "z")]
    assert length_filter.kept == 2 and sum(length_filter.dropped.values()) == 3
    assert length_filter.report() == (
        "kept 2 of 5 pairs; dropped 3: source empty (1), source longer than 3 (1), "
        "target longer than 2 (1)")
    characters = LengthFilter(max_target_length=3, length=len)
    assert list(characters([("a", "两个男"), ("a", "两个男人")])) == [("a", "两个男")]
    assert characters.report() == "kept 1 of 2 pairs; dropped 1: target longer than 3 (1)"
    sides = LengthFilter(max_source_length=2, max_target_length=2, target_length=len)
    assert list(sides([("a b", "xy"), ("a b", "xyz")])) == [("a b", "xy")]
