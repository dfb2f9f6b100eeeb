"""Our simplified encoder blocks against keras-hub's and Model Garden's.

Question answered: at matched width, depth and sequence length, how do the
simplified Transformer encoder blocks of `keras_simpletf.layers.EncoderBlock`
compare with the standard blocks of keras-hub (`TransformerEncoder`, the
baseline) and Model Garden (`TransformerEncoderBlock`, a tf_keras / Keras 2
layer) in parameters, training throughput and batch-1 inference latency?

Every candidate is a stack of identical blocks over a float input
`(batch, seq, width)` with a padding mask (a few padded positions at the end of
each row), followed by masked mean pooling and a `Dense(2)` head, trained with
Adam on sparse categorical cross-entropy over random data, with
`jit_compile=False`. Each candidate is measured in `float32` and in
`mixed_bfloat16`, with freshly built models for each policy:

- params: weights of the block stack (the pooling and head are left out);
- train tokens/s: `steps * batch * seq / seconds` over timed `train_on_batch`
  steps after a few warm-up steps;
- batch-1 latency: median wall time of a `tf.function`-wrapped forward pass on
  one sequence, after warm-up.

Reading the ratios: each is the candidate's number divided by the keras-hub
baseline's under the same policy, measured in the same run. Above 1 means more
parameters, more throughput (better) or more latency (worse) than the baseline.

Usage (from the repository root):

    python -m benchmarks.blocks          # d=256, 4 layers, seq 128, batch 32
    python -m benchmarks.blocks --quick  # a tiny smoke test
"""

import argparse
import contextlib
import dataclasses
import os
import sys
import types
from typing import Callable

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from official.nlp.modeling import layers as model_garden_layers  # noqa: E402

from benchmarks.timing import describe_machine, median_ms, seconds_per_step  # noqa: E402
from keras_simpletf.layers import EncoderBlock  # noqa: E402

ACTIVATION = "gelu"
STANDARD_NUM_HEADS = 4
NUM_CLASSES = 2
POLICIES = ("float32", "mixed_bfloat16")
BASELINE = "keras-hub TransformerEncoder"


@dataclasses.dataclass(frozen=True)
class Config:
    width: int
    num_layers: int
    seq_len: int
    batch_size: int
    warmup_steps: int
    train_steps: int
    latency_calls: int

    @property
    def intermediate_dim(self):
        return 4 * self.width

    def describe(self):
        return (
            f"width={self.width}, layers={self.num_layers}, "
            f"seq={self.seq_len}, batch={self.batch_size}, "
            f"intermediate={self.intermediate_dim}, activation={ACTIVATION}, "
            f"standard heads={STANDARD_NUM_HEADS}, warm-up steps="
            f"{self.warmup_steps}, timed train steps={self.train_steps}, "
            f"latency calls={self.latency_calls}"
        )


FULL_CONFIG = Config(
    width=256,
    num_layers=4,
    seq_len=128,
    batch_size=32,
    warmup_steps=3,
    train_steps=20,
    latency_calls=50,
)
QUICK_CONFIG = Config(
    width=64,
    num_layers=2,
    seq_len=32,
    batch_size=8,
    warmup_steps=2,
    train_steps=3,
    latency_calls=5,
)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A block to compare: `add_block(x, padding_mask, config)` makes a fresh
    block of `framework` (`keras` or `tf_keras`) and applies it to `x`."""

    name: str
    framework: types.ModuleType
    add_block: Callable


@dataclasses.dataclass(frozen=True)
class Measurement:
    candidate: str
    policy: str
    params: int
    train_tokens_per_second: float
    latency_ms: float


def add_keras_hub_block(x, padding_mask, config):
    block = keras_hub.layers.TransformerEncoder(
        intermediate_dim=config.intermediate_dim,
        num_heads=STANDARD_NUM_HEADS,
        activation=ACTIVATION,
    )
    return block(x, padding_mask=padding_mask)


def add_model_garden_block(x, padding_mask, config):
    attention_mask = model_garden_layers.SelfAttentionMask()([x, padding_mask])
    block = model_garden_layers.TransformerEncoderBlock(
        num_attention_heads=STANDARD_NUM_HEADS,
        inner_dim=config.intermediate_dim,
        inner_activation=ACTIVATION,
    )
    return block([x, attention_mask])


def our_block(**options):
    """An `add_block` for `keras_simpletf.layers.EncoderBlock(**options)`."""

    def add_block(x, padding_mask, config):
        block = EncoderBlock(
            intermediate_dim=config.intermediate_dim,
            activation=ACTIVATION,
            **options,
        )
        return block(x, mask=padding_mask)

    return add_block


CANDIDATES = (
    Candidate(BASELINE, keras, add_keras_hub_block),
    Candidate(
        "Model Garden TransformerEncoderBlock", tf_keras, add_model_garden_block
    ),
    Candidate("ours: 4-head", keras, our_block(num_heads=STANDARD_NUM_HEADS)),
    Candidate(
        "ours: 4-head, relative positions",
        keras,
        our_block(num_heads=STANDARD_NUM_HEADS, relative_position_range=16),
    ),
    Candidate(
        "ours: multi-query",
        keras,
        our_block(num_heads=STANDARD_NUM_HEADS, num_kv_heads=1),
    ),
    Candidate("ours: single-head", keras, our_block(num_heads=1)),
    Candidate(
        "ours: single-head, relative positions",
        keras,
        our_block(num_heads=1, relative_position_range=16),
    ),
    Candidate("ours: parallel", keras, our_block(num_heads=1, layout="parallel")),
    Candidate("ours: value-free", keras, our_block(num_heads=1, value_free=True)),
    Candidate(
        "ours: rezero",
        keras,
        our_block(num_heads=1, residual="rezero", norm="none"),
    ),
)


@contextlib.contextmanager
def global_policy(policy):
    """Sets `policy` in Keras 3 and tf_keras, then puts back float32 in both."""
    keras.mixed_precision.set_global_policy(policy)
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")
        tf_keras.mixed_precision.set_global_policy("float32")


def random_batch(rng, batch_size, config):
    """Features, a padding mask (1 to seq/8 padded positions per row), labels."""
    features = rng.standard_normal(
        (batch_size, config.seq_len, config.width), dtype=np.float32
    )
    max_padding = max(1, config.seq_len // 8)
    lengths = config.seq_len - rng.integers(1, max_padding + 1, size=batch_size)
    padding_mask = np.arange(config.seq_len)[None, :] < lengths[:, None]
    labels = rng.integers(0, NUM_CLASSES, size=batch_size)
    return (
        [tf.constant(features), tf.constant(padding_mask)],
        tf.constant(labels),
    )


def build_classifier(candidate, config):
    """The compiled classifier and the parameter count of its block stack."""
    framework = candidate.framework
    features = framework.Input((config.seq_len, config.width), name="features")
    padding_mask = framework.Input(
        (config.seq_len,), dtype="bool", name="padding_mask"
    )
    sequence = features
    for _ in range(config.num_layers):
        sequence = candidate.add_block(sequence, padding_mask, config)
    block_stack = framework.Model([features, padding_mask], sequence)
    pooled = framework.layers.GlobalAveragePooling1D()(sequence, mask=padding_mask)
    logits = framework.layers.Dense(NUM_CLASSES, dtype="float32")(pooled)
    classifier = framework.Model([features, padding_mask], logits)
    classifier.compile(
        optimizer=framework.optimizers.Adam(),
        loss=framework.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    return classifier, block_stack.count_params()


def measure_train_tokens_per_second(classifier, inputs, labels, config):
    seconds = seconds_per_step(
        lambda: classifier.train_on_batch(inputs, labels),
        config.warmup_steps,
        config.train_steps,
    )
    return config.batch_size * config.seq_len / seconds


def measure_latency_ms(classifier, inputs, config):
    """Median wall time, in ms, of a traced forward pass on `inputs`."""
    forward = tf.function(lambda inputs: classifier(inputs, training=False))
    return median_ms(lambda: forward(inputs).numpy(), config.warmup_steps, config.latency_calls)


def measure(candidate, policy, config):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train_inputs, train_labels = random_batch(rng, config.batch_size, config)
    single_inputs, _ = random_batch(rng, 1, config)
    with global_policy(policy):
        classifier, params = build_classifier(candidate, config)
        tokens_per_second = measure_train_tokens_per_second(
            classifier, train_inputs, train_labels, config
        )
        latency_ms = measure_latency_ms(classifier, single_inputs, config)
    candidate.framework.backend.clear_session()
    return Measurement(candidate.name, policy, params, tokens_per_second, latency_ms)


def format_table(measurements):
    baselines = {m.policy: m for m in measurements if m.candidate == BASELINE}
    lines = [
        "| candidate | policy | params | params ratio | train tokens/s "
        "| train ratio | batch-1 latency ms | latency ratio |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for m in measurements:
        baseline = baselines[m.policy]
        lines.append(
            f"| {m.candidate} | {m.policy} | {m.params:,} "
            f"| {m.params / baseline.params:.2f} "
            f"| {m.train_tokens_per_second:,.0f} "
            f"| {m.train_tokens_per_second / baseline.train_tokens_per_second:.2f} "
            f"| {m.latency_ms:.2f} | {m.latency_ms / baseline.latency_ms:.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few steps, for a smoke test",
    )
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    runs = [(policy, c) for policy in POLICIES for c in CANDIDATES]
    measurements = []
    for index, (policy, candidate) in enumerate(runs, start=1):
        print(
            f"[{index}/{len(runs)}] {candidate.name} ({policy})",
            file=sys.stderr,
            flush=True,
        )
        measurements.append(measure(candidate, policy, config))
    print(describe_machine(tf, keras, tf_keras, keras_hub))
    print(f"Config: {config.describe()}")
    print()
    print(format_table(measurements))
    print()
    print(
        "Ratios are relative to the keras-hub baseline under the same policy "
        "in this run; above 1 means more params, more throughput (better) or "
        "more latency (worse) than the baseline."
    )


if __name__ == "__main__":
    main()
