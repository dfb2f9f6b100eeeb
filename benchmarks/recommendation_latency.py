"""Batch-1 `recommend` latency of exact scoring as the catalogue grows to 10k and 100k items.

Question answered: what does one exact-scoring `recommend` request cost, and
what does building the exact index cost, for the text two-tower model
(`TextTwoTowerRetrieval`, whose query tower reads the history through the
item tower) against matrix factorisation (`IdTwoTowerRetrieval`), as the
catalogue grows? (Retrieval quality is `benchmarks.recommendation`'s
question, on MovieLens.)

The text model trains briefly on the DEMO data (clicks before
`DEMO_TIME_CUT`; a 1-layer, width-32 `TransformerEncoder` over a WordPiece
vocabulary, sequence length 20, embedding 32, Adam 0.005), then is
re-indexed with `with_catalogue` over a larger catalogue: the 160 DEMO items
plus synthetic items whose texts come from the DEMO generator with another
seed (same topics, same wording), ids `new000000`, ... with zero training
counts. Nothing is retrained:

- index build s: `catalogue_embeddings(batch_size=...)`, the exact index
  (one unit vector per item through the item tower), built once, eagerly,
  as `serving.export` does; the tokenisation of the new texts is timed
  apart;
- recommend ms: median wall time of a `tf.function` with the serving
  signature (`user_id` string `[None]`, `history` string `[None, None]`)
  around `recommend(features, k=10, index)`, exact (full-catalogue)
  scoring, for one query (batch 1: a DEMO test user and 5 history items),
  outputs fetched to numpy, after warm-up (which includes tracing). The
  text model's query tower runs the item tower (the Transformer) over the
  history's items at every request; the index serves only the candidates.

The id-only model is timed at the same sizes for comparison: a fresh
`IdTwoTowerRetrieval` over the same catalogue with random (untrained)
embeddings and every item counted as trained; its numbers are latency only,
it recommends nothing sensible. Latency ratio: text / id-only at the same
catalogue size (above 1: the text model answers slower). The figures come
from one run on a possibly shared machine: compare within a run.

Usage (from the repository root):

    python -m benchmarks.recommendation_latency          # 10k and 100k items
    python -m benchmarks.recommendation_latency --quick  # 1k and 5k items
"""

import argparse
import dataclasses
import math
import os
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine, median_ms  # noqa: E402
from keras_simpletf.data.demo_recommendation import (  # noqa: E402
    DEMO_TIME_CUT,
    demo_recommendation,
)
from keras_simpletf.data.splits import time_cut_split  # noqa: E402
from keras_simpletf.layers import TransformerEncoder  # noqa: E402
from keras_simpletf.models import IdTwoTowerRetrieval, TextTwoTowerRetrieval  # noqa: E402
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary  # noqa: E402

HISTORY_LENGTH = 5
SEQUENCE_LENGTH = 20
VOCABULARY_SIZE = 120
EMBEDDING_DIM = 32
BATCH_SIZE = 128
SEED = 0
SERVING_K = 10
SYNTHETIC_TEXT_SEED = 1

ID_ONLY = "id-only two-tower"
TEXT = "text two-tower"


@dataclasses.dataclass(frozen=True)
class Config:
    epochs: int
    catalogue_sizes: tuple
    index_batch_size: int
    warmup_calls: int
    latency_calls: int

    def describe(self):
        return (
            f"text model trained {self.epochs} epochs on DEMO clicks (batch {BATCH_SIZE}, "
            f"history {HISTORY_LENGTH}, embedding {EMBEDDING_DIM}, encoder 1 layer, width 32, "
            f"seq {SEQUENCE_LENGTH}, vocabulary {VOCABULARY_SIZE}); catalogues "
            f"{', '.join(f'{n:,}' for n in self.catalogue_sizes)} items, index batch size "
            f"{self.index_batch_size}, k={SERVING_K}, batch 1, warm-up calls "
            f"{self.warmup_calls}, timed calls {self.latency_calls}"
        )


FULL_CONFIG = Config(
    epochs=10,
    catalogue_sizes=(10_000, 100_000),
    index_batch_size=2048,
    warmup_calls=10,
    latency_calls=200,
)
QUICK_CONFIG = Config(
    epochs=1,
    catalogue_sizes=(1_000, 5_000),
    index_batch_size=2048,
    warmup_calls=3,
    latency_calls=20,
)


@dataclasses.dataclass(frozen=True)
class Latency:
    model: str
    items: int
    tokenize_seconds: float
    index_seconds: float
    index_mib: float
    recommend_ms: float


def timed(function):
    """`(function(), seconds)`."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def trained_text_model(config):
    """The DEMO catalogue, its training counts, a query, the trained text model and its preprocessor."""
    keras.utils.set_random_seed(SEED)
    log = demo_recommendation()
    train, test = time_cut_split(log.select(log.labels > 0), DEMO_TIME_CUT)
    catalogue = log.catalogue
    examples = {
        "user_id": train.user_ids,
        "history": train.histories(HISTORY_LENGTH),
        "item_id": train.item_ids,
    }
    batches = tf.data.Dataset.from_tensor_slices(examples).shuffle(
        len(train), seed=SEED).batch(BATCH_SIZE)
    preprocessor = ClassificationPreprocessor(
        learn_vocabulary(catalogue.texts, VOCABULARY_SIZE), sequence_length=SEQUENCE_LENGTH)
    encoder = TransformerEncoder(
        len(preprocessor.vocabulary), num_layers=1, hidden_dim=32, max_length=SEQUENCE_LENGTH)
    model = TextTwoTowerRetrieval(
        encoder, catalogue.item_ids, preprocessor(catalogue.texts)["token_ids"],
        train.users(), train.item_counts(), embedding_dim=EMBEDDING_DIM)
    model.compile(keras.optimizers.Adam(0.005))
    model.fit(batches, epochs=config.epochs, verbose=0)
    user = test.users()[:1]
    query = (tf.constant(user), tf.constant(train.recent_items(user, HISTORY_LENGTH)))
    return catalogue, train.item_counts(), query, model, preprocessor


def grown_catalogue(catalogue, counts, size):
    """The DEMO items plus `size - 160` synthetic DEMO-like items: ids, texts, counts."""
    extra = size - len(catalogue)
    synthetic = demo_recommendation(
        num_users=1, num_items=extra, events_per_user=1, seed=SYNTHETIC_TEXT_SEED).catalogue
    item_ids = list(catalogue.item_ids) + [f"new{index:06d}" for index in range(extra)]
    texts = list(catalogue.texts) + list(synthetic.texts)
    return item_ids, texts, np.concatenate([counts, np.zeros(extra, np.int64)])
def serving_recommend(model, index):
    """`recommend` traced with the serving signature, over a precomputed index."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                  tf.TensorSpec([None, None], tf.string, name="history")])
    def recommend(user_id, history):
        return model.recommend({"user_id": user_id, "history": history}, SERVING_K, index)

    return recommend


def measure_recommend_ms(model, index, query, config):
    recommend = serving_recommend(model, index)
    user_id, history = query

    def call():
        result = recommend(user_id, history)
        return result["item_ids"].numpy(), result["scores"].numpy()

    return median_ms(call, config.warmup_calls, config.latency_calls)


def measure_latency(catalogue, counts, query, text_model, preprocessor, config):
    """Text (re-indexed) and id-only (random) models at each catalogue size."""
    latencies = []
    for size in config.catalogue_sizes:
        print(f"catalogue of {size:,} items", file=sys.stderr, flush=True)
        item_ids, texts, grown_counts = grown_catalogue(catalogue, counts, size)
        token_ids, tokenize_seconds = timed(
            lambda: preprocessor(texts)["token_ids"].numpy())
        grown = text_model.with_catalogue(item_ids, token_ids, grown_counts)
        index, index_seconds = timed(
            lambda: grown.catalogue_embeddings(batch_size=config.index_batch_size).numpy())
        index = tf.constant(index)
        latencies.append(Latency(
            TEXT, size, tokenize_seconds, index_seconds, index.numpy().nbytes / 2**20,
            measure_recommend_ms(grown, index, query, config)))
        del grown

        keras.utils.set_random_seed(SEED)
        users = [user.decode() for user in query[0].numpy()]
        id_only = IdTwoTowerRetrieval(item_ids, users, item_counts=None,
                                      embedding_dim=EMBEDDING_DIM)
        index, index_seconds = timed(
            lambda: id_only.catalogue_embeddings(batch_size=config.index_batch_size).numpy())
        index = tf.constant(index)
        latencies.append(Latency(
            ID_ONLY, size, math.nan, index_seconds, index.numpy().nbytes / 2**20,
            measure_recommend_ms(id_only, index, query, config)))
        del id_only
    return latencies


def ratio(numerator, denominator):
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return "-"
    return f"{numerator / denominator:.2f}"


def format_latency_table(latencies, config):
    id_ms = {m.items: m.recommend_ms for m in latencies if m.model == ID_ONLY}
    lines = [
        "| model | catalogue items | tokenize s | index build s "
        f"(batch {config.index_batch_size}) | index items/s | index MiB "
        f"| recommend ms (batch 1, k={SERVING_K}) | text / id-only |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m in latencies:
        tokenize = "-" if math.isnan(m.tokenize_seconds) else f"{m.tokenize_seconds:.2f}"
        text_ratio = ratio(m.recommend_ms, id_ms[m.items]) if m.model == TEXT else ""
        name = m.model if m.model == TEXT else f"{m.model} (random embeddings)"
        lines.append(
            f"| {name} | {m.items:,} | {tokenize} | {m.index_seconds:.2f} "
            f"| {m.items / m.index_seconds:,.0f} | {m.index_mib:.1f} "
            f"| {m.recommend_ms:.2f} | {text_ratio} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true",
        help="1 epoch and catalogues of 1k and 5k items, for a smoke test")
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    start = time.perf_counter()
    print("training on the DEMO data", file=sys.stderr, flush=True)
    catalogue, counts, query, text_model, preprocessor = trained_text_model(config)
    latencies = measure_latency(catalogue, counts, query, text_model, preprocessor, config)
    print(describe_machine(tf, keras, np))
    print(f"Config: {config.describe()}")
    print("\n## Batch-1 recommend latency (exact scoring, traced, precomputed index)\n")
    print(format_latency_table(latencies, config))
    print(
        "\nText two-tower: the trained model re-indexed with `with_catalogue` over DEMO + "
        "synthetic DEMO-like item texts; id-only: an untrained model with random embeddings, "
        "for timing only. Latency ratio above 1 = the text model answers slower."
    )
    print(f"\nTotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
