"""Tests for keras_simpletf/models/seq2seq.py: the model, its loss, and its decoding over the key/value cache."""

import inspect
import json

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_simpletf.data.demo_translation import (
    DEMO_TRANSLATION_VOCABULARY,
    demo_translation,
    demo_translation_features,
)
from keras_simpletf.layers import TransformerEncoder
from keras_simpletf.models.fine_tuning import averaging_momentum
from keras_simpletf.models.seq2seq import (
    PRETRAINED_ENCODER_LEARNING_RATE,
    LabelSmoothedCrossEntropy,
    Seq2SeqTransformer,
)

SOURCE = np.array([[5, 6, 7, 8, 2, 0], [9, 3, 2, 0, 0, 0], [4, 4, 4, 4, 4, 2]])
TINY = dict(num_layers=2, hidden_dim=16, intermediate_dim=32, num_heads=2, dropout=0.0, max_length=16)


def tiny_bert(hidden_dim=16):
    """A random keras-hub BERT over the DEMO vocabulary: a pretrained encoder's stand-in."""
    return keras_hub.models.BertBackbone(
        vocabulary_size=len(DEMO_TRANSLATION_VOCABULARY), num_layers=2, num_heads=2,
        hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim, dropout=0.0, max_sequence_length=16,
    )


def our_encoder():
    return TransformerEncoder(len(DEMO_TRANSLATION_VOCABULARY), num_layers=1, hidden_dim=16)


OPTIONS = [
    dict(),
    dict(num_kv_heads=1, layout="parallel", norm="pre"),
    dict(value_free=True, residual="rezero", tie_embeddings=False),
    dict(target_vocabulary_size=13, residual="scaled", norm="none"),
    dict(encoder=tiny_bert, target_vocabulary_size=13, num_kv_heads=1),
    dict(encoder=our_encoder, norm="pre"),
]


def tiny_model(**options):
    """A tiny model; an `encoder` option is a function that builds the encoder to give."""
    keras.utils.set_random_seed(0)
    if "encoder" in options:
        options["encoder"] = options["encoder"]()
    return Seq2SeqTransformer(vocabulary_size=len(DEMO_TRANSLATION_VOCABULARY), **{**TINY, **options})


def randomise(model):
    """Weights under which a random model's next token depends on the prefix and the source.

    At initialisation the tied logits are small and one token wins every step;
    ReZero gates start at 0, making every block the identity; relative-position
    biases start at 0, adding nothing.
    """
    rng = np.random.default_rng(1)
    for weight in model.weights:
        if weight.path.endswith("gate"):
            weight.assign(0.7)
        elif weight.path.endswith("embeddings") or "output_projection" in weight.path:
            weight.assign(rng.normal(scale=0.5, size=weight.shape))
        elif "relative_position_bias" in weight.path:  # zeros at first
            weight.assign(rng.normal(size=weight.shape))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda options: str(
    {key: getattr(value, "__name__", value) for key, value in options.items()}))
def test_cached_decoding_equals_uncached_decoding_token_for_token(options):
    model = tiny_model(**options)
    randomise(model)
    # As long as the model's positions go: the uncached step's buffer holds one token more.
    max_length = TINY["max_length"]
    for method in ("greedy", "beam"):
        cached = model.generate(SOURCE, method=method, max_length=max_length)
        uncached = model.generate(SOURCE, method=method, max_length=max_length, use_cache=False)
        np.testing.assert_array_equal(cached["token_ids"], uncached["token_ids"])
        np.testing.assert_allclose(cached["scores"], uncached["scores"], rtol=1e-4)
        assert len(np.unique(cached["token_ids"])) > 1  # outputs that depend on the source


def test_decoding_never_produces_padding_or_the_start_token_before_the_end():
    model = tiny_model()
    token_ids = model.generate(SOURCE, method="sample", max_length=10, seed=3)["token_ids"].numpy()
    for row in token_ids:
        ends = np.flatnonzero(row == model.end_id)
        real = row[: ends[0]] if len(ends) else row
        assert not np.isin(real, [0, model.start_id]).any()
        if len(ends):
            np.testing.assert_array_equal(row[ends[0] + 1 :], 0)


def test_the_model_learns_the_demo_translation_and_every_decoder_reproduces_it():
    keras.utils.set_random_seed(0)
    length = 10
    train_features, train_labels = demo_translation_features(*demo_translation(2000, seed=0), length)
    eval_features, eval_labels = demo_translation_features(*demo_translation(200, seed=1), length)
    model = Seq2SeqTransformer(
        len(DEMO_TRANSLATION_VOCABULARY), num_layers=1, hidden_dim=32, intermediate_dim=64,
        num_heads=2, dropout=0.0, max_length=16,
    )
    epochs, batch_size = 10, 32
    model.compile(
        model.default_optimizer(epochs * 63, learning_rate=1e-2),
        model.default_loss(),
        metrics=model.default_metrics(),
    )
    history = model.fit(train_features, train_labels, batch_size=batch_size, epochs=epochs, verbose=0)
    assert history.history["token_accuracy"][-1] > 0.95
    generate = tf.function(lambda source_ids, method: model.generate(source_ids, method, max_length=length))
    source_ids = tf.constant(eval_features["source_ids"])
    exact = {}
    for method in ("greedy", "beam"):
        token_ids = generate(source_ids, method)["token_ids"].numpy()
        exact[method] = (token_ids == eval_labels).all(axis=1).mean()
    assert exact["greedy"] >= 0.85 and exact["beam"] >= 0.85, exact
    uncached = model.generate(source_ids[:20], "greedy", max_length=length, use_cache=False)
    np.testing.assert_array_equal(uncached["token_ids"], generate(source_ids[:20], "greedy")["token_ids"])


def test_a_bert_encoder_under_a_fresh_decoder_learns_the_demo_translation():
    keras.utils.set_random_seed(0)
    length = 10
    train_features, train_labels = demo_translation_features(*demo_translation(1500, seed=0), length)
    eval_features, eval_labels = demo_translation_features(*demo_translation(200, seed=1), length)
    model = Seq2SeqTransformer(encoder=tiny_bert(hidden_dim=32), num_layers=1, num_heads=2,
                               dropout=0.0, max_length=16)
    assert model.decoder.hidden_dim == 32 and model.intermediate_dim == 128
    epochs = 8
    model.compile(model.default_optimizer(epochs * 47, learning_rate=3e-3), model.default_loss(),
                  metrics=model.default_metrics())
    model.fit(train_features, train_labels, batch_size=32, epochs=epochs, verbose=0)
    generate = tf.function(lambda source_ids: model.generate(source_ids, "greedy", max_length=length))
    token_ids = generate(tf.constant(eval_features["source_ids"]))["token_ids"].numpy()
    assert (token_ids == eval_labels).all(axis=1).mean() >= 0.85
    pooler = model.encoder.get_layer("pooled_dense")
    assert not pooler.trainable and not set(map(id, pooler.weights)) & set(map(id, model.trainable_weights))


def test_the_loss_is_the_mean_over_real_tokens_and_ignores_padding():
    loss = LabelSmoothedCrossEntropy(0.1)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 7)).astype("float32")
    labels = np.array([[3, 4, 5], [6, 1, 2]])
    padded_logits = np.concatenate([logits, rng.normal(size=(2, 4, 7)).astype("float32") * 9], axis=1)
    padded_labels = np.concatenate([labels, np.zeros((2, 4), int)], axis=1)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        np.eye(7)[labels], logits
    )
    np.testing.assert_allclose(float(loss(padded_labels, padded_logits)), float(expected), rtol=1e-5)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_fit_and_evaluate_take_the_loss_as_the_mean_over_real_tokens(tie_embeddings):
    model = tiny_model(tie_embeddings=tie_embeddings)
    randomise(model)
    features, targets = demo_translation_features(*demo_translation(4, seed=0), 16)
    model.compile(loss=model.default_loss())
    # The logits as plain numbers: no Keras mask for the loss to average over.
    expected = model.default_loss()(targets, np.asarray(model(features)))
    assert np.asarray(targets == 0).any()
    np.testing.assert_allclose(model.evaluate(features, targets, verbose=0), expected, rtol=1e-5)


def test_tied_embeddings_are_one_matrix_for_encoder_decoder_and_output():
    shared = tiny_model()
    embeddings = [weight for weight in shared.weights if "embedding" in weight.path]
    assert len(embeddings) == 1 and shared.output_projection is None
    separate = tiny_model(target_vocabulary_size=13)
    assert separate.encoder.token_embedding is not separate.decoder.token_embedding
    assert separate(
        {"source_ids": SOURCE, "target_in_ids": np.array([[1, 12, 3]] * 3)}
    ).shape == (3, 3, 13)
    untied = tiny_model(tie_embeddings=False)
    assert untied.output_projection is not None
    assert untied.encoder.token_embedding is not untied.decoder.token_embedding
    # A given encoder keeps its embeddings; the decoder's are tied to its output.
    for encoder in (tiny_bert, our_encoder):
        given = tiny_model(encoder=encoder)
        assert given.encoder.token_embedding is not given.decoder.token_embedding
        assert given.output_projection is None


def test_a_given_encoder_sets_the_width_and_source_vocabulary():
    model = Seq2SeqTransformer(target_vocabulary_size=13, num_layers=1, encoder=tiny_bert())
    assert (model.vocabulary_size, model.hidden_dim, model.intermediate_dim) == (23, 16, 64)
    with pytest.raises(ValueError, match="`hidden_dim` is 16 with this `encoder`.*got 32"):
        Seq2SeqTransformer(hidden_dim=32, encoder=tiny_bert())
    with pytest.raises(ValueError, match="`vocabulary_size` is 23 with this `encoder`"):
        Seq2SeqTransformer(vocabulary_size=30, encoder=tiny_bert())
    with pytest.raises(ValueError, match="`vocabulary_size` is needed"):
        Seq2SeqTransformer(num_layers=1)


@pytest.mark.parametrize("options", [
    dict(num_kv_heads=1, tie_embeddings=False, label_smoothing=0.2, use_bias=False,
         relative_position_range=3),
    dict(encoder=tiny_bert, target_vocabulary_size=13, label_smoothing=0.2),
], ids=["ours", "bert"])
def test_get_config_returns_every_argument_and_a_keras_file_round_trips(options, tmp_path):
    model = tiny_model(**options)
    randomise(model)
    arguments = set(inspect.signature(Seq2SeqTransformer.__init__).parameters) - {"self", "kwargs"}
    assert arguments <= set(model.get_config())
    model.save(tmp_path / "seq2seq.keras")
    loaded = keras.saving.load_model(tmp_path / "seq2seq.keras")
    assert loaded.get_config() == model.get_config()
    inputs = {"source_ids": SOURCE, "target_in_ids": np.array([[1, 5, 6]] * 3)}
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-5)
    np.testing.assert_array_equal(
        loaded.generate(SOURCE, max_length=6)["token_ids"], model.generate(SOURCE, max_length=6)["token_ids"]
    )
    assert type(loaded.encoder) is type(model.encoder)


def test_decoding_survives_saved_model_export_and_reload(tmp_path):
    model = tiny_model(max_length=8, num_layers=1)

    class Translator(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def beam(self, source_ids):
            return self.model.generate(source_ids)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def greedy(self, source_ids):
            return self.model.generate(source_ids, method="greedy")

    translator = Translator(model)
    tf.saved_model.save(translator, str(tmp_path / "translator"))
    reloaded = tf.saved_model.load(str(tmp_path / "translator"))
    source_ids = tf.constant(SOURCE, tf.int32)
    for method in ("beam", "greedy"):
        expected = getattr(translator, method)(source_ids)
        served = getattr(reloaded, method)(source_ids)
        np.testing.assert_array_equal(served["token_ids"], expected["token_ids"])
        assert served["token_ids"].shape == (3, 8)


def test_default_optimizer_is_the_transformer_recipe():
    model = tiny_model(hidden_dim=512, intermediate_dim=8, num_layers=1, num_heads=8)
    optimizer = model.default_optimizer(total_steps=100_000)
    assert optimizer.beta_2 == 0.98 and optimizer.epsilon == 1e-9
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    peak = 512**-0.5 * 4000**-0.5
    assert float(schedule(2000)) == pytest.approx(peak / 2)
    assert float(schedule(4000)) == pytest.approx(peak)
    assert float(schedule(16000)) == pytest.approx(peak / 2)
    short = model.default_optimizer(total_steps=300).get_config()["learning_rate"]
    assert short["config"]["warmup_steps"] == 30


def test_the_default_optimizer_ends_training_on_a_moving_average_of_the_last_eighth():
    assert averaging_momentum(8000) == pytest.approx(0.999)
    assert not tiny_model().default_optimizer(total_steps=8000, ema_momentum=0).use_ema
    model, steps = tiny_model(), 16
    features, labels = demo_translation_features(*demo_translation(steps * 4, seed=0), 10)
    optimizer = model.default_optimizer(total_steps=steps)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.5  # 1 - 1 / (16 / 8)
    model.compile(optimizer, model.default_loss())
    trajectory = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: trajectory.append(
            [weight.numpy() for weight in model.trainable_weights]
        )
    )
    model.fit(features, labels, batch_size=4, epochs=1, callbacks=[record], verbose=0)
    assert len(trajectory) == steps
    expected = trajectory[0]  # Keras starts the average at the first step's weights
    for weights in trajectory[1:]:
        expected = [0.5 * average + 0.5 * weight for average, weight in zip(expected, weights)]
    for weight, average, last in zip(model.trainable_weights, expected, trajectory[-1]):
        np.testing.assert_allclose(weight.numpy(), average, atol=1e-6)
    assert any(not np.allclose(average, last) for average, last in zip(expected, trajectory[-1]))


def test_default_optimizer_over_a_pretrained_encoder_peaks_lower_on_the_same_schedule():
    optimizer = tiny_model(encoder=tiny_bert).default_optimizer(total_steps=100_000)
    assert optimizer.beta_2 == 0.98
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    assert float(schedule(4000)) == pytest.approx(PRETRAINED_ENCODER_LEARNING_RATE)
    assert float(schedule(16000)) == pytest.approx(PRETRAINED_ENCODER_LEARNING_RATE / 2)
    # Our encoder handed over is trained from scratch: the paper's rate.
    ours = tiny_model(encoder=our_encoder).default_optimizer(total_steps=100_000)
    peak = ours.get_config()["learning_rate"]["config"]["peak_learning_rate"]
    assert peak == pytest.approx((16 * 4000) ** -0.5)


@pytest.mark.parametrize("policy, encoder", [
    ("mixed_bfloat16", None), ("mixed_float16", None), ("mixed_float16", tiny_bert),
], ids=["mixed_bfloat16", "mixed_float16", "mixed_float16-bert"])
def test_mixed_precision_trains_and_decodes_with_the_cache(policy, encoder):
    keras.mixed_precision.set_global_policy(policy)
    model = tiny_model(num_layers=1, **({"encoder": encoder} if encoder else {}))
    features, labels = demo_translation_features(*demo_translation(8), sequence_length=10)
    model.compile(keras.optimizers.Adam(1e-3), model.default_loss())
    assert model(features).dtype == "float32"
    assert np.isfinite(model.train_on_batch(features, labels))
    assert {weight.dtype for weight in model.weights} == {"float32"}
    cached = model.generate(SOURCE, method="greedy", max_length=6)
    np.testing.assert_array_equal(
        cached["token_ids"], model.generate(SOURCE, method="greedy", max_length=6, use_cache=False)["token_ids"]
    )


def test_trains_under_a_mirrored_strategy(two_cpu_strategy):
    features, labels = demo_translation_features(*demo_translation(16), sequence_length=10)
    with two_cpu_strategy.scope():
        model = tiny_model(num_layers=1)
        model.compile(model.default_optimizer(total_steps=2), model.default_loss(),
                      metrics=model.default_metrics())
    history = model.fit(features, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def _policies(layer):
    """The dtype policy names of `layer` and every layer inside it."""
    return {sublayer.dtype_policy.name for sublayer in layer._flatten_layers()}


@pytest.mark.parametrize("options", [
    dict(), dict(tie_embeddings=False, target_vocabulary_size=13), dict(encoder=our_encoder),
], ids=["tied", "untied", "given_encoder"])
@pytest.mark.parametrize("given_as", ["argument", "global_policy"])
def test_a_dtype_policy_applies_to_the_layers_the_model_builds_and_survives_a_keras_file(
    options, given_as, tmp_path
):
    if given_as == "global_policy":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = tiny_model(**options)
        keras.mixed_precision.set_global_policy("float32")
    else:
        model = tiny_model(dtype="mixed_bfloat16", **options)
    randomise(model)
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert _policies(model.decoder) == {"mixed_bfloat16"}
    if model.output_projection is not None:
        assert model.output_projection.dtype_policy.name == "mixed_bfloat16"
    # A given encoder keeps its own policy (built under the global one); the one the
    # model builds takes the model's.
    own_policy = "float32" if "encoder" in options and given_as == "argument" else "mixed_bfloat16"
    assert _policies(model.encoder) == {own_policy}
    model.save(tmp_path / "seq2seq.keras")
    loaded = keras.saving.load_model(tmp_path / "seq2seq.keras")
    # As JSON: a given encoder's build config comes back with lists for tuples.
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert _policies(loaded.decoder) == _policies(model.decoder)
    assert _policies(loaded.encoder) == _policies(model.encoder)
    inputs = {"source_ids": SOURCE, "target_in_ids": np.array([[1, 5, 6]] * 3)}
    logits = model(inputs)
    assert logits.dtype == "float32"
    np.testing.assert_array_equal(loaded(inputs), logits)
    np.testing.assert_array_equal(
        loaded.generate(SOURCE, max_length=6)["token_ids"], model.generate(SOURCE, max_length=6)["token_ids"]
    )
