"""Tests for keras_simpletf/data/splits.py: per-user leave-last-out, global time cut, no leakage."""

import numpy as np
import pytest

from keras_simpletf.data.demo_recommendation import DEMO_TIME_CUT, demo_recommendation
from keras_simpletf.data.interactions import InteractionLog, ItemCatalogue
from keras_simpletf.data.splits import leave_last_out_split, time_cut_split

CATALOGUE = ItemCatalogue([f"i{n}" for n in range(6)], ["text"] * 6)


def random_log(seed, size=300):
    rng = np.random.default_rng(seed)
    return InteractionLog(
        rng.choice([f"u{n}" for n in range(20)], size),
        rng.choice(CATALOGUE.item_ids, size),
        CATALOGUE,
        labels=rng.integers(0, 2, size),
        timestamps=rng.integers(0, 30, size),  # many ties
    )


def assert_partition(log, train, test):
    assert len(train) + len(test) == len(log)
    assert train.catalogue is log.catalogue and test.catalogue is log.catalogue
    rows = lambda part: sorted(zip(part.user_ids, part.item_ids, part.timestamps, part.labels))
    assert sorted(rows(train) + rows(test)) == rows(log)


def assert_each_users_test_is_strictly_after_their_train(train, test):
    for user in test.users():
        assert user in set(train.user_ids), "a held-out user has no training interaction"
        latest_train = train.timestamps[train.user_ids == user].max()
        assert test.timestamps[test.user_ids == user].min() > latest_train


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 3])
def test_leave_last_out_has_no_leakage_even_with_ties(seed, n):
    log = random_log(seed)
    train, test = leave_last_out_split(log, n)
    assert_partition(log, train, test)
    assert_each_users_test_is_strictly_after_their_train(train, test)
    for user in log.users():
        held_out = (test.user_ids == user).sum()
        total = (log.user_ids == user).sum()
        assert held_out >= n or held_out == 0
        # Ties at the boundary are the only reason to hold out more than n.
        if held_out > n:
            boundary = test.timestamps[test.user_ids == user].min()
            assert (test.timestamps[test.user_ids == user] == boundary).sum() > 1
        assert held_out < total or total == 0


def test_leave_last_out_small_example():
    log = InteractionLog(
        ["a", "a", "a", "a", "b", "c", "c"], ["i0", "i1", "i2", "i3", "i0", "i4", "i5"],
        CATALOGUE, timestamps=[1, 4, 2, 4, 9, 3, 3],
    )
    train, test = leave_last_out_split(log, n=1)
    # a: the two items at t=4 are tied, both held out; b: one interaction;
    # c: both at t=3, so nothing stays for training and both stay in train.
    assert list(zip(test.user_ids, test.item_ids)) == [("a", "i1"), ("a", "i3")]
    assert list(train.item_ids) == ["i0", "i2", "i0", "i4", "i5"]
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        leave_last_out_split(log, 0)


def test_time_cut_puts_everything_before_the_cut_in_train():
    log = random_log(0)
    train, test = time_cut_split(log, 12)
    assert_partition(log, train, test)
    assert train.timestamps.max() < 12 <= test.timestamps.min()


def test_time_cut_on_demo_data_keeps_new_items_in_the_catalogue_as_cold_start():
    log = demo_recommendation(num_users=30, num_items=50, events_per_user=20)
    train, test = time_cut_split(log, DEMO_TIME_CUT)
    cold_items = train.item_counts() == 0
    assert len(train.catalogue) == 50
    assert cold_items[test.item_indices].any()
    test_users_with_history = [u for u in test.users() if u in set(train.user_ids)]
    for user in test_users_with_history:
        assert test.timestamps[test.user_ids == user].min() > (
            train.timestamps[train.user_ids == user].max())
