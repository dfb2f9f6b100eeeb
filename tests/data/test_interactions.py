"""Tests for keras_simpletf/data/interactions.py: interaction and item files, the in-memory log."""

import logging
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data.interactions import (
    Interaction,
    InteractionLog,
    ItemCatalogue,
    iter_interactions,
    iter_items,
    load_catalogue,
    load_interactions,
    read_interactions,
    read_items,
)
from tests.data.files import data_file, raises_at


CATALOGUE = ItemCatalogue(["i1", "i2", "i3"], ["Moon walk", "Cookbook", "Rocket"])


# Interaction files.

def test_columns_by_name_with_label_and_timestamp(tmp_path):
    path = data_file(tmp_path, "r.csv", "time,item,user,rating\n100,i1,u1,4.5\n90,i2,u2,1\n")
    assert list(iter_interactions(path, "user", "item", "rating", "time")) == [
        Interaction("u1", "i1", 4.5, 100.0), Interaction("u2", "i2", 1.0, 90.0)]


def test_without_label_every_interaction_is_a_positive_and_has_no_timestamp(tmp_path):
    path = data_file(tmp_path, "c.tsv", "user_id\titem_id\nu1\ti1\n")
    assert list(iter_interactions(path)) == [Interaction("u1", "i1", 1.0, None)]


def test_columns_by_index_and_jsonl_numbers_as_ids(tmp_path):
    tsv = data_file(tmp_path, "u.data", "196\t242\t3\t881250949\n")
    assert list(iter_interactions(tsv, 0, 1, 2, 3, file_format="tsv")) == [
        Interaction("196", "242", 3.0, 881250949.0)]
    jsonl = data_file(tmp_path, "c.jsonl", '{"user_id": 7, "item_id": "i1", "click": 0}\n\n')
    assert list(iter_interactions(jsonl, label_column="click")) == [
        Interaction("7", "i1", 0.0, None)]


@pytest.mark.parametrize("content, line, problem", [
    ("user_id,item_id,rating\nu1,i1,5\nu2,i2\n", 3, "expected 3 comma-separated fields"),
    ("user_id,item_id,rating\nu1,i1,five\n", 2, "label 'rating' is 'five'; expected a finite"),
    ("user_id,item_id,rating\nu1,,5\n", 2, "item id 'item_id' is empty; expected an id"),
    ("user_id,item_id,rating\nu1,i1,nan\n", 2, "expected a finite number"),
    ("user,item_id,rating\nu1,i1,5\n", 1, "the header has no column ['user_id']"),
])
def test_malformed_rows_name_file_and_line(tmp_path, content, line, problem):
    path = data_file(tmp_path, "r.csv", content)
    with raises_at(path, line, problem):
        list(iter_interactions(path, label_column="rating"))


def test_jsonl_problems_name_the_line(tmp_path):
    path = data_file(tmp_path, "r.jsonl", '{"user_id": "u1", "item_id": "i1", "t": 1}\n'
                     '{"user_id": "u1", "item_id": true, "t": 2}\n')
    with raises_at(path, 2, "item id 'item_id' is True; expected a string or an integer"):
        list(iter_interactions(path, timestamp_column="t"))
    path = data_file(tmp_path, "s.jsonl", '{"user_id": "u1", "item_id": "i1", "t": "soon"}\n')
    with raises_at(path, 1, "timestamp 't' is 'soon'; expected a finite number"):
        list(iter_interactions(path, timestamp_column="t"))


def test_bad_arguments_fail_at_once(tmp_path):
    path = data_file(tmp_path, "r.jsonl", "")
    with pytest.raises(ValueError, match="columns must be key names"):
        iter_interactions(path, user_column=0)
    with pytest.raises(ValueError, match="Cannot infer `file_format`"):
        read_interactions(data_file(tmp_path, "r.dat", ""))
    with pytest.raises(ValueError, match="by name .str. or index .int."):
        iter_interactions(path, user_column=None)


def test_read_interactions_is_a_dataset_and_fails_with_the_line(tmp_path):
    path = data_file(tmp_path, "r.csv", "user_id,item_id,ts\nu1,i1,5\nu2,i2,6\n")
    batch = next(iter(read_interactions(path, timestamp_column="ts").batch(2)))
    assert batch["user_id"].numpy().tolist() == [b"u1", b"u2"]
    assert batch["label"].dtype == tf.float32 and batch["timestamp"].dtype == tf.float64
    np.testing.assert_array_equal(batch["timestamp"], [5.0, 6.0])
    bad = data_file(tmp_path, "bad.csv", "user_id,item_id\nu1,i1\nu2\n")
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"{bad}:3:")):
        list(read_interactions(bad))


# Item files.

def test_item_text_fields_are_joined_skipping_empty_ones(tmp_path):
    path = data_file(tmp_path, "items.csv",
                     'item_id,title,description,tags\ni1,Moon walk,"A trip, far",space\n'
                     "i2,Cookbook,,\n")
    assert list(iter_items(path, text_columns=["title", "description", "tags"])) == [
        ("i1", "Moon walk. A trip, far. space"), ("i2", "Cookbook")]


def test_jsonl_items_take_tag_lists_and_null(tmp_path):
    path = data_file(tmp_path, "items.jsonl",
                     '{"id": 1, "title": "Moon", "tags": ["a", "b"], "about": null}\n')
    assert list(iter_items(path, "id", ["title", "tags", "about"], separator=" | ")) == [
        ("1", "Moon | a b")]
    bad = data_file(tmp_path, "bad.jsonl", '{"id": 1, "title": {"en": "Moon"}}\n')
    with raises_at(bad, 1, "text field 'title' is {'en': 'Moon'}; expected a string"):
        list(iter_items(bad, "id"))


def test_text_columns_must_be_a_list(tmp_path):
    path = data_file(tmp_path, "items.csv", "item_id,title\n")
    with pytest.raises(ValueError, match=re.escape("write ['title'] for one column")):
        iter_items(path, text_columns="title")


def test_read_items_dataset(tmp_path):
    path = data_file(tmp_path, "items.tsv", "item_id\ttitle\ni1\tMoon walk\n")
    assert [{k: v.numpy() for k, v in item.items()} for item in read_items(path)] == [
        {"item_id": b"i1", "text": b"Moon walk"}]


def test_load_catalogue_rejects_a_repeated_item_id(tmp_path):
    path = data_file(tmp_path, "items.tsv", "item_id\ttitle\ni1\tA\ni2\tB\ni1\tC\n")
    with raises_at(path, 4, "item id 'i1' was already defined on line 2"):
        load_catalogue(path)
    good = data_file(tmp_path, "good.tsv", "item_id\ttitle\ni1\tA\ni2\tB\n")
    catalogue = load_catalogue(good)
    assert list(catalogue.item_ids) == ["i1", "i2"] and catalogue.texts == ["A", "B"]


# Unknown items.

def test_unknown_items_are_left_out_and_reported_with_lines(tmp_path, caplog):
    path = data_file(tmp_path, "r.csv",
                     "user_id,item_id\nu1,i1\nu1,i9\nu2,i2\nu3,i9\nu3,i8\n")
    with caplog.at_level(logging.WARNING):
        log, report = load_interactions(path, CATALOGUE)
    assert list(log.item_ids) == ["i1", "i2"] and list(log.user_ids) == ["u1", "u2"]
    assert (report.interactions, report.item_ids) == (3, ["i8", "i9"])
    assert report.examples == [(3, "i9"), (5, "i9"), (6, "i8")]
    assert str(report).startswith(f"{path}: left out 3 interactions whose item is not in the "
                                  "item catalogue (2 distinct items), e.g. line 3: 'i9'")
    assert "line 3: 'i9'" in caplog.text


def test_unknown_items_can_be_an_error_at_the_first_line(tmp_path):
    path = data_file(tmp_path, "r.csv", "user_id,item_id\nu1,i1\nu1,i9\nu2,i7\n")
    with raises_at(path, 3, "left out 2 interactions whose item is not in the item catalogue"):
        load_interactions(path, CATALOGUE, on_unknown_items="error")
    with pytest.raises(ValueError, match="`on_unknown_items` must be one of"):
        load_interactions(path, CATALOGUE, on_unknown_items="drop")


def test_no_unknown_items_gives_an_empty_report(tmp_path):
    path = data_file(tmp_path, "r.csv", "user_id,item_id,t\nu1,i1,5\nu1,i2,3\n")
    log, report = load_interactions(path, CATALOGUE, timestamp_column="t")
    assert report.interactions == 0 and "every interaction" in str(report)
    np.testing.assert_array_equal(log.timestamps, [5.0, 3.0])
    np.testing.assert_array_equal(log.item_indices, [0, 1])


# The containers.

def test_catalogue_lookups_and_checks():
    assert "i2" in CATALOGUE and "i9" not in CATALOGUE and len(CATALOGUE) == 3
    np.testing.assert_array_equal(CATALOGUE.indices(["i3", "i1"]), [2, 0])
    message = "2 item ids are not in the catalogue of 3 items: ['i8', 'i9']"
    with pytest.raises(KeyError, match=re.escape(message)):
        CATALOGUE.indices(["i9", "i1", "i8"])
    with pytest.raises(ValueError, match=re.escape("repeated: ['a']")):
        ItemCatalogue(["a", "b", "a"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="one text per item"):
        ItemCatalogue(["a"], [])


def test_log_rejects_unknown_items_and_ragged_columns():
    with pytest.raises(ValueError, match="not in the catalogue"):
        InteractionLog(["u1"], ["i9"], CATALOGUE)
    with pytest.raises(ValueError, match="one entry per interaction"):
        InteractionLog(["u1", "u2"], ["i1", "i2"], CATALOGUE, labels=[1.0])


def test_defaults_select_and_counts():
    log = InteractionLog(["u2", "u1", "u1"], ["i1", "i1", "i3"], CATALOGUE, labels=[1, 0, 1])
    np.testing.assert_array_equal(log.timestamps, [0, 1, 2])
    np.testing.assert_array_equal(log.item_counts(), [2, 0, 1])
    positives = log.select(log.labels > 0)
    assert list(positives.item_ids) == ["i1", "i3"] and positives.catalogue is CATALOGUE
    assert list(log.users()) == ["u1", "u2"]


def test_histories_hold_each_users_earlier_items_most_recent_first():
    log = InteractionLog(
        ["u1", "u2", "u1", "u1", "u2"], ["i1", "i2", "i2", "i3", "i3"], CATALOGUE,
        timestamps=[5, 1, 3, 5, 2],
    )
    # u1 in time order: i2 (t=3), i1 (t=5, earlier in the log), i3 (t=5).
    np.testing.assert_array_equal(log.histories(2), [
        ["i2", ""], ["", ""], ["", ""], ["i1", "i2"], ["i2", ""]])
    np.testing.assert_array_equal(
        log.recent_items(["u1", "nobody", "u2"], 4),
        [["i3", "i1", "i2", ""], ["", "", "", ""], ["i3", "i2", "", ""]])
    with pytest.raises(ValueError, match="`history_length` must be a positive integer"):
        log.histories(0)


def test_histories_of_tiny_logs():
    assert InteractionLog([], [], CATALOGUE).histories(3).shape == (0, 3)
    np.testing.assert_array_equal(InteractionLog(["u"], ["i1"], CATALOGUE).histories(2), [["", ""]])


def test_sequence_examples_take_every_strideth_interaction_back_from_each_users_latest():
    catalogue = ItemCatalogue([f"i{i}" for i in range(6)], [""] * 6)
    log = InteractionLog(["u1"] * 5 + ["u2"] * 2, ["i4", "i0", "i1", "i2", "i3", "i5", "i0"], catalogue,
                         timestamps=[9, 1, 2, 3, 4, 2, 1])
    examples = log.sequence_examples(history_length=2, stride=2)
    # u1 in time order: i0 i1 i2 i3 i4; u2: i0 i5.
    assert examples["user_id"].tolist() == ["u1", "u1", "u1", "u2"]
    assert examples["item_id"].tolist() == ["i0", "i2", "i4", "i5"]
    np.testing.assert_array_equal(examples["history"], [["", ""], ["i1", "i0"], ["i3", "i2"], ["i0", ""]])
    assert log.sequence_examples(history_length=3)["item_id"].tolist() == ["i1", "i4", "i5"]
    with pytest.raises(ValueError, match="`stride` must be a positive integer"):
        log.sequence_examples(2, stride=0)
