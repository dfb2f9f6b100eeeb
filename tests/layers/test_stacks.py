"""Tests for keras_simpletf/layers/stacks.py."""

import keras
import numpy as np
import pytest

from keras_simpletf.layers import TransformerDecoder, TransformerEncoder
from keras_simpletf.layers.position import sinusoid_table

TOKENS = np.array([[5, 6, 7, 8, 0, 0], [9, 3, 0, 0, 0, 0]])


def test_encoder_masks_token_zero_and_the_output_carries_the_mask():
    encoder = TransformerEncoder(vocabulary_size=20, num_layers=2, hidden_dim=8)
    outputs = encoder(TOKENS)
    np.testing.assert_array_equal(outputs._keras_mask, TOKENS != 0)
    changed = TOKENS.copy()
    changed[:, 5] = 4  # a real token where there was padding: an explicit mask keeps it out
    np.testing.assert_allclose(
        encoder(changed, mask=TOKENS != 0)[0, :4], outputs[0, :4], atol=1e-5
    )


@pytest.mark.parametrize("hidden_dim", [32, 128, 512])
def test_token_vectors_start_as_long_as_the_sinusoids_they_are_added_to(hidden_dim):
    # At BERT's 0.02 the sinusoids were 35x longer at width 128: the blocks saw
    # positions and hardly any words, and SST-2 trained to chance.
    encoder = TransformerEncoder(vocabulary_size=2000, num_layers=1, hidden_dim=hidden_dim)
    token_ids = np.arange(1, 2000)[:, None]
    encoder(token_ids)
    tokens = keras.ops.convert_to_numpy(encoder.token_embedding(token_ids)) * encoder.embedding_scale
    positions = sinusoid_table(1, hidden_dim)
    ratio = np.linalg.norm(tokens, axis=-1).mean() / np.linalg.norm(positions)
    assert 1.2 < ratio < 1.6  # unit-variance entries: sqrt(width) against sqrt(width / 2)


def test_a_factorised_table_is_projected_to_the_width_at_about_unit_variance():
    encoder = TransformerEncoder(
        vocabulary_size=2000, num_layers=1, hidden_dim=64, embedding_dim=256
    )
    token_ids = np.arange(1, 2000)[:, None]
    outputs = encoder(token_ids)
    assert encoder.token_embedding.embeddings.shape == (2000, 256)
    assert encoder.embedding_projection.kernel.shape == (256, 64)
    assert outputs.shape == (1999, 1, 64)
    table_vectors = encoder.token_embedding(token_ids) * encoder.embedding_scale
    tokens = keras.ops.convert_to_numpy(encoder.embedding_projection(table_vectors))
    assert 0.8 < tokens.std() < 1.6
    restored = TransformerEncoder.from_config(encoder.get_config())
    restored(token_ids)
    restored.set_weights(encoder.get_weights())
    np.testing.assert_allclose(restored(token_ids), outputs, atol=1e-6)


def test_explicit_mask_overrides_token_zero():
    encoder = TransformerEncoder(vocabulary_size=20, num_layers=1, hidden_dim=8)
    mask = np.ones_like(TOKENS, dtype=bool)
    assert encoder(TOKENS, mask=mask)._keras_mask.numpy().all()


def test_pre_norm_stack_ends_with_a_norm_and_scaled_residual_defaults_to_depth():
    encoder = TransformerEncoder(
        vocabulary_size=20, num_layers=8, hidden_dim=8, norm="pre", residual="scaled"
    )
    assert encoder.final_norm is not None
    assert encoder.residual_scale == pytest.approx(0.25)
    assert all(block.residual_scale == pytest.approx(0.25) for block in encoder.blocks)


def test_decoder_is_causal_over_tokens():
    decoder = TransformerDecoder(vocabulary_size=20, num_layers=2, hidden_dim=8, num_heads=2)
    first = keras.ops.convert_to_numpy(decoder(np.array([[4, 5, 6, 7]])))
    second = keras.ops.convert_to_numpy(decoder(np.array([[4, 5, 9, 9]])))
    np.testing.assert_allclose(first[:, :2], second[:, :2], atol=1e-5)
    assert not np.allclose(first[:, 2:], second[:, 2:])


def test_decoder_cross_attends_to_the_encoder_and_ignores_its_padding():
    encoder = TransformerEncoder(vocabulary_size=20, num_layers=1, hidden_dim=8)
    decoder = TransformerDecoder(vocabulary_size=20, num_layers=2, hidden_dim=8)
    target = np.array([[2, 3, 4], [2, 3, 0]])
    source = encoder(TOKENS)
    outputs = decoder(target, encoder_outputs=source)
    assert outputs.shape == (2, 3, 8)
    changed_source = source.numpy().copy()
    changed_source[1, 2:] = 50.0  # padded source positions of row 1
    np.testing.assert_allclose(
        decoder(target, encoder_outputs=changed_source, encoder_mask=TOKENS != 0),
        outputs,
        atol=1e-5,
    )


def test_sequence_longer_than_max_length_fails_naming_it():
    encoder = TransformerEncoder(vocabulary_size=20, num_layers=1, hidden_dim=8, max_length=4)
    with pytest.raises(ValueError, match="max_length"):
        encoder(TOKENS)


def test_bad_block_argument_fails_at_construction():
    with pytest.raises(ValueError, match="`layout`"):
        TransformerEncoder(vocabulary_size=20, num_layers=1, hidden_dim=8, layout="zigzag")


@pytest.mark.parametrize("stack_class", [TransformerEncoder, TransformerDecoder])
def test_config_round_trip(stack_class):
    stack = stack_class(
        vocabulary_size=30,
        num_layers=3,
        hidden_dim=12,
        max_length=64,
        learned_position_mix=True,
        embedding_dropout=0.1,
        residual="rezero",
        norm="pre",
        num_heads=3,
        num_kv_heads=1,
        layout="parallel",
        name="stack",
    )
    config = stack.get_config()
    assert stack_class.from_config(config).get_config() == config
    assert config["num_kv_heads"] == 1 and config["layout"] == "parallel"
