"""Tests for keras_simpletf/data/movielens.py: MovieLens 100K u.item, u.data and its splits, on small files."""

import logging
import re

import numpy as np
import pytest

from keras_simpletf.data.errors import DataError
from keras_simpletf.data.movielens import (
    MOVIELENS_GENRES,
    MOVIELENS_SPLITS,
    load_movielens_100k,
    load_movielens_items,
    load_movielens_ratings,
)


def movie_line(item_id, title, genres, date="01-Jan-1995"):
    flags = ["1" if genre in genres else "0" for genre in MOVIELENS_GENRES]
    return f"{item_id}|{title}|{date}||http://us.imdb.com/M/title-exact?x|" + "|".join(flags)


# Lines as in the real files: Latin-1 titles, an "unknown" movie with no date.
U_ITEM = "\n".join([
    movie_line(1, "Toy Story (1995)", {"Animation", "Children's", "Comedy"}),
    movie_line(2, "GoldenEye (1995)", {"Action", "Adventure", "Thriller"}),
    movie_line(3, "Cité des enfants perdus, La (1995)", {"Adventure", "Sci-Fi"}),
    movie_line(267, "unknown", {"unknown"}, date=""),
]) + "\n"
U_DATA = "196\t1\t3\t881250949\n186\t3\t4\t891717742\n22\t2\t1\t878887116\n196\t999\t5\t881250950\n"


def write_ml_100k(tmp_path, u_item=U_ITEM, u_data=U_DATA):
    (tmp_path / "u.item").write_bytes(u_item.encode("latin-1"))
    (tmp_path / "u.data").write_text(u_data)
    return tmp_path


def test_u_item_texts_are_title_and_genres(tmp_path):
    catalogue = load_movielens_items(write_ml_100k(tmp_path) / "u.item")
    assert list(catalogue.item_ids) == ["1", "2", "3", "267"]
    assert catalogue.texts == [
        "Toy Story (1995). Animation, Children's, Comedy",
        "GoldenEye (1995). Action, Adventure, Thriller",
        "Cité des enfants perdus, La (1995). Adventure, Sci-Fi",
        "unknown",
    ]


def test_u_data_ratings_and_unknown_movies_are_reported(tmp_path):
    ratings = load_movielens_100k(write_ml_100k(tmp_path))
    log, [report] = ratings.base, ratings.reports
    assert ratings.test is None
    assert list(log.user_ids) == ["196", "186", "22"]
    assert list(log.item_ids) == ["1", "3", "2"]
    np.testing.assert_array_equal(log.labels, [3, 4, 1])
    np.testing.assert_array_equal(log.timestamps, [881250949, 891717742, 878887116])
    assert report.interactions == 1 and report.examples == [(4, "999")]
    problem = "left out 1 interaction whose item is not in the item catalogue (1 distinct item)"
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'u.data'}:4: {problem}")):
        load_movielens_100k(tmp_path, on_unknown_items="error")


@pytest.mark.parametrize("split", MOVIELENS_SPLITS)
def test_a_standard_split_reads_its_base_and_test_parts_over_one_catalogue(tmp_path, split):
    write_ml_100k(tmp_path)
    (tmp_path / f"{split}.base").write_text("196\t1\t3\t881250949\n186\t3\t4\t891717742\n")
    (tmp_path / f"{split}.test").write_text("22\t2\t1\t878887116\n196\t999\t5\t881250950\n")
    ratings = load_movielens_100k(tmp_path, split=split)
    assert list(ratings.base.item_ids) == ["1", "3"] and list(ratings.test.item_ids) == ["2"]
    assert ratings.base.catalogue is ratings.test.catalogue
    assert [report.interactions for report in ratings.reports] == [0, 1]
    assert ratings.reports[1].path == str(tmp_path / f"{split}.test")


def test_a_split_whose_test_part_is_held_out_reads_the_base_and_says_so(tmp_path, caplog):
    write_ml_100k(tmp_path)
    (tmp_path / "ua.base").write_text("196\t1\t3\t881250949\n")
    with caplog.at_level(logging.WARNING):
        ratings = load_movielens_100k(tmp_path, split="ua")
    assert len(ratings.base) == 1 and ratings.test is None and len(ratings.reports) == 1
    assert f"{tmp_path / 'ua.test'} is absent: read ua.base only" in caplog.text


def test_a_missing_base_file_or_an_unknown_split_is_an_error(tmp_path):
    write_ml_100k(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'ub.base'} does not exist")):
        load_movielens_100k(tmp_path, split="ub")
    with pytest.raises(ValueError, match="`split`"):
        load_movielens_100k(tmp_path, split="u6")


@pytest.mark.parametrize("line, problem", [
    ("1|Toy Story (1995)|01-Jan-1995", "expected 24 '|'-separated fields"),
    (movie_line(1, "Toy", set()).replace("|0|", "|2|", 1), "genre flag 'unknown' is '2'"),
    (movie_line(" ", "Toy", set()), "the movie id is empty"),
])
def test_malformed_u_item_lines_name_file_and_line(tmp_path, line, problem):
    path = write_ml_100k(tmp_path, u_item=U_ITEM + line + "\n") / "u.item"
    with pytest.raises(DataError, match="^" + re.escape(f"{path}:5: ") + ".*" + re.escape(problem)):
        load_movielens_items(path)


def test_a_movie_defined_twice_is_an_error(tmp_path):
    path = write_ml_100k(tmp_path, u_item=U_ITEM + movie_line(2, "Again", set()) + "\n") / "u.item"
    problem = "movie id '2' was already defined on line 2"
    with pytest.raises(DataError, match=re.escape(f"{path}:5: {problem}")):
        load_movielens_items(path)


def test_malformed_u_data_lines_name_file_and_line(tmp_path):
    write_ml_100k(tmp_path, u_data=U_DATA + "5\t1\tgood\t881250949\n")
    catalogue = load_movielens_items(tmp_path / "u.item")
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'u.data'}:5: label 2 is 'good'")):
        load_movielens_ratings(tmp_path / "u.data", catalogue)
    write_ml_100k(tmp_path, u_data="5\t1\t3\n")
    problem = "column index 3 is out of range"
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'u.data'}:1: {problem}")):
        load_movielens_ratings(tmp_path / "u.data", catalogue)
