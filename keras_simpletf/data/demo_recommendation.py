"""Deterministic DEMO recommendation data: users with topic tastes, items whose text shows topics.

Nothing here is real user data. It exists so the recommender examples and
tests run offline. Same arguments, same log, on any machine.

The world it simulates:

- each item has one topic (space, cooking, sports, ...) and a text built
  from that topic's words plus filler words ("the complete guide to rocket
  and galaxy ..."), so the text tells what the item is about;
- each user likes a few topics (a Dirichlet draw over topics);
- time runs from 0 to `DEMO_TIME_END`; most items exist from time 0, the
  others are released at or after `DEMO_TIME_CUT` and draw extra attention
  while new. Split with `time_cut_split(log, DEMO_TIME_CUT)` and those new
  items are in no training interaction: cold-start items;
- at each of a user's events, an item released by then and not yet shown to
  that user is shown: chosen by the user's taste and the item's popularity;
  the user clicks (label 1.0) mostly when the item's topic is a favourite,
  else the label is 0.0.
"""

import numpy as np

from keras_simpletf.data.interactions import InteractionLog, ItemCatalogue

DEMO_TIME_END = 1000
DEMO_TIME_CUT = 800

DEMO_TOPICS = {
    "space": ("space", "rocket", "galaxy", "planet", "astronaut", "orbit", "alien", "comet"),
    "cooking": ("recipe", "kitchen", "baking", "chef", "spice", "bread", "dessert", "soup"),
    "sports": ("football", "match", "stadium", "coach", "league", "tennis", "goal", "athlete"),
    "music": ("guitar", "concert", "melody", "band", "album", "piano", "rhythm", "jazz"),
    "history": ("empire", "ancient", "king", "castle", "medieval", "battle", "dynasty", "roman"),
    "nature": ("forest", "river", "wildlife", "mountain", "ocean", "bird", "garden", "desert"),
    "technology": ("computer", "robot", "software", "network", "code", "startup", "gadget",
                   "digital"),
    "mystery": ("detective", "murder", "clue", "crime", "suspect", "secret", "alibi", "witness"),
}

_OPENERS = ("the", "a", "my", "one", "our")
_ADJECTIVES = ("complete", "little", "great", "modern", "essential", "first", "hidden", "new")
_NOUNS = ("guide", "story", "book", "collection", "journal", "edition", "diary", "tale")
_CONNECTORS = ("about", "of", "on", "for", "with")

# Attention a new item draws on top of its popularity, while new.
_NEW_ITEM_BOOST = 2.0
_NEW_FOR = 100
# Click probability for an item of the user's least and most liked topic.
_CLICK_FLOOR, _CLICK_CEILING = 0.05, 0.95


def _item_text(rng, topic_words, other_words):
    """A title and a short description from topic words, filler and maybe one stray word."""
    words = list(rng.choice(topic_words, size=4, replace=False))
    if rng.random() < 0.3:
        words[3] = rng.choice(other_words)
    title = (f"{rng.choice(_OPENERS)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} "
             f"{rng.choice(_CONNECTORS)} {words[0]}")
    return f"{title}. {words[1]}, {words[2]} and {words[3]}"


def demo_recommendation(
    num_users=200, num_items=160, events_per_user=40, new_item_fraction=0.2, seed=0
):
    """A DEMO `InteractionLog` of shown items and clicks, with its catalogue of item texts.

    Args:
        num_users: int, users `"u000"`, `"u001"`, ...
        num_items: int, items `"i000"`, `"i001"`, ...
        events_per_user: int, items shown to each user (at most `num_items`),
            at times spread uniformly over `[0, DEMO_TIME_END)`.
        new_item_fraction: float in [0, 1), the share of items released
            at or after `DEMO_TIME_CUT`.
        seed: int; the log is a pure function of the arguments.

    Returns:
        An `InteractionLog`: labels 1.0 (click) or 0.0 (shown, not clicked),
        integer timestamps in `[0, DEMO_TIME_END)`, sorted by user then time.
        `log.select(log.labels > 0)` gives the clicks (positives).

    Example:

    ```python
    log = demo_recommendation(num_users=20, num_items=40, events_per_user=10)
    clicks = log.select(log.labels > 0)
    train, test = time_cut_split(clicks, DEMO_TIME_CUT)
    log.catalogue.texts[0]  # 'one hidden collection on digital. computer, gadget and software'
    ```
    """
    if not 0.0 <= new_item_fraction < 1.0:
        raise ValueError(f"`new_item_fraction` must be in [0, 1), got {new_item_fraction!r}.")
    if not 0 < events_per_user <= num_items:
        raise ValueError(
            f"`events_per_user` must be in [1, num_items={num_items}], got {events_per_user!r}."
        )
    rng = np.random.default_rng(seed)
    topic_names = list(DEMO_TOPICS)
    item_topics = rng.integers(len(topic_names), size=num_items)
    texts = []
    for topic in item_topics:
        other_words = [w for name in topic_names if name != topic_names[topic]
                       for w in DEMO_TOPICS[name]]
        texts.append(_item_text(rng, DEMO_TOPICS[topic_names[topic]], other_words))
    popularity = rng.lognormal(0.0, 1.0, size=num_items)
    is_new = rng.random(num_items) < new_item_fraction
    release = np.where(is_new, rng.integers(DEMO_TIME_CUT, DEMO_TIME_END, num_items), 0)
    tastes = rng.dirichlet(np.full(len(topic_names), 0.3), size=num_users)

    user_ids, item_ids, labels, timestamps = [], [], [], []
    for user in range(num_users):
        taste = tastes[user]
        click_probability = _CLICK_FLOOR + (_CLICK_CEILING - _CLICK_FLOOR) * (
            taste[item_topics] / taste.max())
        shown = np.zeros(num_items, dtype=bool)
        for time in np.sort(rng.integers(0, DEMO_TIME_END, events_per_user)):
            released = (release <= time) & ~shown
            if not released.any():
                continue
            boost = np.where(is_new & (time - release < _NEW_FOR), _NEW_ITEM_BOOST, 1.0)
            weights = np.where(released, (taste[item_topics] + 0.02) * popularity * boost, 0.0)
            item = rng.choice(num_items, p=weights / weights.sum())
            shown[item] = True
            user_ids.append(f"u{user:03d}")
            item_ids.append(f"i{item:03d}")
            labels.append(float(rng.random() < click_probability[item]))
            timestamps.append(time)
    catalogue = ItemCatalogue([f"i{item:03d}" for item in range(num_items)], texts)
    return InteractionLog(user_ids, item_ids, catalogue, labels, timestamps)
