"""Our single-head encoder against the pretrained MiniLM on both text tasks.

Question answered: for text classification and NER, how does our simplified
single-head encoder compare with the pretrained MiniLM backbone at the same
sequence length, in parameters, training throughput and prediction latency?

Candidates, each inside the library's task model (`TextClassifier` on the
DEMO sentiment data, `TokenClassifier` on the DEMO NER data), each fed by the
library's preprocessor (`ClassificationPreprocessor`,
`TokenClassificationPreprocessor`) with its own vocabulary:

- baseline: the pretrained MiniLM-L6-H384 (`load_bert_backbone(minilm_preset())`,
  6 layers, width 384, 12 heads, its 30,522-token WordPiece vocabulary);
- ours: `keras_simpletf.layers.TransformerEncoder` with one head, 2 layers,
  width 256 (feed-forward 1024, post-norm, sequential) and a WordPiece
  vocabulary learned from the DEMO data (at most 1,000 tokens).

Both read fixed-shape batches of the same sequence length (64, padded) and
batch size (32), preprocessed before any timing so tokenization is not timed.
Both train with the library's fine-tuning optimizer (AdamW, clipped
gradients), dropout 0.1, `jit_compile=False`, float32:

- params: weights of the whole task model, and of its token embedding
  (MiniLM's count includes its pooler, 147,840 weights the task models
  do not use: hence Keras's "Gradients do not exist" warning);
- train examples/s: `steps * batch / seconds` over timed `train_on_batch`
  steps after a few warm-up steps;
- batch-1 and batch-32 latency: median wall time of a `tf.function`-wrapped
  forward pass (`training=False`) on preprocessed features, after warm-up.

Reading the ratios: each is ours divided by the MiniLM baseline measured in
the same run. Params below 1: ours is smaller. Throughput above 1: ours
trains faster. Latency below 1: ours answers faster.

Usage (from the repository root; needs the pretrained MiniLM, the
`pretrained` extra):

    python -m benchmarks.tasks          # 20 timed steps, 50 latency calls
    python -m benchmarks.tasks --quick  # a tiny smoke test
"""

import argparse
import dataclasses
import importlib.util
import os
import sys
from typing import Callable

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine, median_ms, seconds_per_step  # noqa: E402
from keras_simpletf import data, layers, models, text  # noqa: E402
from keras_simpletf.models.backbones import MINILM_INSTALL  # noqa: E402

BASELINE = "MiniLM-L6-H384 (pretrained)"
OURS = "ours: single-head TransformerEncoder"
DROPOUT = 0.1
VOCABULARY_CORPUS_SIZE = 2000


@dataclasses.dataclass(frozen=True)
class Config:
    warmup_steps: int
    train_steps: int
    latency_calls: int
    seq_len: int = 64
    batch_size: int = 32
    our_layers: int = 2
    our_width: int = 256
    our_vocabulary_size: int = 1000

    def describe(self):
        return (
            f"seq={self.seq_len}, batch={self.batch_size}, ours: "
            f"{self.our_layers} layers, width {self.our_width}, 1 head, "
            f"learned vocabulary <= {self.our_vocabulary_size}; dropout="
            f"{DROPOUT}, float32, jit_compile=False, warm-up steps/calls="
            f"{self.warmup_steps}, timed train steps={self.train_steps}, "
            f"latency calls={self.latency_calls}"
        )


FULL_CONFIG = Config(warmup_steps=3, train_steps=20, latency_calls=50)
QUICK_CONFIG = Config(warmup_steps=1, train_steps=2, latency_calls=3)


@dataclasses.dataclass(frozen=True)
class Measurement:
    candidate: str
    vocabulary_size: int
    real_tokens_per_row: float
    params: int
    embedding_params: int
    train_examples_per_second: float
    batch_1_ms: float
    batch_n_ms: float


@dataclasses.dataclass(frozen=True)
class Task:
    """A task model class, its labels, a corpus to learn our vocabulary from,
    and `make_batch(vocabulary, lowercase, config)`: one preprocessed batch,
    `(features, label_ids)`, made by the task's library preprocessor."""

    name: str
    model_class: type
    labels: tuple
    corpus: list
    make_batch: Callable


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A backbone to compare: its vocabulary (a list of tokens), casing, and
    `make_backbone(vocabulary_size)`, a fresh backbone for a task model."""

    name: str
    vocabulary: list
    lowercase: bool
    make_backbone: Callable


def classification_task():

    def make_batch(vocabulary, lowercase, config):
        texts, labels = data.demo_sentiment(config.batch_size, seed=1)
        preprocessor = text.ClassificationPreprocessor(vocabulary, config.seq_len, lowercase)
        label_ids = text.LabelEncoder(data.SENTIMENT_LABELS)(tf.constant(labels))
        return preprocessor(texts), label_ids

    corpus, _ = data.demo_sentiment(VOCABULARY_CORPUS_SIZE)
    return Task(
        "classification (DEMO sentiment)",
        models.TextClassifier,
        data.SENTIMENT_LABELS,
        corpus,
        make_batch,
    )


def ner_task():

    def make_batch(vocabulary, lowercase, config):
        sentences, tags = data.demo_ner(config.batch_size, seed=1)
        preprocessor = text.TokenClassificationPreprocessor(
            vocabulary, config.seq_len, lowercase
        )
        tag_ids = text.LabelEncoder(data.NER_TAGS)(tf.ragged.constant(tags))
        return preprocessor(tf.ragged.constant(sentences), tag_ids)

    sentences, _ = data.demo_ner(VOCABULARY_CORPUS_SIZE)
    corpus = [" ".join(words) for words in sentences]
    return Task("NER (DEMO entities)", models.TokenClassifier, data.NER_TAGS, corpus, make_batch)


def minilm_candidate(preset):

    vocabulary_path, lowercase = models.bert_vocabulary(preset)
    return Candidate(
        BASELINE,
        text.read_vocabulary(vocabulary_path),
        lowercase,
        lambda vocabulary_size: models.load_bert_backbone(preset),
    )


def our_candidate(task, config):

    def make_backbone(vocabulary_size):
        return layers.TransformerEncoder(
            vocabulary_size=vocabulary_size,
            num_layers=config.our_layers,
            hidden_dim=config.our_width,
            max_length=config.seq_len,
            num_heads=1,
            dropout=DROPOUT,
        )

    vocabulary = text.learn_vocabulary(task.corpus, config.our_vocabulary_size, allow_smaller=True)
    return Candidate(OURS, vocabulary, True, make_backbone)


def measure_train_examples_per_second(model, features, labels, config):
    seconds = seconds_per_step(
        lambda: model.train_on_batch(features, labels), config.warmup_steps, config.train_steps
    )
    return config.batch_size / seconds


def measure_latency_ms(forward, features, config):
    """Median wall time, in ms, of `forward(features)`, after warm-up."""
    return median_ms(lambda: forward(features).numpy(), config.warmup_steps, config.latency_calls)


def measure(task, candidate, config):
    features, label_ids = task.make_batch(candidate.vocabulary, candidate.lowercase, config)
    single = {key: value[:1] for key, value in features.items()}
    keras.utils.set_random_seed(0)
    backbone = candidate.make_backbone(len(candidate.vocabulary))
    model = task.model_class(backbone, task.labels, dropout=DROPOUT)
    model.compile(
        optimizer=model.default_optimizer(config.warmup_steps + config.train_steps),
        loss=model.default_loss(),
        jit_compile=False,
    )
    forward = tf.function(lambda features: model(features, training=False))
    measurement = Measurement(
        candidate=candidate.name,
        vocabulary_size=len(candidate.vocabulary),
        real_tokens_per_row=float(np.mean(np.sum(features["padding_mask"], axis=1))),
        params=model.count_params(),
        embedding_params=backbone.token_embedding.count_params(),
        train_examples_per_second=measure_train_examples_per_second(
            model, features, label_ids, config
        ),
        batch_1_ms=measure_latency_ms(forward, single, config),
        batch_n_ms=measure_latency_ms(forward, features, config),
    )
    keras.backend.clear_session()
    return measurement


def format_table(measurements, config):
    baseline = next(m for m in measurements if m.candidate == BASELINE)
    n = config.batch_size
    lines = [
        "| candidate | vocabulary | real tokens/row | params | of which token embedding "
        "| params ratio | train examples/s | train ratio | batch-1 latency ms "
        f"| batch-1 ratio | batch-{n} latency ms | batch-{n} ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m in measurements:
        lines.append(
            f"| {m.candidate} | {m.vocabulary_size:,} | {m.real_tokens_per_row:.1f} "
            f"| {m.params:,} | {m.embedding_params:,} | {m.params / baseline.params:.3f} "
            f"| {m.train_examples_per_second:,.1f} "
            f"| {m.train_examples_per_second / baseline.train_examples_per_second:.2f} "
            f"| {m.batch_1_ms:.2f} | {m.batch_1_ms / baseline.batch_1_ms:.2f} "
            f"| {m.batch_n_ms:.2f} | {m.batch_n_ms / baseline.batch_n_ms:.2f} |"
        )
    return "\n".join(lines)


def require_minilm():
    """The MiniLM preset directory, or exit saying how to install it."""
    if importlib.util.find_spec("safetensors") is None:
        sys.exit(f"This benchmark needs the pretrained MiniLM and safetensors: {MINILM_INSTALL}.")
    try:
        return models.minilm_preset()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        sys.exit(f"This benchmark needs the pretrained MiniLM. {error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="few steps and calls, for a smoke test"
    )
    args = parser.parse_args()
    preset = require_minilm()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    tables = []
    for task in (classification_task(), ner_task()):
        measurements = []
        for candidate in (minilm_candidate(preset), our_candidate(task, config)):
            print(f"{task.name}: {candidate.name}", file=sys.stderr, flush=True)
            measurements.append(measure(task, candidate, config))
        tables.append((task.name, format_table(measurements, config)))
    print(describe_machine(tf, keras, keras_hub))
    print(f"Config: {config.describe()}")
    for task_name, table in tables:
        print(f"\n## {task_name}\n\n{table}")
    print(
        "\nRatios are ours / the MiniLM baseline in this run: params below 1 = "
        "smaller, train throughput above 1 = faster, latency below 1 = faster."
    )


if __name__ == "__main__":
    main()
