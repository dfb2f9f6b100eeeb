"""Tests for keras_simpletf/data/demo_recommendation.py: the DEMO interaction log."""

import collections

import numpy as np
import pytest

from keras_simpletf.data.demo_recommendation import (
    DEMO_TIME_CUT,
    DEMO_TIME_END,
    DEMO_TOPICS,
    demo_recommendation,
)


def as_tuples(log):
    return (list(log.user_ids), list(log.item_ids), log.labels.tolist(),
            log.timestamps.tolist(), log.catalogue.texts)


def test_same_arguments_same_log_other_seed_other_log():
    assert as_tuples(demo_recommendation(20, 30, 10, seed=3)) == as_tuples(
        demo_recommendation(20, 30, 10, seed=3))
    assert as_tuples(demo_recommendation(20, 30, 10, seed=3)) != as_tuples(
        demo_recommendation(20, 30, 10, seed=4))


def test_shape_of_the_log():
    log = demo_recommendation(num_users=50, num_items=60, events_per_user=15)
    assert len(log.catalogue) == 60 and len(log.users()) == 50
    assert len(log) <= 50 * 15
    assert set(log.labels.tolist()) == {0.0, 1.0}
    assert 0 <= log.timestamps.min() and log.timestamps.max() < DEMO_TIME_END
    # No item is shown twice to one user.
    assert len(set(zip(log.user_ids, log.item_ids))) == len(log)


def test_each_item_text_names_its_topic():
    log = demo_recommendation(num_users=5, num_items=80, events_per_user=5)
    for text in log.catalogue.texts:
        words = set(text.replace(".", " ").replace(",", " ").split())
        topic_hits = collections.Counter(
            topic for topic, topic_words in DEMO_TOPICS.items() for w in topic_words if w in words)
        assert topic_hits.most_common(1)[0][1] >= 3, text


def test_new_items_appear_only_after_the_cut_and_are_clicked():
    log = demo_recommendation()
    first_seen = {}
    for item, time in zip(log.item_ids, log.timestamps):
        first_seen[item] = min(time, first_seen.get(item, np.inf))
    new_items = {item for item, time in first_seen.items() if time >= DEMO_TIME_CUT}
    assert 10 <= len(new_items) <= 60
    clicks_after_cut = log.select((log.labels > 0) & (log.timestamps >= DEMO_TIME_CUT))
    on_new_items = np.isin(clicks_after_cut.item_ids, list(new_items)).mean()
    assert 0.2 < on_new_items < 0.7


def test_users_click_their_favourite_topics():
    log = demo_recommendation()
    topic_of_word = {w: topic for topic, words in DEMO_TOPICS.items() for w in words}
    item_topic = {}
    for item_id, text in zip(log.catalogue.item_ids, log.catalogue.texts):
        words = text.replace(".", " ").replace(",", " ").split()
        item_topic[item_id] = collections.Counter(
            topic_of_word[w] for w in words if w in topic_of_word).most_common(1)[0][0]
    clicks = log.select(log.labels > 0)
    top_two_shares = []
    for user in clicks.users():
        clicked = clicks.item_ids[clicks.user_ids == user]
        counts = collections.Counter(item_topic[item] for item in clicked)
        top_two_shares.append(sum(c for _, c in counts.most_common(2)) / sum(counts.values()))
    assert np.mean(top_two_shares) > 0.8


def test_bad_arguments():
    with pytest.raises(ValueError, match="new_item_fraction"):
        demo_recommendation(new_item_fraction=1.0)
    with pytest.raises(ValueError, match="events_per_user"):
        demo_recommendation(num_items=5, events_per_user=6)
