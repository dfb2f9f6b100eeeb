"""Entity-level micro F1 as a Keras metric, computed in the graph."""

import keras
import numpy as np
from keras import ops

from keras_simpletf.metrics.entities import entity_type, is_chunk_end, is_chunk_start


def _true_positions_first(flags):
    """Per row, the positions where `flags` holds, in order, then the others."""
    positions = ops.arange(ops.shape(flags)[1])[None, :]
    return ops.argsort(ops.where(flags, positions, positions + ops.shape(flags)[1]), axis=1)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class EntityF1(keras.metrics.Metric):
    """Entity-level micro F1 over IOB2 tag ids, as seqeval scores it, in the graph.

    Positions whose label is -1 (padding, word pieces after a word's first)
    are removed before entities are found, so each row is scored as the
    sequence of its remaining tags. Entities follow seqeval's default chunking
    rules (`keras_simpletf.metrics.extract_entities`) within each row; a true
    entity counts as found when the prediction has one of the same type, first
    and last position. The metric accumulates the numbers of found, predicted
    and true entities over batches, so `result()` equals seqeval's
    `f1_score(y_true, y_pred)` over all rows seen since the last reset (0 when
    there are no entities at all). It uses only tensor ops, so it runs inside
    `tf.function`, under `tf.distribute` strategies and on TPU.

    Args:
        tags: list of IOB2 tag strings; the index of a tag is its id.
        name: string, name of the metric.
        **kwargs: base `keras.metrics.Metric` arguments (`dtype`).

    Call arguments (`update_state`):
        y_true: int `(batch, length)` tag ids, -1 where a position is ignored.
        y_pred: `(batch, length, num_tags)` logits or probabilities (their
            argmax is the prediction), or int `(batch, length)` tag ids.
        sample_weight: optional weights, `(batch,)` or `(batch, length)`.
            Positions of weight 0 are ignored like label -1; every entity
            counts with the weight of its first position.

    Example:

    ```python
    metric = EntityF1(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    metric.update_state([[1, 2, -1, 0, 3]], [[1, 2, 0, 0, 4]])
    float(metric.result())  # 1.0: the word piece between "B-PER" and "I-PER" is ignored
    ```
    """

    def __init__(self, tags, name="entity_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        if not tags or not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"`tags` must be a non-empty list of tag strings, got {tags!r}.")
        self.tags = tuple(tags)
        # Id len(tags) stands for the "O" seqeval puts around every sequence;
        # it also fills the rows behind their last kept position.
        padded_tags = [*self.tags, "O"]
        self._boundary_id = len(self.tags)
        self._start_table = np.array(
            [[is_chunk_start(previous, tag) for tag in padded_tags] for previous in padded_tags]
        ).reshape(-1)
        self._end_table = np.array(
            [[is_chunk_end(tag, following) for following in padded_tags] for tag in padded_tags]
        ).reshape(-1)
        type_names = sorted({entity_type(tag) for tag in padded_tags})
        self._type_ids = np.array([type_names.index(entity_type(tag)) for tag in padded_tags])
        self.true_positives = self.add_variable((), "zeros", name="true_positives")
        self.predicted_entities = self.add_variable((), "zeros", name="predicted_entities")
        self.true_entities = self.add_variable((), "zeros", name="true_entities")

    def _entities(self, tags, weights):
        """Per position: does an entity end here, its first position, type id and weight."""
        boundary = ops.full((ops.shape(tags)[0], 1), self._boundary_id, dtype="int32")
        previous = ops.concatenate([boundary, tags[:, :-1]], axis=1)
        following = ops.concatenate([tags[:, 1:], boundary], axis=1)
        width = len(self.tags) + 1
        starts = ops.take(ops.convert_to_tensor(self._start_table), previous * width + tags)
        # seqeval's first entity begins at 0 unless a start comes before its end.
        starts = ops.logical_or(starts, ops.arange(ops.shape(tags)[1])[None, :] == 0)
        ends = ops.take(ops.convert_to_tensor(self._end_table), tags * width + following)
        start_positions = _true_positions_first(starts)
        begins = ops.take_along_axis(
            start_positions, ops.cumsum(ops.cast(starts, "int32"), axis=1) - 1, axis=1
        )
        types = ops.take(ops.convert_to_tensor(self._type_ids, dtype="int32"), tags)
        return ends, begins, types, ops.take_along_axis(weights, begins, axis=1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "int32")
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == len(y_true.shape) + 1:
            y_pred = ops.argmax(y_pred, axis=-1)
        y_pred = ops.cast(y_pred, "int32")
        weights = ops.ones_like(y_true, dtype=self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            if len(sample_weight.shape) == 1:
                sample_weight = ops.expand_dims(sample_weight, axis=1)
            weights = weights * sample_weight
        keep = ops.logical_and(y_true >= 0, weights != 0)

        # Move each row's kept positions to its front, in order, and fill the
        # rest with the boundary "O".
        order = _true_positions_first(keep)
        kept = ops.arange(ops.shape(keep)[1])[None, :] < ops.sum(
            ops.cast(keep, "int32"), axis=1, keepdims=True
        )
        true_tags, predicted_tags = (
            ops.where(kept, ops.take_along_axis(tags, order, axis=1), self._boundary_id)
            for tags in (y_true, y_pred)
        )
        weights = ops.where(kept, ops.take_along_axis(weights, order, axis=1), 0)

        true_ends, true_begins, true_types, true_weights = self._entities(true_tags, weights)
        predicted_ends, predicted_begins, predicted_types, predicted_weights = self._entities(
            predicted_tags, weights
        )
        found = (
            true_ends
            & predicted_ends
            & (true_begins == predicted_begins)
            & (true_types == predicted_types)
        )
        self.true_positives.assign_add(ops.sum(ops.where(found, true_weights, 0)))
        self.true_entities.assign_add(ops.sum(ops.where(true_ends, true_weights, 0)))
        self.predicted_entities.assign_add(
            ops.sum(ops.where(predicted_ends, predicted_weights, 0))
        )

    def result(self):
        return ops.divide_no_nan(
            2 * self.true_positives, self.true_entities + self.predicted_entities
        )

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros_like(variable))

    def get_config(self):
        return {**super().get_config(), "tags": list(self.tags)}
