"""The baselines a user would pick first: most popular items and EASE (closed-form item-item)."""

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.models.recommendation.catalogue import (
    CatalogueRecommender,
    log_frequency,
    multi_hot,
    query_features,
)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class MostPopularItems(CatalogueRecommender):
    """Recommends everyone the items most often interacted with in training.

    Trained by counting: the counts are given at construction (there is
    nothing to `fit`). Scores are the log of the add-one-smoothed training
    frequency; ties (e.g. items never seen) keep catalogue order.

    Args:
        item_ids: list of str, the catalogue.
        item_counts: training interactions per item, aligned with `item_ids`
            (e.g. `InteractionLog.item_counts()` of the positives); `None`
            ranks all items equal (catalogue order).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    model = MostPopularItems(["i1", "i2", "i3"], item_counts=[5, 9, 1])
    model.recommend({"user_id": ["anyone"], "history": [["i2"]]}, k=2)["item_ids"]
    # [[b'i1', b'i3']]: i2 is in the history
    ```
    """

    def __init__(self, item_ids, item_counts=None, **kwargs):
        super().__init__(item_ids, item_counts, **kwargs)
        self.built = True  # All state exists: Keras must not build (or record shapes) at a call.

    def scores(self, features, item_embeddings=None):
        user_ids, _ = query_features(features)
        return self._popularity_scores(tf.shape(user_ids)[0])


@keras.saving.register_keras_serializable(package="keras_simpletf")
class EASE(CatalogueRecommender):
    """EASE (Steck, 2019): a linear item-item model solved in closed form.

    With `X` the binary user-item matrix of the training interactions and
    `P = (X^T X + l2 * I)^-1`, the weights are `B = I - P / diag(P)` (column
    `j` divided by `P[j, j]`), whose diagonal is zero: no item explains
    itself. A query's scores are `x B`, `x` the multi-hot row of its
    history, so pass the user's whole history (e.g.
    `log.recent_items(users, history_length)` with a length as long as the
    longest one), not only the latest items: the order is ignored. Queries
    with no known history item are scored by training popularity; user ids
    are not read. The weights are a dense `(num_items, num_items)` matrix:
    a catalogue of up to some ten thousand items.

    Args:
        item_ids: list of str, the catalogue.
        l2: float > 0, the L2 penalty lambda (Steck: a few hundred for
            MovieLens-sized data).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2", "i3"], ["a", "b", "c"])
    log = InteractionLog(["u1", "u1", "u2", "u2", "u3"], ["i1", "i2", "i1", "i2", "i1"],
                         catalogue)
    model = EASE(catalogue.item_ids, l2=1.0).fit_interactions(log)
    model.recommend({"history": [["i1"]]}, k=1)["item_ids"]  # [[b'i2']]
    ```

    References:
        - [Steck, 2019](https://arxiv.org/abs/1905.03375)
    """

    def __init__(self, item_ids, l2=500.0, **kwargs):
        super().__init__(item_ids, **kwargs)
        if not l2 > 0:
            raise ValueError(f"`l2` must be positive, got {l2!r}.")
        self.l2 = float(l2)
        self.item_weights = self.add_weight(
            shape=(self.num_items, self.num_items), initializer="zeros", trainable=False,
            name="item_weights")
        self.built = True

    def fit_interactions(self, log):
        """Solves for the weights from an `InteractionLog` of positives; returns the model.

        Each (user, item) pair counts once, whatever its label: pass the
        positives only (e.g. `log.select(log.labels > 0)`). The item
        popularity of the fallback is recounted from `log`.

        Raises:
            ValueError: if `log` names items outside the model's catalogue.
        """
        position_of = {item_id: position for position, item_id in enumerate(self.item_ids)}
        unknown = sorted(set(log.item_ids.tolist()) - position_of.keys())
        if unknown:
            raise ValueError(
                f"The log names {len(unknown)} items outside the model's catalogue: "
                f"{unknown[:10]}."
            )
        items = np.array([position_of[item_id] for item_id in log.item_ids], np.int64)
        users = np.unique(log.user_ids, return_inverse=True)[1]
        matrix = np.zeros((users.max(initial=-1) + 1, self.num_items))
        matrix[users, items] = 1.0
        gram = matrix.T @ matrix + self.l2 * np.eye(self.num_items)
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        self.item_weights.assign(weights.astype(np.float32))
        self.item_log_frequency.assign(
            log_frequency(np.bincount(items, minlength=self.num_items)).astype(np.float32))
        return self

    def scores(self, features, item_embeddings=None):
        _, history = query_features(features)
        rows = multi_hot(self.catalogue_positions(history), self.num_items)
        scores = tf.matmul(rows, self.item_weights)
        has_history = tf.reduce_any(rows > 0, axis=1)
        return tf.where(has_history[:, None], scores, self._popularity_scores(tf.shape(rows)[0]))

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}
