"""Tests for keras_simpletf/layers/pooling.py."""

import keras
import numpy as np

from keras_simpletf.layers import MaskedGlobalMaxPooling1D

SEQUENCE = np.array(
    [[[1.0, -4.0], [5.0, -2.0], [9.0, 7.0]], [[-3.0, -1.0], [-8.0, 6.0], [2.0, 3.0]]], "float32"
)
MASK = np.array([[True, True, False], [True, False, False]])


def test_padded_positions_take_no_part_in_the_maximum():
    pooled = MaskedGlobalMaxPooling1D()(SEQUENCE, mask=MASK)
    np.testing.assert_allclose(pooled, [[5.0, -2.0], [-3.0, -1.0]])


def test_without_a_mask_every_position_counts_and_a_row_with_none_pools_to_zeros():
    np.testing.assert_allclose(MaskedGlobalMaxPooling1D()(SEQUENCE), [[9.0, 7.0], [2.0, 6.0]])
    empty = np.array([[True, False, False], [False, False, False]])
    np.testing.assert_allclose(
        MaskedGlobalMaxPooling1D()(SEQUENCE, mask=empty), [[1.0, -4.0], [0.0, 0.0]]
    )


def test_it_reads_the_mask_a_sequence_carries_and_keeps_a_mixed_dtype():
    token_ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True, dtype="mixed_bfloat16")(token_ids)
    pooled = MaskedGlobalMaxPooling1D(dtype="mixed_bfloat16")(embedded)
    model = keras.Model(token_ids, [embedded, pooled])
    sequence, result = model(np.array([[3, 4, 0, 0]], "int32"))
    assert result.dtype == "bfloat16"
    np.testing.assert_allclose(
        np.asarray(result, "float32"), np.max(np.asarray(sequence, "float32")[:, :2], axis=1)
    )
