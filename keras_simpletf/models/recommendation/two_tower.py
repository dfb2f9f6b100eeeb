"""Two-tower retrieval by in-batch softmax: id embeddings (matrix factorisation) or item text.

- `TextTwoTowerRetrieval`: the candidate tower reads item text through our
  `TransformerEncoder`, so an item no one has interacted with yet (cold
  start) is recommendable from its text alone; the query tower adds a user
  id embedding to the pooled item-tower vectors of the user's history.
- `IdTwoTowerRetrieval`: matrix factorisation, a user id embedding against an
  item id embedding; the baseline that cannot know new items.

Both train with `compile` + `fit` on batches of `{"user_id", "history",
"item_id"}` (one positive interaction each, with the items the user had just
before), by in-batch sampled softmax: the other items of the batch are the
negatives, each logit is `cosine / temperature` minus the log of the item's
training frequency (the log-q correction for popular items being sampled as
negatives more often), and other rows with the same item are not counted as
negatives. The correction removes popularity from the scores: ranking does
not add it back.

Queries: a user id outside `user_ids` (never seen in training) gets no id
embedding, so `TextTwoTowerRetrieval`'s query is then their history alone;
history item ids outside the catalogue are ignored, like padding (`""`).
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.layers.validation import check_positive_int, check_rate
from keras_simpletf.models.recommendation.catalogue import (
    CatalogueRecommender,
    from_item_text_config,
    item_text_config,
    masked_mean,
    query_features,
)

# In-batch logits of other rows' copies of the positive item: never a negative.
_EXCLUDED_LOGIT = -1e9


class _TwoTowerRetrieval(CatalogueRecommender):
    """User lookup, the in-batch softmax loss, and scoring by cosine similarity."""

    def __init__(self, item_ids, user_ids, item_counts=None, embedding_dim=32,
                 temperature=0.1, **kwargs):
        super().__init__(item_ids, item_counts, **kwargs)
        self.user_ids = [str(user_id) for user_id in user_ids]
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive, got {temperature!r}.")
        self.temperature = temperature
        self.user_lookup = keras.layers.StringLookup(
            vocabulary=self.user_ids, num_oov_indices=1, name="user_lookup")
        self.user_embedding = keras.layers.Embedding(
            len(self.user_ids) + 1, embedding_dim, name="user_embedding")
        self.user_embedding.build((None,))

    def _user_vectors(self, user_ids):
        """`(vectors, known)`: a user's id embedding, zero for unknown users."""
        user_index = self.user_lookup(user_ids)
        known = user_index > 0
        vectors = self.user_embedding(user_index)
        return vectors * tf.cast(known, vectors.dtype)[:, None], known

    def call(self, features, training=None):
        """`(queries, candidates)`: unit vectors of the queries and of their positive items."""
        queries = self.encode_queries(features, training=training)
        positions = self.catalogue_positions(features["item_id"])
        return queries, self._embed_catalogue_items(positions, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """In-batch sampled softmax with log-q correction; `y` and `sample_weight` are unused."""
        queries, candidates = y_pred
        positions = self.catalogue_positions(x["item_id"])
        logits = tf.matmul(queries, candidates, transpose_b=True) / self.temperature
        logits = tf.cast(logits, "float32") - tf.gather(self.item_log_frequency, positions)[None, :]
        same_item = tf.equal(positions[:, None], positions[None, :])
        other_row = ~tf.eye(tf.shape(positions)[0], dtype=tf.bool)
        logits = tf.where(same_item & other_row, _EXCLUDED_LOGIT, logits)
        targets = tf.range(tf.shape(logits)[0])
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits))

    def scores(self, features, item_embeddings=None):
        queries = self.encode_queries(features)
        if item_embeddings is None:
            item_embeddings = self.catalogue_embeddings()
        similarities = tf.cast(tf.matmul(queries, item_embeddings, transpose_b=True), "float32")
        has_query = self._has_query(features)
        return tf.where(has_query[:, None], similarities,
                        self._popularity_scores(tf.shape(similarities)[0]))

    def catalogue_embeddings(self, batch_size=512):
        """The exact index: a unit vector per catalogue item, `(num_items, embedding_dim)`."""
        positions = tf.range(self.num_items, dtype=tf.int64)
        return tf.concat([
            self._embed_catalogue_items(positions[start:start + batch_size], training=False)
            for start in range(0, self.num_items, batch_size)
        ], axis=0)

    def get_config(self):
        return {
            **super().get_config(),
            "user_ids": self.user_ids,
            "embedding_dim": self.embedding_dim,
            "temperature": self.temperature,
        }


@keras.saving.register_keras_serializable(package="keras_simpletf")
class IdTwoTowerRetrieval(_TwoTowerRetrieval):
    """Matrix factorisation: user id embedding against item id embedding.

    Cosine similarity of the two embeddings, trained like
    `TextTwoTowerRetrieval` (in-batch softmax, log-q correction,
    temperature). An item with no training interaction (count 0 in
    `item_counts`) has no trained embedding, as if it were not in the model's
    vocabulary: its score is `-inf` for every user with a query, so it is
    ranked last (new, cold-start items are not recommendable). The query
    ignores the history, which only excludes items from `recommend`.

    Args:
        item_ids: list of str, the catalogue.
        user_ids: list of str, the users with an embedding (the training users).
        item_counts: training positives per item, aligned with `item_ids`,
            for the log-q correction, the popularity fallback and which items
            have an embedding; `None` treats all items as equally frequent
            and all as trained.
        embedding_dim: int, width of both embeddings.
        temperature: float > 0, divides the cosine similarities in the loss.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        features: dict of str tensors `"user_id"` `(batch,)` and `"item_id"`
            `(batch,)` (the positive item); `"history"` is accepted and unused.

    Example:

    ```python
    model = IdTwoTowerRetrieval(["i1", "i2", "i3"], user_ids=["u1", "u2"],
                                item_counts=[3, 1, 2], embedding_dim=8)
    model.compile(keras.optimizers.Adam(0.05))
    batch = {"user_id": np.array(["u1", "u2"]), "item_id": np.array(["i1", "i2"])}
    model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(2), epochs=3, verbose=0)
    model.recommend({"user_id": ["u1"]}, k=2)["item_ids"]
    ```
    """

    def __init__(self, item_ids, user_ids, item_counts=None, embedding_dim=32,
                 temperature=0.1, **kwargs):
        super().__init__(item_ids, user_ids, item_counts, embedding_dim, temperature, **kwargs)
        self.item_embedding = keras.layers.Embedding(
            self.num_items, embedding_dim, name="item_embedding")
        self.item_embedding.build((None,))
        trained = np.ones(self.num_items) if item_counts is None else np.asarray(item_counts) > 0
        self.item_is_trained = self.add_weight(
            shape=(self.num_items,),
            initializer=keras.initializers.Constant(trained.astype(np.float32)),
            trainable=False,
            name="item_is_trained",
        )
        self.built = True

    def _has_query(self, features):
        return self._user_vectors(query_features(features)[0])[1]

    def scores(self, features, item_embeddings=None):
        scores = super().scores(features, item_embeddings)
        untrained = (self.item_is_trained[None, :] == 0) & self._has_query(features)[:, None]
        return tf.where(untrained, -math.inf, scores)

    def encode_queries(self, features, training=None):
        """Unit query vectors `(batch, embedding_dim)`; zero for unknown users.

        Args:
            features: dict with `"user_id"` (str `(batch,)`).
            training: unused; for the Keras call convention.
        """
        return tf.math.l2_normalize(self._user_vectors(query_features(features)[0])[0], -1)

    def _embed_catalogue_items(self, positions, training=None):
        vectors = self.item_embedding(tf.maximum(positions, 0))
        vectors = vectors * tf.cast(positions >= 0, vectors.dtype)[..., None]
        return tf.math.l2_normalize(vectors, -1)

    def encode_items(self, features, training=None):
        """Unit item vectors `(batch, embedding_dim)`; zero for ids not in the catalogue.

        Args:
            features: dict with `"item_id"` (str `(batch,)`).
            training: unused; for the Keras call convention.
        """
        item_ids = tf.convert_to_tensor(features["item_id"], tf.string)
        return self._embed_catalogue_items(self.catalogue_positions(item_ids))


@keras.saving.register_keras_serializable(package="keras_simpletf")
class TextTwoTowerRetrieval(_TwoTowerRetrieval):
    """Two-tower retrieval whose item tower reads the item's text.

    Item tower: token ids -> `item_encoder` (our `TransformerEncoder`) ->
    masked mean pooling -> dense projection (+ an item id embedding when
    `item_id_embedding=True`, zero for items not trained) -> unit vector.
    Query tower: the user id embedding (zero for unknown users) plus a
    dense projection of the mean item-tower vector of the user's history,
    -> unit vector. Both towers train jointly with `fit`.

    The model holds the catalogue's token ids (from a
    `keras_simpletf.text.ClassificationPreprocessor`), so training batches
    and queries name items by id; `encode_items` takes token ids of any
    text, for items outside the catalogue.

    Args:
        item_encoder: a `keras_simpletf.layers.TransformerEncoder`.
        item_ids: list of str, the catalogue.
        item_token_ids: int `(num_items, sequence_length)`, the
            preprocessor's `"token_ids"` of the item texts, padded with 0.
        user_ids: list of str, the users with an id embedding.
        item_counts: training positives per item, aligned with `item_ids`
            (log-q correction, popularity fallback); `None`: all equal.
        embedding_dim: int, width of the query and item vectors.
        temperature: float > 0, divides the cosine similarities in the loss.
        user_id_dropout: float in [0, 1): in training, the share of queries
            whose user id embedding is dropped, as for an unknown user, so
            the history alone learns to make a query (what serves users
            never seen in training).
        item_id_embedding: bool, add a per-item id embedding to the text
            vector (it memorises training items; on the DEMO data it
            lowers recall, on new items most).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        features: dict of str tensors: `"user_id"` `(batch,)`, `"history"`
            `(batch, H)` item ids (`""`-padded) and `"item_id"` `(batch,)`,
            the positive item.

    Example:

    ```python
    item_ids = ["i1", "i2", "i3"]
    texts = ["a rocket to the moon", "a bread recipe", "the moon and the stars"]
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 40), sequence_length=8)
    model = TextTwoTowerRetrieval(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16),
        item_ids, preprocessor(texts)["token_ids"], user_ids=["u1", "u2"],
        item_counts=[3, 1, 2], embedding_dim=8)
    model.compile(keras.optimizers.Adam(0.01))
    batch = {"user_id": np.array(["u1", "u2"]), "history": np.array([["i3"], [""]]),
             "item_id": np.array(["i1", "i2"])}
    model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(2), epochs=2, verbose=0)
    model.recommend({"user_id": ["new user"], "history": [["i1"]]}, k=2)["item_ids"]
    vectors = model.encode_items(preprocessor(["a brand-new space book"]))  # (1, 8)
    ```
    """

    def __init__(self, item_encoder, item_ids, item_token_ids, user_ids, item_counts=None,
                 embedding_dim=32, temperature=0.1, user_id_dropout=0.25,
                 item_id_embedding=False, **kwargs):
        super().__init__(item_ids, user_ids, item_counts, embedding_dim, temperature, **kwargs)
        self.user_id_dropout = check_rate("user_id_dropout", user_id_dropout)
        self._user_id_dropout_seed = keras.random.SeedGenerator(name="user_id_dropout_seed")
        item_token_ids = np.asarray(item_token_ids, np.int32)
        if item_token_ids.ndim != 2 or len(item_token_ids) != self.num_items:
            raise ValueError(
                f"`item_token_ids` must be `(num_items={self.num_items}, sequence_length)`, "
                f"got shape {item_token_ids.shape}."
            )
        self.item_encoder = item_encoder
        self.item_id_embedding = item_id_embedding
        self.item_token_ids = self.add_weight(
            shape=item_token_ids.shape,
            initializer=keras.initializers.Constant(item_token_ids),
            dtype="int32",
            trainable=False,
            name="item_token_ids",
        )
        if not item_encoder.built:
            item_encoder.build((None, item_token_ids.shape[1]))
        self.item_projection = keras.layers.Dense(embedding_dim, name="item_projection")
        self.item_projection.build((None, item_encoder.hidden_dim))
        self.history_projection = keras.layers.Dense(embedding_dim, name="history_projection")
        self.history_projection.build((None, embedding_dim))
        self.item_id_vectors = None
        if item_id_embedding:
            self.item_id_vectors = keras.layers.Embedding(
                self.num_items, embedding_dim, embeddings_initializer="zeros",
                name="item_id_embedding")
            self.item_id_vectors.build((None,))
        self.built = True

    def _text_vectors(self, token_ids, positions, training):
        """Unit vectors of items from their token ids (and catalogue positions, or -1)."""
        padding_mask = tf.not_equal(token_ids, 0)
        sequence = self.item_encoder(token_ids, mask=padding_mask, training=training)
        vectors = self.item_projection(masked_mean(sequence, padding_mask))
        if self.item_id_vectors is not None:
            id_vectors = self.item_id_vectors(tf.maximum(positions, 0))
            vectors += id_vectors * tf.cast(positions >= 0, id_vectors.dtype)[:, None]
        return tf.math.l2_normalize(vectors, -1)

    def _embed_catalogue_items(self, positions, training=None):
        """Item-tower vectors of catalogue positions of any shape, each distinct item once."""
        flat_positions = tf.reshape(positions, [-1])
        distinct, index = tf.unique(tf.maximum(flat_positions, 0))
        vectors = tf.gather(
            self._text_vectors(tf.gather(self.item_token_ids, distinct), distinct, training),
            index)
        vectors *= tf.cast(flat_positions >= 0, vectors.dtype)[:, None]
        return tf.reshape(vectors, tf.concat([tf.shape(positions), [self.embedding_dim]], 0))

    def _has_query(self, features):
        user_ids, history = query_features(features)
        known_history = tf.reduce_any(self.catalogue_positions(history) >= 0, axis=1)
        return self._user_vectors(user_ids)[1] | known_history

    def encode_queries(self, features, training=None):
        """Unit query vectors `(batch, embedding_dim)`: user id embedding + projected history.

        Args:
            features: dict with `"user_id"` (str `(batch,)`) and/or
                `"history"` (str `(batch, H)`, `""`-padded).
            training: bool, whether dropout in the item tower is active.

        Returns:
            Zero rows for queries with neither a known user nor a known
            history item.
        """
        user_ids, history = query_features(features)
        positions = self.catalogue_positions(history)
        history_vectors = self._embed_catalogue_items(positions, training=training)
        pooled = masked_mean(history_vectors, positions >= 0)
        has_history = tf.reduce_any(positions >= 0, axis=1)
        history_part = self.history_projection(pooled) * tf.cast(has_history, pooled.dtype)[:, None]
        user_part = self._user_vectors(user_ids)[0]
        if training and self.user_id_dropout:
            keep = keras.random.uniform(
                tf.shape(user_ids), seed=self._user_id_dropout_seed) >= self.user_id_dropout
            user_part *= tf.cast(keep, user_part.dtype)[:, None]
        return tf.math.l2_normalize(user_part + history_part, -1)

    def encode_items(self, features, training=None):
        """Unit item vectors `(batch, embedding_dim)` from item text.

        Args:
            features: dict with `"token_ids"` (int `(batch, length)`, from the
                `ClassificationPreprocessor` that made `item_token_ids`) and,
                with `item_id_embedding=True`, optionally `"item_id"` (str):
                catalogue items then add their id embedding.
            training: bool, whether dropout is active.
        """
        token_ids = tf.convert_to_tensor(features["token_ids"], tf.int32)
        if "item_id" in features:
            item_ids = tf.convert_to_tensor(features["item_id"], tf.string)
            positions = self.catalogue_positions(item_ids)
        else:
            positions = -tf.ones(tf.shape(token_ids)[:1], tf.int64)
        return self._text_vectors(token_ids, positions, training)

    def with_catalogue(self, item_ids, item_token_ids, item_counts=None):
        """This model over another catalogue, without retraining (re-indexing).

        The new model uses this one's item encoder and a copy of its trained
        projections and user embeddings; only the catalogue (ids, their
        token ids, popularity) changes, so items added since training are
        recommended from their text. Item id embeddings cannot follow a new
        catalogue: a model with `item_id_embedding=True` is refused.

        Args:
            item_ids: list of str, the new catalogue (old items may stay).
            item_token_ids: int `(num_items, sequence_length)` token ids of
                their texts, from the same preprocessor.
            item_counts: popularity counts for the new catalogue, or `None`.
        """
        if self.item_id_embedding:
            raise ValueError(
                "A model with `item_id_embedding=True` cannot move to a new catalogue."
            )
        model = TextTwoTowerRetrieval(
            self.item_encoder, item_ids, item_token_ids, self.user_ids, item_counts,
            self.embedding_dim, self.temperature, self.user_id_dropout)
        for name in ("item_projection", "history_projection", "user_embedding"):
            getattr(model, name).set_weights(getattr(self, name).get_weights())
        return model

    def get_config(self):
        return {
            **super().get_config(),
            **item_text_config(self),
            "user_id_dropout": self.user_id_dropout,
            "item_id_embedding": self.item_id_embedding,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the model; the token ids and counts come back with the weights."""
        return from_item_text_config(cls, config)
