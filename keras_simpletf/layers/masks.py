"""The one place where padding masks, attention masks and causality are merged."""

from keras import ops
from keras.src.backend import get_keras_mask


def padding_mask_of(inputs, mask=None):
    """The explicit padding `mask` if given, else the Keras mask `inputs` carry.

    Args:
        inputs: a tensor, possibly carrying an implicit Keras mask (for example
            from `keras.layers.Embedding(mask_zero=True)`).
        mask: an explicit boolean mask of shape `(batch, length)`, or `None`.

    Returns:
        A boolean `(batch, length)` tensor, or `None` when nothing is masked.
    """
    if mask is None and inputs is not None:
        mask = get_keras_mask(inputs)
    if mask is None:
        return None
    if len(mask.shape) != 2:
        raise ValueError(
            "A padding mask must have shape (batch, length), "
            f"got shape {tuple(mask.shape)}."
        )
    return ops.cast(mask, "bool")


def merge_attention_masks(
    query_length,
    key_length,
    key_mask=None,
    attention_mask=None,
    causal=False,
    query_offset=0,
):
    """Merges key padding, an explicit attention mask and causality.

    Padded query positions are not masked: their outputs are ignored downstream
    (their mask travels with them), and leaving them unmasked avoids rows whose
    softmax has nothing to attend to.

    Args:
        query_length: the query sequence length (int or scalar tensor).
        key_length: the key/value sequence length.
        key_mask: boolean `(batch, key_length)`, `True` for real tokens.
        attention_mask: boolean or 0/1 `(batch, query_length, key_length)`.
        causal: whether query `i` may only attend to keys `j <= i + query_offset`.
        query_offset: int scalar, the position of the first query among the
            keys (the tokens already decoded, when the keys are a cache).

    Returns:
        A boolean tensor broadcastable to `(batch, query_length, key_length)`,
        `True` where attention is allowed, or `None` if nothing is masked.
    """
    merged = None
    if key_mask is not None:
        merged = ops.expand_dims(ops.cast(key_mask, "bool"), axis=1)
    if attention_mask is not None:
        if len(attention_mask.shape) != 3:
            raise ValueError(
                "`attention_mask` must have shape (batch, query_length, "
                f"key_length), got shape {tuple(attention_mask.shape)}."
            )
        attention_mask = ops.cast(attention_mask, "bool")
        merged = (
            attention_mask
            if merged is None
            else ops.logical_and(merged, attention_mask)
        )
    if causal:
        rows = ops.expand_dims(ops.arange(query_length) + query_offset, axis=1)
        columns = ops.expand_dims(ops.arange(key_length), axis=0)
        causal_mask = ops.expand_dims(rows >= columns, axis=0)
        merged = (
            causal_mask if merged is None else ops.logical_and(merged, causal_mask)
        )
    return merged
