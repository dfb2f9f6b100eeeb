"""Retrieval on the DEMO data: popularity vs id-only vs text two-tower, and serving latency.

Question answered: on the DEMO recommendation data, how much retrieval
quality does the text two-tower model (`TextTwoTowerRetrieval`, whose item
tower reads item text) gain over matrix factorisation (`IdTwoTowerRetrieval`)
and the most-popular baseline (`MostPopularItems`), overall and on
cold-start items, at what training cost; and what does one exact-scoring
`recommend` request cost as the catalogue grows to 10k and 100k items?

Quality. `demo_recommendation()`, clicks only, split with
`time_cut_split(clicks, DEMO_TIME_CUT)`; items released after the cut are
in no training interaction (cold start). The three models are built and
trained as in `tests/models/test_recommender.py` (seed 0, batches of 128
`{user_id, history (last 5 items), item_id}`, embedding 32; id-only: Adam
0.01; text: a 1-layer, width-32 `TransformerEncoder` over a 200-token
WordPiece vocabulary, sequence length 20, Adam 0.005), so the full run should
reproduce the numbers that test prints. Every test user is scored against the
whole catalogue with their 5 latest training items as history, through
`retrieval_report` (training items excluded from the ranking):

- Recall@10/50/100, HitRate@10, NDCG@10, overall and on cold-start items
  (only test items that no training interaction names count as relevant);
- train s: wall time of `fit` (its first epoch includes tracing);
  the most-popular baseline "trains" by counting.

Latency. The trained text model is re-indexed with `with_catalogue` over a
larger catalogue: the 160 DEMO items plus synthetic items whose texts come
from the DEMO generator with another seed (same topics, same wording), ids
`new000000`, ... with zero training counts. Nothing is retrained:

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
it recommends nothing sensible.

Reading the ratios: quality ratios are a model's number divided by the
most-popular baseline's (above 1: better), and text / id-only; "-" where the
denominator is 0 (no model that reads only ids or popularity can retrieve a
cold-start item: their cold-start numbers are 0 by construction). Train s
ratio: text / id-only. Latency ratio: text / id-only at the same catalogue
size (above 1: the text model answers slower). The figures come from one run
on a possibly shared machine: compare within a run, not across machines.

Usage (from the repository root):

    python -m benchmarks.recommendation          # 10 epochs, 10k and 100k items
    python -m benchmarks.recommendation --quick  # 3 epochs, 1k and 5k items
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
from keras_simpletf.metrics.ranking import retrieval_report  # noqa: E402
from keras_simpletf.models.recommender import (  # noqa: E402
    IdTwoTowerRetrieval,
    MostPopularItems,
    TextTwoTowerRetrieval,
)
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary  # noqa: E402

# As in tests/models/test_recommender.py.
HISTORY_LENGTH = 5
SEQUENCE_LENGTH = 20
VOCABULARY_SIZE = 200
EMBEDDING_DIM = 32
BATCH_SIZE = 128
SEED = 0

K_VALUES = (10, 50, 100)
METRICS = ("recall@10", "recall@50", "recall@100", "hit_rate@10", "ndcg@10")
SERVING_K = 10
SYNTHETIC_TEXT_SEED = 1

POPULAR = "most popular"
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
            f"DEMO data (200 users, 160 items, clicks, time cut {DEMO_TIME_CUT}), "
            f"epochs={self.epochs}, batch={BATCH_SIZE}, history={HISTORY_LENGTH}, "
            f"embedding={EMBEDDING_DIM}, text encoder: 1 layer, width 32, "
            f"seq={SEQUENCE_LENGTH}, vocabulary<={VOCABULARY_SIZE}; "
            f"latency: catalogues {', '.join(f'{n:,}' for n in self.catalogue_sizes)} items, "
            f"index batch size={self.index_batch_size}, k={SERVING_K}, batch 1, "
            f"warm-up calls={self.warmup_calls}, timed calls={self.latency_calls}"
        )


FULL_CONFIG = Config(
    epochs=10,
    catalogue_sizes=(10_000, 100_000),
    index_batch_size=2048,
    warmup_calls=10,
    latency_calls=200,
)
QUICK_CONFIG = Config(
    epochs=3,
    catalogue_sizes=(1_000, 5_000),
    index_batch_size=2048,
    warmup_calls=3,
    latency_calls=20,
)


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained model, its retrieval report and training seconds."""

    name: str
    model: keras.Model
    report: object
    train_seconds: float
    epochs: int


@dataclasses.dataclass(frozen=True)
class Latency:
    model: str
    items: int
    tokenize_seconds: float
    index_seconds: float
    index_mib: float
    recommend_ms: float


class DemoSetup:
    """The DEMO split, the evaluation queries and the training batches."""

    def __init__(self):
        keras.utils.set_random_seed(SEED)  # Before the shuffle, as in the tests.
        log = demo_recommendation()
        clicks = log.select(log.labels > 0)
        self.train, self.test = time_cut_split(clicks, DEMO_TIME_CUT)
        self.catalogue = log.catalogue
        self.users = self.test.users()
        self.queries = {
            "user_id": self.users,
            "history": self.train.recent_items(self.users, HISTORY_LENGTH),
        }
        examples = {
            "user_id": self.train.user_ids,
            "history": self.train.histories(HISTORY_LENGTH),
            "item_id": self.train.item_ids,
        }
        self.batches = tf.data.Dataset.from_tensor_slices(examples).shuffle(
            len(self.train), seed=SEED).batch(BATCH_SIZE)
        self.counts = self.train.item_counts()
        self.train_users = self.train.users()

    def report(self, model):
        scores = np.asarray(model.scores(self.queries))
        return retrieval_report(scores, self.users, self.train, self.test, K_VALUES)


def timed(function):
    """`(function(), seconds)`."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def train_models(setup, config):
    """The three models, trained in the order of the tests (the seed is set by `DemoSetup`)."""
    item_ids = setup.catalogue.item_ids

    popular, popular_seconds = timed(
        lambda: MostPopularItems(item_ids, setup.train.item_counts()))

    id_only = IdTwoTowerRetrieval(item_ids, setup.train_users, setup.counts,
                                  embedding_dim=EMBEDDING_DIM)
    id_only.compile(keras.optimizers.Adam(0.01))
    _, id_seconds = timed(
        lambda: id_only.fit(setup.batches, epochs=config.epochs, verbose=0))

    preprocessor = ClassificationPreprocessor(
        learn_vocabulary(setup.catalogue.texts, VOCABULARY_SIZE),
        sequence_length=SEQUENCE_LENGTH)
    encoder = TransformerEncoder(
        len(preprocessor.vocabulary), num_layers=1, hidden_dim=32, max_length=SEQUENCE_LENGTH)
    text = TextTwoTowerRetrieval(
        encoder, item_ids, preprocessor(setup.catalogue.texts)["token_ids"],
        setup.train_users, setup.counts, embedding_dim=EMBEDDING_DIM)
    text.compile(keras.optimizers.Adam(0.005))
    _, text_seconds = timed(lambda: text.fit(setup.batches, epochs=config.epochs, verbose=0))

    trained = [
        Trained(POPULAR, popular, setup.report(popular), popular_seconds, 0),
        Trained(ID_ONLY, id_only, setup.report(id_only), id_seconds, config.epochs),
        Trained(TEXT, text, setup.report(text), text_seconds, config.epochs),
    ]
    return trained, preprocessor


def grown_catalogue(setup, size):
    """The DEMO items plus `size - 160` synthetic DEMO-like items: ids, texts, counts."""
    extra = size - len(setup.catalogue)
    synthetic = demo_recommendation(
        num_users=1, num_items=extra, events_per_user=1, seed=SYNTHETIC_TEXT_SEED).catalogue
    item_ids = list(setup.catalogue.item_ids) + [f"new{index:06d}" for index in range(extra)]
    texts = list(setup.catalogue.texts) + list(synthetic.texts)
    counts = np.concatenate([setup.counts, np.zeros(extra, np.int64)])
    return item_ids, texts, counts


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


def measure_latency(setup, text_model, preprocessor, config):
    """Text (re-indexed) and id-only (random) models at each catalogue size."""
    query = (tf.constant(setup.users[:1]), tf.constant(setup.queries["history"][:1]))
    latencies = []
    for size in config.catalogue_sizes:
        print(f"catalogue of {size:,} items", file=sys.stderr, flush=True)
        item_ids, texts, counts = grown_catalogue(setup, size)
        token_ids, tokenize_seconds = timed(
            lambda: preprocessor(texts)["token_ids"].numpy())
        grown = text_model.with_catalogue(item_ids, token_ids, counts)
        index, index_seconds = timed(
            lambda: grown.catalogue_embeddings(batch_size=config.index_batch_size).numpy())
        index = tf.constant(index)
        latencies.append(Latency(
            TEXT, size, tokenize_seconds, index_seconds, index.numpy().nbytes / 2**20,
            measure_recommend_ms(grown, index, query, config)))
        del grown

        keras.utils.set_random_seed(SEED)
        id_only = IdTwoTowerRetrieval(item_ids, setup.train_users, item_counts=None,
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


def format_quality_table(trained, part):
    """Rows: metrics of `part` ("overall" or "cold_start"); columns: models and ratios."""
    reports = {t.name: getattr(t.report, part) for t in trained}
    lines = [
        f"| metric | {POPULAR} | {ID_ONLY} | {TEXT} | id-only / popular "
        "| text / popular | text / id-only |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for metric in METRICS:
        popular, id_only, text = (reports[name][metric] for name in (POPULAR, ID_ONLY, TEXT))
        lines.append(
            f"| {metric} | {popular:.4f} | {id_only:.4f} | {text:.4f} "
            f"| {ratio(id_only, popular)} | {ratio(text, popular)} | {ratio(text, id_only)} |"
        )
    users = [reports[name]["users"] for name in (POPULAR, ID_ONLY, TEXT)]
    lines.append(f"| users scored | {users[0]} | {users[1]} | {users[2]} | | | |")
    return "\n".join(lines)


def format_training_table(trained):
    by_name = {t.name: t for t in trained}
    lines = [
        "| model | epochs | train s | s / epoch | text / id-only |",
        "|---|--:|--:|--:|--:|",
    ]
    for t in trained:
        per_epoch = f"{t.train_seconds / t.epochs:.2f}" if t.epochs else "-"
        text_ratio = (ratio(t.train_seconds, by_name[ID_ONLY].train_seconds)
                      if t.name == TEXT else "")
        what = f"{t.train_seconds:.3f} (counting)" if not t.epochs else f"{t.train_seconds:.2f}"
        lines.append(f"| {t.name} | {t.epochs} | {what} | {per_epoch} | {text_ratio} |")
    return "\n".join(lines)


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
        help="3 epochs and catalogues of 1k and 5k items, for a smoke test")
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    start = time.perf_counter()
    print("training on the DEMO data", file=sys.stderr, flush=True)
    setup = DemoSetup()
    trained, preprocessor = train_models(setup, config)
    text_model = next(t.model for t in trained if t.name == TEXT)
    latencies = measure_latency(setup, text_model, preprocessor, config)

    print(describe_machine(tf, keras, np))
    print(f"Config: {config.describe()}")
    print(f"\n## Retrieval quality, overall ({len(setup.test)} test clicks)\n")
    print(format_quality_table(trained, "overall"))
    print("\n## Retrieval quality, cold-start items\n")
    print(format_quality_table(trained, "cold_start"))
    print("\n## Training time\n")
    print(format_training_table(trained))
    print("\n## Batch-1 recommend latency (exact scoring, traced, precomputed index)\n")
    print(format_latency_table(latencies, config))
    print(
        "\nQuality ratios: the model / most popular (above 1 = better), and text / "
        "id-only; '-' where the denominator is 0. Text two-tower latency: the trained "
        "model re-indexed with `with_catalogue` over DEMO + synthetic DEMO-like item "
        "texts; id-only latency: an untrained model with random embeddings, for timing "
        "only. Latency ratio above 1 = the text model answers slower."
    )
    print(f"\nTotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
