"""Recommendation on MovieLens 100K: our models against most-popular and EASE, in one run, on one split.

Question answered: on real interactions, does `SequentialRetrieval` (a
causal Transformer of our blocks over the user's history, items read from
their text and id) retrieve the films a user rates next at least as well as
EASE, the baseline a user would pick, and does it recommend films that no
one rated in training (cold start) well above a random ranking? At what
training cost, against the older two-tower models?

Data: `ml-100k/ua.base` only (`ua.test` is held out for the final
evaluation) and `u.item` (item text: `"title (year). Genre, Genre"`).

Protocol (`dev`, where tuning is allowed): each user's last 10 ratings by
time (`leave_last_out_split(base, 10)`; ties with the 10th are held out too,
and the 46 users with exactly 10 ratings keep them all in training) are the
dev set; every rating counts as a positive. Each model scores the whole
catalogue for each dev user from their training ratings; the user's
training items are removed from the ranking; Recall@10 and NDCG@10 over the
held-out items (`retrieval_report`).

Cold start: a second training run, in which 10% of the catalogue (168
films, drawn with seed 0) lose all their ratings from training; Recall@10
over the dev ratings of those films, still ranked against the whole
catalogue, and the Recall@10 a random ranking gets on average. Only models
that read item text can score above 0 there.

Models, each trained on the same training ratings:

- most popular: counting;
- EASE (Steck 2019): closed form, the L2 penalty chosen on dev from
  `EASE_PENALTIES` (the best is reported: tuned like ours);
- id two-tower (`IdTwoTowerRetrieval`, matrix factorisation) and text
  two-tower (`TextTwoTowerRetrieval`, the README's recipe): in-batch
  softmax over `{user_id, last 5 items, item_id}` examples of every
  training rating (the text model for 300 steps, about one epoch: its
  item tower makes a step slow);
- sequential (`SequentialRetrieval`): the user's last 50 items, windows of
  `sequence_examples(50, stride=25)`, full softmax over the catalogue, 35%
  of the candidates' ids dropped at each step; 15 epochs of Adam 2e-3
  (settings chosen on dev: width 64, 2 blocks, a 1-layer width-32 text
  encoder).

Text: a 300-token WordPiece vocabulary learned from `u.item`'s texts
(genre names, common words and years whole, the rest of a title in pieces:
a 1,000-token vocabulary, which keeps most title words whole, gave the
sequential model half the cold-start recall on dev), sequences of 32 tokens
(every text fits). Train s: wall time of `fit` (or
of the closed-form solve, or the counting), in the main run; parameters:
`count_params()` (EASE: its item-item matrix). The figures come from one
run on a possibly shared machine: compare within a run.

Usage (from the repository root):

    python -m benchmarks.recommendation --data_dir=../shared/data          # the full run
    python -m benchmarks.recommendation --data_dir=../shared/data --quick  # a smoke run

`movielens_quality(directory, quick)` returns the rows, for
`benchmarks.quality`.
"""

import argparse
import dataclasses
import os
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine, seconds_per_step  # noqa: E402
from keras_simpletf.data import leave_last_out_split, load_movielens_100k  # noqa: E402
from keras_simpletf.layers import TransformerEncoder  # noqa: E402
from keras_simpletf.metrics import retrieval_report  # noqa: E402
from keras_simpletf.models import (  # noqa: E402
    EASE,
    IdTwoTowerRetrieval,
    MostPopularItems,
    SequentialRetrieval,
    TextTwoTowerRetrieval,
)
from keras_simpletf.text import ClassificationPreprocessor, learn_vocabulary  # noqa: E402

DEV_RATINGS_PER_USER = 10
COLD_ITEM_SHARE = 0.1
SEED = 0
K = 10
EASE_PENALTIES = (100.0, 300.0, 1000.0, 3000.0)
VOCABULARY_SIZE = 300
TEXT_LENGTH = 32
TWO_TOWER_HISTORY = 5
MAX_HISTORY = 50

POPULAR = "most popular"
EASE_NAME = "EASE"
ID_TWO_TOWER = "id two-tower"
TEXT_TWO_TOWER = "text two-tower"
SEQUENTIAL = "sequential (ours)"


@dataclasses.dataclass(frozen=True)
class Config:
    id_epochs: int
    text_steps: int
    sequential_epochs: int
    ease_penalties: tuple

    def describe(self):
        return (
            f"id two-tower {self.id_epochs} epochs, text two-tower {self.text_steps} steps "
            f"of 256, sequential {self.sequential_epochs} epochs; EASE penalties "
            f"{self.ease_penalties}"
        )


FULL_CONFIG = Config(id_epochs=10, text_steps=300, sequential_epochs=15,
                     ease_penalties=EASE_PENALTIES)
QUICK_CONFIG = Config(id_epochs=1, text_steps=20, sequential_epochs=2, ease_penalties=(300.0,))


class Split:
    """Training ratings, dev ratings and the queries that score every dev user."""

    def __init__(self, train, dev):
        self.train, self.dev = train, dev
        self.catalogue = train.catalogue
        self.users = dev.users()
        longest = int(np.bincount(np.unique(train.user_ids, return_inverse=True)[1]).max())
        self.histories = train.recent_items(self.users, longest)

    def report(self, model, history_length, item_embeddings=None):
        """`retrieval_report` of `model` with each user's latest `history_length` items as query."""
        queries = {"user_id": self.users, "history": self.histories[:, :history_length]}
        scores = np.concatenate([
            model.scores({name: value[start:start + 256] for name, value in queries.items()},
                         item_embeddings).numpy()
            for start in range(0, len(self.users), 256)
        ])
        return retrieval_report(scores, self.users, self.train, self.dev, k_values=(K,))


def timed(function):
    """`(function(), seconds)`."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def two_tower_batches(train):
    examples = {
        "user_id": train.user_ids,
        "history": train.histories(TWO_TOWER_HISTORY),
        "item_id": train.item_ids,
    }
    return tf.data.Dataset.from_tensor_slices(examples).shuffle(len(train), seed=SEED).batch(256)


def train_models(split, preprocessor, config):
    """`{name: (report, train seconds, parameters, extra)}` of every model trained on `split`."""
    train, catalogue = split.train, split.catalogue
    item_ids, counts = catalogue.item_ids, train.item_counts()
    results = {}

    popular, seconds = timed(lambda: MostPopularItems(item_ids, train.item_counts()))
    results[POPULAR] = (split.report(popular, 1), seconds, popular.count_params(), "")

    best = None
    for penalty in config.ease_penalties:
        ease, seconds = timed(lambda: EASE(item_ids, l2=penalty).fit_interactions(train))
        report = split.report(ease, split.histories.shape[1])
        if best is None or report.overall[f"recall@{K}"] > best[0].overall[f"recall@{K}"]:
            best = (report, seconds, ease.count_params(), f"l2={penalty:g}")
    results[EASE_NAME] = best

    print(f"  {ID_TWO_TOWER}", file=sys.stderr, flush=True)
    keras.utils.set_random_seed(SEED)
    id_model = IdTwoTowerRetrieval(item_ids, train.users(), counts, embedding_dim=64)
    id_model.compile(keras.optimizers.Adam(0.01))
    _, seconds = timed(lambda: id_model.fit(
        two_tower_batches(train), epochs=config.id_epochs, verbose=0))
    results[ID_TWO_TOWER] = (split.report(id_model, TWO_TOWER_HISTORY), seconds,
                             id_model.count_params(), "")

    print(f"  {TEXT_TWO_TOWER}", file=sys.stderr, flush=True)
    token_ids = preprocessor(list(catalogue.texts))["token_ids"]
    keras.utils.set_random_seed(SEED)
    text_model = TextTwoTowerRetrieval(
        TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=32,
                           max_length=TEXT_LENGTH),
        item_ids, token_ids, train.users(), counts, embedding_dim=32)
    text_model.compile(keras.optimizers.Adam(0.005))
    _, seconds = timed(lambda: text_model.fit(
        two_tower_batches(train).repeat().take(config.text_steps), verbose=0))
    results[TEXT_TWO_TOWER] = (split.report(text_model, TWO_TOWER_HISTORY), seconds,
                               text_model.count_params(), "")

    print(f"  {SEQUENTIAL}", file=sys.stderr, flush=True)
    keras.utils.set_random_seed(SEED)
    sequential = sequential_model(preprocessor, token_ids, catalogue, counts)
    examples = train.sequence_examples(MAX_HISTORY, stride=MAX_HISTORY // 2)
    windows = len(examples["item_id"])
    batches = tf.data.Dataset.from_tensor_slices(examples).shuffle(windows, seed=SEED).batch(256)
    steps = config.sequential_epochs * -(-windows // 256)
    sequential.compile(keras.optimizers.Adam(2e-3, clipnorm=1.0))
    _, seconds = timed(lambda: sequential.fit(
        batches, epochs=config.sequential_epochs, verbose=0))
    index = sequential.catalogue_embeddings()
    tower_seconds = catalogue_pass_seconds(sequential)
    note = (f"{windows} windows, {seconds / steps:.2f} s a step, of which {tower_seconds:.2f} s "
            "the text encoder over the catalogue")
    results[SEQUENTIAL] = (split.report(sequential, MAX_HISTORY, index), seconds,
                           sequential.count_params(), note)
    return results


def catalogue_pass_seconds(model, steps=5):
    """Seconds of one training-mode pass of the text encoder over the catalogue, with gradients."""
    variables = model.item_encoder.trainable_variables

    @tf.function
    def catalogue_pass():
        with tf.GradientTape() as tape:
            sequence = model.item_encoder(model.item_token_ids, training=True)
            loss = tf.reduce_sum(tf.square(sequence))
        return tape.gradient(loss, variables)

    return seconds_per_step(catalogue_pass, warmup_steps=1, steps=steps)


def sequential_model(preprocessor, token_ids, catalogue, counts):
    encoder = TransformerEncoder(len(preprocessor.vocabulary), num_layers=1, hidden_dim=32,
                                 max_length=TEXT_LENGTH, norm="pre")
    return SequentialRetrieval(
        encoder, catalogue.item_ids, token_ids, counts, embedding_dim=64, num_layers=2,
        max_history=MAX_HISTORY, dropout=0.2, item_id_dropout=0.35)


def cold_start_split(train, dev):
    """`train` without the ratings of a random 10% of the catalogue, and the same dev set."""
    rng = np.random.default_rng(SEED)
    size = len(train.catalogue)
    cold = np.zeros(size, bool)
    cold[rng.choice(size, int(round(COLD_ITEM_SHARE * size)), replace=False)] = True
    return Split(train.select(~cold[train.item_indices]), dev)


def movielens_quality(directory, quick=False):
    """Trains and scores every model on MovieLens 100K's `ua.base` (see the module docstring).

    Args:
        directory: the `ml-100k` folder (with `u.item` and `ua.base`).
        quick: bool, a smoke run (an epoch or two, one EASE penalty).

    Returns:
        A list of dicts, one per model: `model`, `recall@10`, `ndcg@10`
        (main run), `cold_start_recall@10` and `cold_start_random_recall@10`
        (cold-start run), `train_seconds` (main run), `parameters`,
        `train_rows` (training ratings of the main run), `note`, and the
        users scored, `users` and `cold_start_users`.
    """
    config = QUICK_CONFIG if quick else FULL_CONFIG
    base = load_movielens_100k(directory, split="ua").base
    train, dev = leave_last_out_split(base, DEV_RATINGS_PER_USER)
    preprocessor = ClassificationPreprocessor(
        learn_vocabulary(base.catalogue.texts, VOCABULARY_SIZE), sequence_length=TEXT_LENGTH)
    print("main run", file=sys.stderr, flush=True)
    main = train_models(Split(train, dev), preprocessor, config)
    print("cold-start run", file=sys.stderr, flush=True)
    cold = train_models(cold_start_split(train, dev), preprocessor, config)
    rows = []
    for name, (report, seconds, parameters, note) in main.items():
        cold_report = cold[name][0]
        rows.append({
            "model": name,
            f"recall@{K}": report.overall[f"recall@{K}"],
            f"ndcg@{K}": report.overall[f"ndcg@{K}"],
            f"cold_start_recall@{K}": cold_report.cold_start[f"recall@{K}"],
            f"cold_start_random_recall@{K}": cold_report.cold_start[f"random_recall@{K}"],
            "train_seconds": seconds,
            "parameters": parameters,
            "train_rows": len(train),
            "note": note,
            "users": report.overall["users"],
            "cold_start_users": cold_report.cold_start["users"],
        })
    return rows


def format_table(rows):
    ease = next(row for row in rows if row["model"] == EASE_NAME)
    lines = [
        f"| model | Recall@{K} | / EASE | NDCG@{K} | cold-start Recall@{K} | / random "
        "| train s | parameters | note |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        cold, random = row[f"cold_start_recall@{K}"], row[f"cold_start_random_recall@{K}"]
        lines.append(
            f"| {row['model']} | {row[f'recall@{K}']:.4f} "
            f"| {row[f'recall@{K}'] / ease[f'recall@{K}']:.2f} | {row[f'ndcg@{K}']:.4f} "
            f"| {cold:.4f} | {cold / random:.1f} | {row['train_seconds']:.1f} "
            f"| {row['parameters']:,} | {row['note']} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True,
                        help="the folder holding ml-100k/ (u.item, ua.base)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: an epoch or two")
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    start = time.perf_counter()
    rows = movielens_quality(os.path.join(args.data_dir, "ml-100k"), args.quick)
    print(describe_machine(tf, keras, np))
    print(f"Config: {config.describe()}")
    print(f"\nMovieLens 100K ua.base, dev = each user's last {DEV_RATINGS_PER_USER} ratings "
          f"({rows[0]['users']} users scored); cold start: {COLD_ITEM_SHARE:.0%} of the films "
          f"without training ratings ({rows[0]['cold_start_users']} users with such a film in "
          f"dev; random ranking Recall@{K} {rows[0][f'cold_start_random_recall@{K}']:.4f})\n")
    print(format_table(rows))
    print(f"\nTotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
