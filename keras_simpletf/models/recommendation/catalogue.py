"""What every recommender here shares: a catalogue of item ids, popularity, queries and exclusions.

A query is a dict of string tensors (or lists): `"user_id"` `(batch,)`
and/or `"history"` `(batch, H)`, the user's recent item ids, most recent
first, padded with `""`; optionally `"exclude_item_ids"` `(batch, E)`,
further items never to recommend (e.g. everything the user rated, when the
history passed is only the latest few). Lists of lists may be ragged.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.data.interactions import NO_ITEM
from keras_simpletf.layers.validation import check_positive_int
from keras_simpletf.models.tracing import BuildsBeforeTracing

# StringLookup ids: 0 the mask ("" padding), 1 out of vocabulary, then the items.
_FIRST_ITEM_ID = 2


def item_id_matrix(value):
    """A str `(batch, n)` tensor, `""`-padded, from a tensor, an array or a list of lists."""
    if isinstance(value, (list, tuple)):
        value = tf.ragged.constant([list(row) for row in value], dtype=tf.string)
    if isinstance(value, tf.RaggedTensor):
        value = value.to_tensor(NO_ITEM)
    return tf.convert_to_tensor(value, tf.string)


def query_features(features):
    """`(user_ids (batch,), history (batch, H))` string tensors of a query."""
    if "user_id" not in features and "history" not in features:
        raise ValueError(
            f"A query needs `user_id` and/or `history`; got the keys {sorted(features)}."
        )
    history = features.get("history")
    if history is not None:
        history = item_id_matrix(history)
    if "user_id" in features:
        user_ids = tf.convert_to_tensor(features["user_id"], tf.string)
    else:
        user_ids = tf.fill(tf.shape(history)[:1], NO_ITEM)
    if history is None:
        history = tf.fill(tf.stack([tf.shape(user_ids)[0], 0]), NO_ITEM)
    return user_ids, history


def masked_mean(vectors, mask):
    """Mean over axis -2 of `vectors` where `mask`; 0 where nothing is kept."""
    mask = tf.cast(mask, vectors.dtype)[..., None]
    return tf.reduce_sum(vectors * mask, axis=-2) / tf.maximum(tf.reduce_sum(mask, axis=-2), 1.0)


def multi_hot(positions, num_items):
    """float32 `(batch, num_items)`: 1 at each row's catalogue positions (`-1` entries ignored)."""
    positions = tf.cast(positions, tf.int64)
    known = tf.where(positions >= 0)  # (row, slot) of each known item
    marks = tf.scatter_nd(
        tf.stack([known[:, 0], tf.gather_nd(positions, known)], axis=1),
        tf.ones(tf.shape(known)[:1]),
        tf.stack([tf.shape(positions, out_type=tf.int64)[0], num_items]),
    )
    return tf.minimum(marks, 1.0)


class CatalogueRecommender(BuildsBeforeTracing, keras.Model):
    """A catalogue (item ids), item popularity, and exact top-K over all items.

    Subclasses implement `scores(features, item_embeddings=None)`.

    Args:
        item_ids: list of str, the catalogue: distinct, non-empty.
        item_counts: training interactions per item, aligned with
            `item_ids`, or `None` (all equal).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, item_ids, item_counts=None, **kwargs):
        super().__init__(**kwargs)
        self.item_ids = [str(item_id) for item_id in item_ids]
        if not self.item_ids:
            raise ValueError("`item_ids` is empty; a recommender needs a catalogue.")
        if len(set(self.item_ids)) != len(self.item_ids) or NO_ITEM in self.item_ids:
            raise ValueError("`item_ids` must be distinct, non-empty strings.")
        counts = np.zeros(len(self.item_ids)) if item_counts is None else np.asarray(
            item_counts, np.float64)
        if counts.shape != (len(self.item_ids),) or (counts < 0).any():
            raise ValueError(
                f"`item_counts` must hold a non-negative count per item "
                f"({len(self.item_ids)}), got shape {counts.shape}."
            )
        self.item_lookup = keras.layers.StringLookup(
            vocabulary=self.item_ids, mask_token=NO_ITEM, num_oov_indices=1, name="item_lookup")
        self._item_id_table = tf.constant(self.item_ids)
        self.item_log_frequency = self.add_weight(
            shape=(len(self.item_ids),),
            initializer=keras.initializers.Constant(log_frequency(counts)),
            trainable=False,
            name="item_log_frequency",
        )

    @property
    def num_items(self):
        return len(self.item_ids)

    def catalogue_positions(self, item_ids):
        """Catalogue positions (int64) of string item ids; -1 for `""` and unknown ids."""
        positions = self.item_lookup(item_ids) - _FIRST_ITEM_ID
        return tf.where(positions >= 0, positions, -1)

    def scores(self, features, item_embeddings=None):
        """Scores of every catalogue item for each query, a float32 `(batch, num_items)` tensor.

        Columns are in the order of `item_ids`. A query with no known user
        and no known history item is scored by training popularity.

        Args:
            features: a query (see `keras_simpletf.models.recommendation`).
            item_embeddings: the index from `catalogue_embeddings()`, reused
                between calls; computed when `None`. Ignored by models
                without embeddings.
        """
        raise NotImplementedError

    def recommend(self, features, k, item_embeddings=None):
        """The top `k` catalogue items for each query, by exact (full-catalogue) scoring.

        Args:
            features: a query: `"user_id"` and/or `"history"`, and
                optionally `"exclude_item_ids"` (see
                `keras_simpletf.models.recommendation`).
            k: int, at most the catalogue size.
            item_embeddings: as in `scores`.

        Returns:
            `{"item_ids": str (batch, k), "scores": float32 (batch, k)}`, best
            first; items of the history and of `exclude_item_ids` come last,
            with score `-inf`, only when `k` leaves no other choice.

        Raises:
            ValueError: if `k` exceeds the number of catalogue items.
        """
        check_positive_int("k", k)
        if k > self.num_items:
            raise ValueError(
                f"`k`={k} exceeds the catalogue's {self.num_items} items; ask for at most "
                f"{self.num_items}."
            )
        scores = self.scores(features, item_embeddings)
        _, history = query_features(features)
        seen = multi_hot(self.catalogue_positions(history), self.num_items)
        if "exclude_item_ids" in features:
            excluded = self.catalogue_positions(item_id_matrix(features["exclude_item_ids"]))
            seen += multi_hot(excluded, self.num_items)
        scores = tf.where(seen > 0, -math.inf, scores)
        # An item left in that scores -inf itself (one never trained) still ranks above them.
        ranking = tf.where(seen > 0, -math.inf, tf.maximum(scores, scores.dtype.min))
        _, top_positions = tf.math.top_k(ranking, k=k)
        return {
            "item_ids": tf.gather(self._item_id_table, top_positions),
            "scores": tf.gather(scores, top_positions, batch_dims=1),
        }

    def _popularity_scores(self, batch_size):
        return tf.tile(self.item_log_frequency[None, :], [batch_size, 1])

    def get_config(self):
        return {"item_ids": self.item_ids, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def item_text_config(model):
    """The config entries of a model's item text tower: its encoder, and the shape of its
    token ids (`from_item_text_config` makes zeros of it; the ids load with the weights)."""
    return {
        "item_encoder": keras.layers.serialize(model.item_encoder),
        "sequence_length": int(model.item_token_ids.shape[1]),
    }


def from_item_text_config(cls, config):
    """Rebuilds a `cls` model from a config holding `item_text_config`'s entries."""
    config = dict(config)
    shape = (len(config["item_ids"]), config.pop("sequence_length"))
    return cls(
        item_encoder=keras.layers.deserialize(config.pop("item_encoder")),
        item_token_ids=np.zeros(shape, np.int32),
        **config,
    )


def log_frequency(counts):
    """Log of add-one-smoothed frequencies: an item never seen has a small, finite one."""
    counts = np.asarray(counts, np.float64)
    return np.log((counts + 1.0) / (counts.sum() + len(counts)))
