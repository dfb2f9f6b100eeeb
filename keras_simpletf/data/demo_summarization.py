"""DEMO summarization data: short synthetic shop dialogues and one-line summaries, for examples and tests only.

Nothing here is real data. One turn of each dialogue says who buys what; the
others are small talk in random order. The summary names the buyer, the
seller, the count and the item, so a model must find that turn and copy
from it: a tiny model learns it in seconds, and a ROUGE or exact-match
threshold on its decoded summaries fails when decoding is broken.
"""

import numpy as np

_NAMES = ("Anna", "Ben", "Carla", "David", "Emma", "Felix")
_ITEMS = ("apples", "books", "tickets", "shoes", "lamps", "cakes")
_COUNTS = ("two", "three", "four", "five")
_SMALL_TALK = (
    "hello there .", "how are you today ?", "fine , thanks .", "nice weather today .",
    "it is busy here .", "see you soon .",
)


def demo_summarization(count, seed=0, min_small_talk=1, max_small_talk=3):
    """`count` DEMO `(dialogue, summary)` pairs.

    A dialogue alternates two speakers, `"Name: words"` per turn, joined
    by spaces; e.g. `"Ben: hello there . Anna: i would like three lamps
    , please . Ben: see you soon ."`, summarised `"Anna buys three lamps
    from Ben ."`.

    Args:
        count: int, number of pairs.
        seed: int, the pairs are a pure function of the arguments.
        min_small_talk: int, fewest small-talk turns besides the purchase.
        max_small_talk: int, most of them.

    Returns:
        `(dialogues, summaries)`: two lists of `count` strings.
    """
    rng = np.random.default_rng(seed)
    dialogues, summaries = [], []
    for _ in range(count):
        buyer, seller = rng.choice(_NAMES, size=2, replace=False)
        item, amount = _ITEMS[rng.integers(len(_ITEMS))], _COUNTS[rng.integers(len(_COUNTS))]
        turns = [str(_SMALL_TALK[index]) for index in rng.integers(
            len(_SMALL_TALK), size=rng.integers(min_small_talk, max_small_talk + 1))]
        purchase = int(rng.integers(len(turns) + 1))
        # The buyer speaks the purchase turn; the speakers alternate around it.
        speakers = [buyer if (index - purchase) % 2 == 0 else seller
                    for index in range(len(turns) + 1)]
        turns.insert(purchase, f"i would like {amount} {item} , please .")
        dialogues.append(" ".join(f"{speaker}: {turn}" for speaker, turn in zip(speakers, turns)))
        summaries.append(f"{buyer} buys {amount} {item} from {seller} .")
    return dialogues, summaries
