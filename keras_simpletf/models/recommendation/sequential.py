"""Next-item retrieval: a causal Transformer over the user's history, items from text and id."""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_simpletf.layers import DecoderBlock, SinusoidalPositionEncoding
from keras_simpletf.layers.validation import check_positive_int, check_rate
from keras_simpletf.models.recommendation.catalogue import (
    CatalogueRecommender,
    from_item_text_config,
    item_text_config,
    masked_mean,
    query_features,
)

# Training logit of an item outside the training softmax.
_EXCLUDED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="keras_simpletf")
class SequentialRetrieval(CatalogueRecommender):
    """Retrieval by next-item prediction over the history (SASRec), items read from text and id.

    Item tower: an item's vector is the projection of its text (token ids
    through `item_encoder`, masked mean pooling) plus an id embedding, and
    its score bias (a learned popularity prior, used at ranking time) a
    projection of the same pooled text plus an id bias. Only items with a
    training interaction (`item_counts > 0`) have the id parts, and at each
    training step a random `item_id_dropout` share of the candidates (the
    softmax's items, not the history's) lose them: the text part alone
    learns to place an item, so an item that no training interaction names
    (cold start) is scored from its text, as dropped candidates were in
    training.

    Query tower: the history's item vectors, oldest first and right-aligned
    in `max_history` slots, times `sqrt(embedding_dim)`, plus sinusoidal
    positions, through `num_layers` causal `DecoderBlock`s (pre-norm, our
    simplified blocks) and a final layer norm; the query is the output at
    the latest item. A score is `query . item vector + item bias`: the
    query and catalogue vectors carry one more entry (1 and the bias), so
    `catalogue_embeddings()` is an ordinary inner-product index. User ids
    are not read.

    Training (`compile` + `fit` on `{"history", "item_id"}` batches, e.g.
    `InteractionLog.sequence_examples`): every history slot predicts the
    item after it (the latest predicts `item_id`) by a softmax over the
    catalogue's trained items, those with `item_counts > 0` (cross-entropy,
    as Klenitskiy & Vasilev found best for SASRec). Each step runs the item
    encoder once over the whole catalogue, since the full softmax needs
    every item's vector: the cost of a step grows with the catalogue, which
    suits catalogues of some thousands of items; `TextTwoTowerRetrieval`
    (in-batch negatives) is for larger ones. Serving reads item vectors
    from the index: the text encoder runs only for items that are not in it.

    A query with no known history item is scored by training popularity.

    Args:
        item_encoder: a `keras_simpletf.layers.TransformerEncoder`.
        item_ids: list of str, the catalogue.
        item_token_ids: int `(num_items, sequence_length)`, the
            preprocessor's `"token_ids"` of the item texts, padded with 0.
        item_counts: training interactions per item, aligned with
            `item_ids`: which items have id embeddings, and the popularity
            fallback; `None`: every item has them, popularity flat.
        embedding_dim: int, width of item vectors and of the query tower.
        num_layers: int, causal blocks in the query tower.
        num_heads: int, attention heads of each block.
        max_history: int, the most recent history items the query reads.
        dropout: float, dropout in the query tower's blocks and on its input.
        item_id_dropout: float in [0, 1), the share of candidates whose id
            parts are dropped at each training step (0.35 was best for
            MovieLens 100K's cold start and overall recall together).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Call arguments:
        features: dict of str tensors `"history"` `(batch, H)` (most recent
            first, `""`-padded) and `"item_id"` `(batch,)`, the item that
            came next.

    Example:

    ```python
    item_ids = ["i1", "i2", "i3", "i4"]
    texts = ["a rocket to the moon", "a bread recipe", "moon and stars", "soup recipe"]
    preprocessor = ClassificationPreprocessor(learn_vocabulary(texts, 40), sequence_length=8)
    model = SequentialRetrieval(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=16),
        item_ids, preprocessor(texts)["token_ids"], item_counts=[2, 2, 2, 0],
        embedding_dim=16, num_layers=1, max_history=4)
    model.compile(keras.optimizers.Adam(0.01))
    batch = {"history": np.array([["i1", ""], ["i2", "i1"]]), "item_id": np.array(["i3", "i2"])}
    model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(2), epochs=2, verbose=0)
    model.recommend({"history": [["i3", "i1"]], "exclude_item_ids": [["i2"]]}, k=1)["item_ids"]
    # [[b'i4']]: i4 (never trained) is scored from its text
    ```

    References:
        - [Kang & McAuley, 2018](https://arxiv.org/abs/1808.09781) (SASRec)
        - [Klenitskiy & Vasilev, 2023](https://arxiv.org/abs/2309.07602)
          (full-softmax cross-entropy)
        - [Volkovs et al., 2017](https://papers.nips.cc/paper/7081-dropoutnet)
          (dropping ids for cold start, DropoutNet)
    """

    def __init__(self, item_encoder, item_ids, item_token_ids, item_counts=None,
                 embedding_dim=64, num_layers=2, num_heads=1, max_history=50, dropout=0.2,
                 item_id_dropout=0.35, **kwargs):
        super().__init__(item_ids, item_counts, **kwargs)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.max_history = check_positive_int("max_history", max_history)
        self.dropout = check_rate("dropout", dropout)
        self.item_id_dropout = check_rate("item_id_dropout", item_id_dropout)
        item_token_ids = np.asarray(item_token_ids, np.int32)
        if item_token_ids.ndim != 2 or len(item_token_ids) != self.num_items:
            raise ValueError(
                f"`item_token_ids` must be `(num_items={self.num_items}, sequence_length)`, "
                f"got shape {item_token_ids.shape}."
            )
        self.item_token_ids = self.add_weight(
            shape=item_token_ids.shape, initializer=keras.initializers.Constant(item_token_ids),
            dtype="int32", trainable=False, name="item_token_ids")
        has_id = np.ones(self.num_items) if item_counts is None else np.asarray(item_counts) > 0
        self.item_has_id = self.add_weight(
            shape=(self.num_items,), initializer=keras.initializers.Constant(has_id),
            trainable=False, name="item_has_id")
        self._item_id_dropout_seed = keras.random.SeedGenerator(name="item_id_dropout_seed")

        self.item_encoder = item_encoder
        if not item_encoder.built:
            item_encoder.build((None, item_token_ids.shape[1]))
        # Text projection: the item vector and its bias, in one dense layer.
        self.text_projection = keras.layers.Dense(embedding_dim + 1, name="text_projection")
        self.text_projection.build((None, item_encoder.hidden_dim))
        self.item_id_embedding = keras.layers.Embedding(
            self.num_items, embedding_dim + 1,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="item_id_embedding")
        self.item_id_embedding.build((None,))

        stream_shape = (None, max_history, embedding_dim)
        self.position_encoding = SinusoidalPositionEncoding(
            max_length=max_history, name="position_encoding")
        self.position_encoding.build(stream_shape)
        self.input_dropout = keras.layers.Dropout(dropout, name="input_dropout")
        self.blocks = []
        for index in range(num_layers):
            block = DecoderBlock(num_heads=num_heads, dropout=dropout, norm="pre",
                                 name=f"block_{index}")
            block.build(stream_shape)
            self.blocks.append(block)
        self.final_norm = keras.layers.LayerNormalization(name="final_norm")
        self.final_norm.build(stream_shape)
        self.built = True

    def _item_vectors(self, positions, training=None):
        """`(vector, bias)` rows `(n, embedding_dim + 1)` of catalogue positions `(n,)`."""
        vectors = self._text_vectors(tf.gather(self.item_token_ids, positions), training)
        keep = tf.cast(tf.gather(self.item_has_id, positions), vectors.dtype)
        return vectors + self.item_id_embedding(positions) * keep[:, None]

    def _text_vectors(self, token_ids, training=None):
        padding_mask = tf.not_equal(token_ids, 0)
        sequence = self.item_encoder(token_ids, mask=padding_mask, training=training)
        return self.text_projection(masked_mean(sequence, padding_mask))

    def _training_vectors(self, training=None):
        """`(history vectors, candidate vectors)` of the whole catalogue for a training step.

        Both are text plus id parts; in training, a random `item_id_dropout`
        share of the candidates lose their id parts (as cold-start items have
        none), while histories keep theirs.
        """
        positions = tf.range(self.num_items)
        text = self._text_vectors(self.item_token_ids, training)
        ids = self.item_id_embedding(positions)
        history_vectors = text + ids * self.item_has_id[:, None]
        keep = self.item_has_id
        if training and self.item_id_dropout:
            draws = keras.random.uniform((self.num_items,), seed=self._item_id_dropout_seed)
            keep = keep * tf.cast(draws >= self.item_id_dropout, keep.dtype)
        return history_vectors, text + ids * keep[:, None]

    def _history_slots(self, history):
        """Positions of the history's known items, oldest first, right-aligned; -1 where empty."""
        positions = self.catalogue_positions(history)
        known = tf.ragged.boolean_mask(positions, positions >= 0)
        recent = known[:, :self.max_history].to_tensor(
            default_value=-1, shape=[None, self.max_history])
        return tf.reverse(recent, axis=[1])

    def _encode_slots(self, slots, slot_vectors, training=None):
        """Query-tower outputs `(batch, max_history, embedding_dim)` over slots' item vectors."""
        filled = slots >= 0
        scale = tf.cast(filled, slot_vectors.dtype)[..., None] * math.sqrt(self.embedding_dim)
        stream = slot_vectors[..., :self.embedding_dim] * scale
        stream = self.input_dropout(stream + self.position_encoding(stream), training=training)
        for block in self.blocks:
            stream = block(stream, mask=filled, training=training)
        return self.final_norm(stream)

    def call(self, features, training=None):
        """`(logits, targets)`: logits `(n, num_items)` of each filled slot that has a target."""
        _, history = query_features(features)
        slots = self._history_slots(history)
        next_item = self.catalogue_positions(tf.convert_to_tensor(features["item_id"], tf.string))
        targets = tf.concat([slots[:, 1:], next_item[:, None]], axis=1)
        history_vectors, candidate_vectors = self._training_vectors(training)
        outputs = self._encode_slots(
            slots, tf.gather(history_vectors, tf.maximum(slots, 0)), training)
        scored = (slots >= 0) & (targets >= 0)
        queries = tf.boolean_mask(outputs, scored)
        logits = tf.matmul(queries, candidate_vectors[:, :self.embedding_dim], transpose_b=True)
        logits = tf.cast(logits + candidate_vectors[None, :, self.embedding_dim], "float32")
        # Items no training interaction names are not in the training softmax: as
        # negatives at every step, their text alone would learn to score low.
        logits = tf.where(self.item_has_id[None, :] > 0, logits, _EXCLUDED_LOGIT)
        return logits, tf.boolean_mask(targets, scored)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean cross-entropy of the full-catalogue softmax; `y` and `sample_weight` are unused."""
        logits, targets = y_pred
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        return tf.reduce_sum(losses) / tf.maximum(tf.cast(tf.size(targets), losses.dtype), 1.0)

    def catalogue_embeddings(self, batch_size=512):
        """The exact index `(num_items, embedding_dim + 1)`: each item's vector, then its bias."""
        positions = tf.range(self.num_items)
        return tf.concat([
            self._item_vectors(positions[start:start + batch_size], training=False)
            for start in range(0, self.num_items, batch_size)
        ], axis=0)

    def encode_queries(self, features, item_embeddings=None, training=None):
        """Query vectors `(batch, embedding_dim + 1)`, the last entry 1 (it multiplies the bias).

        Args:
            features: dict with `"history"` (str `(batch, H)`, most recent
                first, `""`-padded); other keys are ignored.
            item_embeddings: the index from `catalogue_embeddings()`, from
                which the history's item vectors are read; `None` runs the
                item tower over the history's items.
            training: bool, whether dropout is active.

        Returns:
            Zero rows but for the last entry for queries with no known
            history item.
        """
        _, history = query_features(features)
        slots = self._history_slots(history)
        if item_embeddings is None:
            distinct, index = tf.unique(tf.reshape(tf.maximum(slots, 0), [-1]))
            slot_vectors = tf.reshape(
                tf.gather(self._item_vectors(distinct, training), index),
                [-1, self.max_history, self.embedding_dim + 1])
        else:
            slot_vectors = tf.gather(item_embeddings, tf.maximum(slots, 0))
        outputs = self._encode_slots(slots, slot_vectors, training)
        latest = outputs[:, -1] * tf.cast(slots[:, -1] >= 0, outputs.dtype)[:, None]
        return tf.concat([latest, tf.ones_like(latest[:, :1])], axis=1)

    def encode_items(self, features, training=None):
        """Item vectors `(batch, embedding_dim + 1)` (the bias last) from item text.

        Args:
            features: dict with `"token_ids"` (int `(batch, length)`, from the
                preprocessor that made `item_token_ids`) and optionally
                `"item_id"` (str): catalogue items with an id embedding then
                add it.
            training: bool, whether dropout is active.
        """
        token_ids = tf.convert_to_tensor(features["token_ids"], tf.int32)
        vectors = self._text_vectors(token_ids, training)
        if "item_id" in features:
            positions = self.catalogue_positions(
                tf.convert_to_tensor(features["item_id"], tf.string))
            keep = tf.cast(tf.gather(self.item_has_id, tf.maximum(positions, 0)), vectors.dtype)
            keep *= tf.cast(positions >= 0, keep.dtype)
            vectors += self.item_id_embedding(tf.maximum(positions, 0)) * keep[:, None]
        return vectors

    def scores(self, features, item_embeddings=None):
        if item_embeddings is None:
            item_embeddings = self.catalogue_embeddings()
        item_embeddings = tf.convert_to_tensor(item_embeddings)
        queries = self.encode_queries(features, item_embeddings)
        scores = tf.cast(tf.matmul(queries, item_embeddings, transpose_b=True), "float32")
        _, history = query_features(features)
        has_query = tf.reduce_any(self.catalogue_positions(history) >= 0, axis=1)
        return tf.where(has_query[:, None], scores, self._popularity_scores(tf.shape(scores)[0]))

    def get_config(self):
        return {
            **super().get_config(),
            **item_text_config(self),
            "embedding_dim": self.embedding_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "max_history": self.max_history,
            "dropout": self.dropout,
            "item_id_dropout": self.item_id_dropout,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the model; token ids, counts and which items have ids load with the weights."""
        return from_item_text_config(cls, config)
