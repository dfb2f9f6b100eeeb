"""What the models learn on real corpora, next to the baseline a user would pick instead.

Question answered: trained with the defaults a user gets, do our from-scratch
models and the fine-tuned MiniLM beat the classical baselines on real text?

Every row is trained in this run, on the same training rows, and scored on
the same development rows (`--data_dir` holds the corpora of
`../shared/data`; their test splits are held out):

- SST-2 (accuracy). The corpus's `dev.tsv` is a random tenth of GLUE's
  phrase-level training file, so most of its phrases are parts of sentences
  whose other parts are in `train.tsv`: a bag of bigrams scores 0.93 on it,
  against 0.81 on sentences it has never seen a part of. Both are reported:
  "dev" (all 6,735 rows) and "dev sentences" (the rows of 12 words or more,
  the sentence-like ones). Every model trains on `train.tsv` less each
  phrase of 3 or more words that lies inside a dev sentence or contains
  one, so no dev sentence is helped by a leak; "dev" still is, alike for
  every model: about half of its shorter rows lie inside a kept training
  phrase. Baseline: TF-IDF of unigrams and bigrams + logistic regression
  (scikit-learn).
- CoNLL-2003 (entity F1 over every gold entity of `dev.txt`, words past the
  sequence length counted as predicted `O`). Reference: the fine-tuned MiniLM.
- MovieLens-100K (Recall@10 on each user's last 10 ratings of `ua.base`,
  and on items held out of training: cold start). Baselines: most popular,
  EASE (`benchmarks.recommendation.movielens_quality`).

Ours and MiniLM are trained by the training job itself
(`trainers.train.train` with `--train_data`, `--eval_data` and nothing else
for ours, and `--backbone=minilm` for MiniLM), so the figures are those of
`python -m trainers.train` with its defaults: dynamic padding, 3 epochs
(our CoNLL-2003 tagger: 8 at dropout 0.3), and for MiniLM its own
vocabulary and a peak learning rate of 5e-5.
`--minilm_examples` subsamples MiniLM's training rows (all by default).
Train seconds are the job's wall time, final evaluation included.

Usage (from the repository root):

    python -m benchmarks.quality --data_dir=../shared/data
    python -m benchmarks.quality --data_dir=../shared/data --quick   # smoke run
    python -m benchmarks.quality --data_dir=../shared/data --corpora=sst2
"""

import argparse
import csv
import dataclasses
import os
import random
import tempfile
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine  # noqa: E402
from trainers.config import parse_settings  # noqa: E402
from trainers.train import train  # noqa: E402

CORPORA = ("sst2", "conll2003", "movielens")
# SST-2 rows of this many words or more are sentences rather than phrases.
SENTENCE_WORDS = 12
# Training phrases shorter than this are single words and short collocations,
# which every sentence shares: they are not a leak.
LEAK_WORDS = 3


@dataclasses.dataclass
class Row:
    """One trained model's scores on one corpus."""

    corpus: str
    model: str
    metrics: dict
    train_seconds: float
    parameters: int
    train_rows: int
    baseline: bool = False


def read_sst2(path):
    """`(sentences, labels)` of an SST-2 TSV file (header `sentence<TAB>label`)."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [row[0].strip() for row in rows], [row[1] for row in rows]


def sst2_leak_free_split(train_texts, dev_texts):
    """Training rows that neither lie inside a dev sentence nor contain one, and the dev sentences.

    Returns:
        `(train_indices, sentence_indices)`: the training rows to keep (every
        row of fewer than `LEAK_WORDS` words, and longer ones that neither lie
        inside a dev sentence nor contain one) and the dev rows of
        `SENTENCE_WORDS` words or more.
    """
    sentence_indices = [
        index for index, text in enumerate(dev_texts) if len(text.split()) >= SENTENCE_WORDS
    ]
    sentences = {dev_texts[index] for index in sentence_indices}
    joined = "\n".join(f" {sentence} " for sentence in sentences)

    def leaks(text):
        words = text.split()
        if len(words) < LEAK_WORDS:
            return False
        if f" {text} " in joined:
            return True
        return any(
            " ".join(words[start : start + length]) in sentences
            for length in range(SENTENCE_WORDS, len(words) + 1)
            for start in range(len(words) - length + 1)
        )

    train_indices = [index for index, text in enumerate(train_texts) if not leaks(text)]
    return train_indices, sentence_indices


def write_tsv(path, texts, labels):
    with open(path, "w", encoding="utf-8") as file:
        file.write("sentence\tlabel\n")
        file.writelines(f"{text}\t{label}\n" for text, label in zip(texts, labels))


def run_job(flags):
    """`(TrainResult, seconds)` of the training job with these flags."""
    start = time.perf_counter()
    result = train(parse_settings(flags))
    return result, time.perf_counter() - start


def accuracy(predicted, labels):
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def tfidf_logistic_regression(train_texts, train_labels, evaluations):
    """TF-IDF (unigrams + bigrams, sublinear tf) + logistic regression, as scikit-learn users write it."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=2000),
    ).fit(train_texts, train_labels)
    seconds = time.perf_counter() - start
    metrics = {
        name: accuracy(pipeline.predict(texts), labels) for name, (texts, labels) in evaluations.items()
    }
    parameters = pipeline[-1].coef_.size + pipeline[-1].intercept_.size
    return metrics, seconds, parameters


def sst2_rows(data_dir, work_dir, config):
    train_texts, train_labels = read_sst2(os.path.join(data_dir, "sst2", "train.tsv"))
    dev_texts, dev_labels = read_sst2(os.path.join(data_dir, "sst2", "dev.tsv"))
    train_indices, sentence_indices = sst2_leak_free_split(train_texts, dev_texts)
    rng = random.Random(0)
    if config.quick:
        train_indices = rng.sample(train_indices, 2000)
    train_texts = [train_texts[index] for index in train_indices]
    train_labels = [train_labels[index] for index in train_indices]
    evaluations = {
        "dev": (dev_texts, dev_labels),
        "dev sentences": (
            [dev_texts[index] for index in sentence_indices],
            [dev_labels[index] for index in sentence_indices],
        ),
    }
    if config.quick:
        evaluations = {name: (texts[:300], labels[:300]) for name, (texts, labels) in evaluations.items()}
    print(
        f"SST-2: {len(train_texts)} leak-free training rows; dev {len(evaluations['dev'][0])} "
        f"rows, of them {len(evaluations['dev sentences'][0])} sentences.",
        flush=True,
    )
    metrics, seconds, parameters = tfidf_logistic_regression(train_texts, train_labels, evaluations)
    rows = [Row("SST-2", "TF-IDF + logistic regression", metrics, seconds, parameters,
                len(train_texts), baseline=True)]

    train_path = os.path.join(work_dir, "sst2_train.tsv")
    dev_path = os.path.join(work_dir, "sst2_dev.tsv")
    write_tsv(train_path, train_texts, train_labels)
    write_tsv(dev_path, *evaluations["dev"])
    data_flags = [f"--train_data={train_path}", f"--eval_data={dev_path}", "--text_column=sentence"]
    minilm_count = min(config.minilm_examples or len(train_texts), len(train_texts))
    minilm_path = os.path.join(work_dir, "sst2_minilm_train.tsv")
    minilm_indices = rng.sample(range(len(train_texts)), minilm_count)
    write_tsv(minilm_path, [train_texts[i] for i in minilm_indices], [train_labels[i] for i in minilm_indices])
    jobs = [
        ("ours, from scratch (job defaults)", data_flags + config.job_flags, len(train_texts)),
        (
            "MiniLM-L6-H384 fine-tuned (job defaults)",
            [f"--train_data={minilm_path}", f"--eval_data={dev_path}", "--text_column=sentence",
             "--backbone=minilm", *config.minilm_flags],
            minilm_count,
        ),
    ]
    for name, flags, train_rows in jobs:
        if config.skip_minilm and "MiniLM" in name:
            continue
        result, seconds = run_job(flags)
        metrics = {}
        for evaluation, (texts, labels) in evaluations.items():
            predicted, _ = result.model.predict_text(texts, result.task.preprocessor)
            metrics[evaluation] = accuracy(predicted, labels)
        rows.append(Row("SST-2", name, metrics, seconds, result.model.count_params(), train_rows))
        if result.model.tfidf is not None:
            rows.extend(averaged_parts(result, evaluations, seconds, train_rows))
    return rows


def averaged_parts(result, evaluations, seconds, train_rows):
    """Rows for each of the two models a `--tfidf_average` classifier averages, scored alone."""
    model, preprocessor = result.model, result.task.preprocessor
    parts = {
        "its encoder alone": keras.Model(model.inputs, model.get_layer(model.head_layer).output),
        "its TF-IDF + logistic regression alone": model.tfidf,
    }
    rows = []
    for part, layer in parts.items():
        metrics = {}
        for evaluation, (texts, labels) in evaluations.items():
            logits = np.concatenate([
                keras.ops.convert_to_numpy(layer(preprocessor(texts[start : start + 512])))
                for start in range(0, len(texts), 512)
            ])
            metrics[evaluation] = accuracy(np.asarray(model.labels)[logits.argmax(axis=-1)], labels)
        rows.append(Row("SST-2", f"  {part}", metrics, seconds, layer.count_params(), train_rows))
    return rows


def conll_rows(data_dir, work_dir, config):
    train_path = os.path.join(data_dir, "conll2003", "train.txt")
    dev_path = os.path.join(data_dir, "conll2003", "dev.txt")
    if config.quick:
        train_path = first_sentences(train_path, os.path.join(work_dir, "conll_train.txt"), 1000)
        dev_path = first_sentences(dev_path, os.path.join(work_dir, "conll_dev.txt"), 300)
    minilm_train = train_path
    if config.minilm_examples:
        minilm_train = first_sentences(
            train_path, os.path.join(work_dir, "conll_minilm_train.txt"), config.minilm_examples
        )
    jobs = [
        ("ours, from scratch (job defaults)", ["--task=ner", f"--train_data={train_path}",
                                               f"--eval_data={dev_path}", *config.job_flags]),
        (
            "MiniLM-L6-H384 fine-tuned (job defaults)",
            ["--task=ner", f"--train_data={minilm_train}", f"--eval_data={dev_path}",
             "--backbone=minilm", *config.minilm_flags],
        ),
    ]
    rows = []
    for name, flags in jobs:
        if config.skip_minilm and "MiniLM" in name:
            continue
        result, seconds = run_job(flags)
        rows.append(
            Row("CoNLL-2003", name, {"dev entity F1": result.results[result.task.metric_name]},
                seconds, result.model.count_params(), len(result.task.train_examples),
                baseline="MiniLM" in name)
        )
    return rows


def first_sentences(path, out_path, count):
    """The first `count` sentences of the CoNLL file `path`, written to `out_path`."""
    with open(path, encoding="utf-8") as file:
        sentences = [block for block in file.read().split("\n\n") if block.strip()]
    with open(out_path, "w", encoding="utf-8") as file:
        file.write("\n\n".join(sentences[:count]) + "\n")
    return out_path


def movielens_rows(data_dir, config):
    from benchmarks.recommendation import movielens_quality

    rows = []
    for row in movielens_quality(os.path.join(data_dir, "ml-100k"), config.quick):
        metrics = {key: value for key, value in row.items() if "@" in key}
        rows.append(
            Row("MovieLens-100K", row["model"], metrics, row["train_seconds"], row["parameters"],
                row.get("train_rows", 0), baseline=row["model"].startswith("EASE"))
        )
    return rows


def format_table(rows):
    """A Markdown table: each metric with its ratio to the corpus's baseline row."""
    lines = [
        "| corpus | model | metric | ratio to baseline | train s | parameters | training rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = next((other for other in rows if other.corpus == row.corpus and other.baseline), None)
        for name, value in row.metrics.items():
            ratio = ""
            if baseline is not None and baseline.metrics.get(name):
                ratio = f"{value / baseline.metrics[name]:.3f}"
            lines.append(
                f"| {row.corpus} | {row.model} | {name} {value:.4f} | {ratio} | "
                f"{row.train_seconds:.0f} | {row.parameters:,} | {row.train_rows:,} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="The corpora, e.g. ../shared/data.")
    parser.add_argument("--corpora", default=",".join(CORPORA),
                        help=f"Comma-separated subset of {CORPORA}.")
    parser.add_argument("--quick", action="store_true", help="Subsampled smoke run.")
    parser.add_argument("--minilm_examples", type=int, default=None,
                        help="Training rows (CoNLL: sentences) MiniLM fine-tunes on. "
                             "Default: all, or 200 with --quick.")
    parser.add_argument("--skip_minilm", action="store_true", help="Only ours and the baselines.")
    parser.add_argument("--job_flag", dest="job_flags", action="append", default=[],
                        help="An extra flag for our from-scratch jobs, e.g. --job_flag=--epochs=2.")
    parser.add_argument("--minilm_flag", dest="minilm_flags", action="append", default=[],
                        help="An extra flag for the MiniLM jobs, e.g. --minilm_flag=--epochs=1.")
    config = parser.parse_args()
    if config.quick:
        config.minilm_examples = config.minilm_examples or 200
        config.job_flags = ["--epochs=1", *config.job_flags]
        config.minilm_flags = ["--epochs=1", *config.minilm_flags]
    corpora = config.corpora.split(",")
    unknown = sorted(set(corpora) - set(CORPORA))
    if unknown:
        parser.error(f"--corpora: unknown {unknown}; choose from {CORPORA}.")
    print(describe_machine(tf, np), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        corpus_rows = {
            "sst2": lambda: sst2_rows(config.data_dir, work_dir, config),
            "conll2003": lambda: conll_rows(config.data_dir, work_dir, config),
            "movielens": lambda: movielens_rows(config.data_dir, config),
        }
        for corpus in corpora:
            rows += corpus_rows[corpus]()
            # The table so far: a later corpus that fails loses none of the earlier figures.
            print(format_table(rows), flush=True)


if __name__ == "__main__":
    main()
