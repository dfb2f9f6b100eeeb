"""Train/test splits of an `InteractionLog` by time, so no test interaction leaks into training.

Both splits keep the whole item catalogue on both sides: items that no
training interaction names stay recommendable, and test interactions on them
measure cold start.
"""

import numpy as np

from keras_simpletf.layers.validation import check_positive_int


def leave_last_out_split(log, n=1):
    """Holds out each user's last `n` interactions (by timestamp) as the test set.

    Every test interaction of a user is strictly later than each of the
    user's training interactions: interactions tied with the `n`-th last
    timestamp are held out too (so a user may have more than `n` test
    interactions). A user whose interactions would all be held out (at most
    `n` of them, or all at one timestamp) keeps them all in training.

    Args:
        log: an `InteractionLog`.
        n: int, how many last interactions per user to hold out.

    Returns:
        `(train, test)`: two `InteractionLog`s over `log.catalogue`; each
        keeps the order of `log`.

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2", "i3"], ["a", "b", "c"])
    log = InteractionLog(["u1", "u1", "u1", "u2"], ["i1", "i2", "i3", "i1"], catalogue,
                         timestamps=[1, 3, 2, 5])
    train, test = leave_last_out_split(log)
    test.item_ids.tolist()  # ['i2']: u1's last; u2's only interaction stays in training
    ```
    """
    check_positive_int("n", n)
    order = np.lexsort((log.timestamps, log.user_ids))
    users, timestamps = log.user_ids[order], log.timestamps[order]
    starts = np.searchsorted(users, users, side="left")
    ends = np.searchsorted(users, users, side="right")
    first_held_out = timestamps[np.maximum(ends - n, starts)]
    first = timestamps[starts]
    held_out = np.zeros(len(log), dtype=bool)
    held_out[order] = (timestamps >= first_held_out) & (first < first_held_out)
    return log.select(~held_out), log.select(held_out)


def time_cut_split(log, cut):
    """Interactions before `cut` train, those at or after it test.

    One cut for everyone: the test set is the future of the training set,
    as when a model trained up to a date serves after it. Items first seen
    after the cut are cold-start items; users first seen after it have no
    training history.

    Args:
        log: an `InteractionLog`.
        cut: number, in the units of `log.timestamps`.

    Returns:
        `(train, test)`: `InteractionLog`s over `log.catalogue`, in the
        order of `log`.

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2"], ["a", "b"])
    log = InteractionLog(["u1", "u1", "u2"], ["i1", "i2", "i2"], catalogue,
                         timestamps=[1, 9, 4])
    train, test = time_cut_split(log, cut=5)
    len(train), len(test)  # (2, 1)
    ```
    """
    before = log.timestamps < cut
    return log.select(before), log.select(~before)
