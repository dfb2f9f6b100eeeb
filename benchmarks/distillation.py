"""Distillation's trade-off: how much of the fine-tuned MiniLM a faster student keeps.

Question answered: distilled from the fine-tuned MiniLM-L6-H384, how much
faster is a student of our simplified encoder, and how much of the teacher's
quality does it keep, against the same sizes trained from the labels alone?

Every model of a corpus is trained in this run by the training job
(`trainers.train.train`), on the same training rows, and scored on the same
development rows (`--data_dir` holds the corpora of `../shared/data`):

- teacher: `--backbone=minilm` with the job's defaults (its vocabulary,
  peak learning rate 5e-5) and `--teacher_epochs` epochs;
- distilled: `--teacher=<the teacher's export> --student=<size>`, the
  job's defaults otherwise (3 epochs, temperature 2, half hard labels, half
  soft targets; the teacher runs on every batch, so its forward passes are
  in the student's training time). The student reads the teacher's
  vocabulary and casing; each size is distilled once per `--student_inits`
  value: started at random, and from MiniLM's token table
  (`--student_init=embeddings`, projected to the student's width);
- labels only: `--num_layers` and `--hidden_dim` of the same size and the
  job's defaults otherwise (its own WordPiece vocabulary of up to 8,000
  tokens learned from the training rows, the task's casing; for CoNLL-2003
  8 epochs at dropout 0.3), as a user without a teacher trains that
  architecture.

Quality is SST-2 accuracy ("dev" and the 12+-word "dev sentences", on the
leak-free training rows of `benchmarks.quality`) and CoNLL-2003 entity F1
over every gold entity of `dev.txt`. Latency is the median wall time of the
exported SavedModel's `serving_default` signature on raw text, loaded in
this process (`tf.saved_model.load`), at batch 1 (one dev text per call, in
turn) and batch 32. Training seconds are the job's wall time, evaluations
included. Every figure is also given as a ratio to the teacher; speed-ups
are teacher latency / model latency. The Pareto plot (quality against
batch-1 latency, one panel a corpus) is written to `--plot`.

Training rows are subsampled (`--sst2_train_rows`, `--conll_train_sentences`)
to fit about an hour on two CPU cores; the table says how many each used.

Usage (from the repository root):

    python -m benchmarks.distillation --data_dir=../shared/data
    python -m benchmarks.distillation --data_dir=../shared/data --quick   # smoke run
    python -m benchmarks.distillation --data_dir=../shared/data --corpora=sst2 --sizes=tiny
"""

import argparse
import dataclasses
import itertools
import os
import random
import tempfile

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.quality import (  # noqa: E402
    accuracy,
    first_sentences,
    read_sst2,
    run_job,
    sst2_leak_free_split,
    write_tsv,
)
from benchmarks.timing import describe_machine, median_ms  # noqa: E402
from keras_simpletf.distillation import STUDENT_SIZES  # noqa: E402

CORPORA = ("sst2", "conll2003")
# The --student_init values a MiniLM teacher allows (every_other needs a teacher of our encoder).
STUDENT_INITS = ("none", "embeddings")
TEACHER = "teacher"
DISTILLED = "distilled"
LABELS_ONLY = "labels only"
LATENCY_BATCH = 32


@dataclasses.dataclass
class Row:
    """One trained model of one corpus, with its exported SavedModel's latency."""

    corpus: str
    model: str
    kind: str
    metrics: dict
    parameters: int
    latency_1_ms: float
    latency_32_ms: float
    train_seconds: float
    train_rows: int


def serving_latency_ms(version_path, texts, config):
    """Median ms of the SavedModel's `serving_default` on raw text: `(batch 1, batch 32)`."""
    serve = tf.saved_model.load(version_path).signatures["serving_default"]
    singles = itertools.cycle([tf.constant([text]) for text in texts[: config.latency_texts]])
    batches = itertools.cycle(
        [tf.constant(texts[start : start + LATENCY_BATCH])
         for start in range(0, config.latency_texts, LATENCY_BATCH)]
    )
    one = median_ms(lambda: serve(text=next(singles)), config.warmup_calls, config.latency_calls)
    many = median_ms(lambda: serve(text=next(batches)), config.warmup_calls, config.latency_calls)
    return one, many


def size_flags(size):
    """The job flags of our encoder at a `STUDENT_SIZES` size."""
    return [f"--{name}={value}" for name, value in STUDENT_SIZES[size].items()]


def train_all(corpus, data_flags, score, latency_texts, work_dir, config):
    """The teacher, then each size distilled and from the labels only; a `Row` each, printed as it comes.

    Args:
        corpus: the corpus's name in the table.
        data_flags: the job's data flags (task, files, columns).
        score: `score(TrainResult) -> {metric name: value}`.
        latency_texts: raw dev texts for the latency calls.
        work_dir: where the exports go.
        config: the parsed command line.
    """
    jobs = [(f"MiniLM-L6-H384 fine-tuned ({config.teacher_epochs} epochs)", TEACHER,
             ["--backbone=minilm", f"--epochs={config.teacher_epochs}"])]
    teacher_dir = os.path.join(work_dir, f"{corpus}_teacher")
    for size in config.sizes:
        layers = "x".join(str(value) for value in STUDENT_SIZES[size].values())
        for init in config.student_inits:
            start = "" if init == "none" else f", from MiniLM's {init}"
            jobs.append((f"{size} ({layers}), distilled{start}", DISTILLED,
                         [f"--teacher={teacher_dir}", f"--student={size}", f"--student_init={init}",
                          *config.student_flags]))
        jobs.append((f"{size} ({layers}), labels only", LABELS_ONLY,
                     [*size_flags(size), *config.student_flags]))
    rows = []
    for name, kind, flags in jobs:
        export_dir = teacher_dir if kind == TEACHER else os.path.join(work_dir, f"{corpus}_{len(rows)}")
        result, seconds = run_job([*data_flags, f"--export_dir={export_dir}", *flags])
        latency_1, latency_32 = serving_latency_ms(result.export_paths[0], latency_texts, config)
        rows.append(Row(corpus, name, kind, score(result), result.model.count_params(),
                        latency_1, latency_32, seconds, len(result.task.train_examples)))
        print(format_table(rows), flush=True)
    return rows


def sst2_rows(work_dir, config):
    train_texts, train_labels = read_sst2(os.path.join(config.data_dir, "sst2", "train.tsv"))
    dev_texts, dev_labels = read_sst2(os.path.join(config.data_dir, "sst2", "dev.tsv"))
    train_indices, sentence_indices = sst2_leak_free_split(train_texts, dev_texts)
    train_indices = random.Random(0).sample(
        train_indices, min(config.sst2_train_rows, len(train_indices))
    )
    evaluations = {
        "dev": (dev_texts, dev_labels),
        "dev sentences": ([dev_texts[i] for i in sentence_indices], [dev_labels[i] for i in sentence_indices]),
    }
    if config.quick:
        evaluations = {name: (texts[:200], labels[:200]) for name, (texts, labels) in evaluations.items()}
    train_path = os.path.join(work_dir, "sst2_train.tsv")
    dev_path = os.path.join(work_dir, "sst2_dev.tsv")
    write_tsv(train_path, [train_texts[i] for i in train_indices], [train_labels[i] for i in train_indices])
    write_tsv(dev_path, *evaluations["dev"])
    print(f"SST-2: {len(train_indices)} of the leak-free training rows; dev "
          f"{len(evaluations['dev'][0])} rows, {len(evaluations['dev sentences'][0])} sentences.",
          flush=True)

    def score(result):
        return {
            name: accuracy(result.model.predict_text(texts, result.task.preprocessor)[0], labels)
            for name, (texts, labels) in evaluations.items()
        }

    data_flags = [f"--train_data={train_path}", f"--eval_data={dev_path}", "--text_column=sentence"]
    return train_all("SST-2", data_flags, score, evaluations["dev sentences"][0], work_dir, config)


def conll_rows(work_dir, config):
    train_path = first_sentences(
        os.path.join(config.data_dir, "conll2003", "train.txt"),
        os.path.join(work_dir, "conll_train.txt"), config.conll_train_sentences,
    )
    dev_path = os.path.join(config.data_dir, "conll2003", "dev.txt")
    if config.quick:
        dev_path = first_sentences(dev_path, os.path.join(work_dir, "conll_dev.txt"), 200)
    with open(dev_path, encoding="utf-8") as file:
        sentences = [block for block in file.read().split("\n\n") if block.strip()]
    latency_texts = [" ".join(line.split()[0] for line in block.splitlines()) for block in sentences]

    def score(result):
        return {"dev entity F1": result.results[result.task.metric_name]}

    # MiniLM's tokenizer lower-cases, and so do its students (the job reads the casing from
    # the teacher's vocabulary); the labels-only rows keep the NER task's case.
    data_flags = ["--task=ner", f"--train_data={train_path}", f"--eval_data={dev_path}"]
    return train_all("CoNLL-2003", data_flags, score, latency_texts, work_dir, config)


def pareto_front(rows, metric):
    """The rows no other row beats on both `metric` and batch-1 latency, fastest first."""
    front = []
    for row in sorted(rows, key=lambda row: (row.latency_1_ms, -row.metrics[metric])):
        if not front or row.metrics[metric] > front[-1].metrics[metric]:
            front.append(row)
    return front


def ratio(value, teacher_value):
    """`value / teacher_value` to three places, or "n/a" if the teacher scored 0."""
    return f"{value / teacher_value:.3f}" if teacher_value else "n/a"


def format_table(rows):
    """A Markdown table of `rows`, each figure with its ratio to the corpus's teacher."""
    lines = [
        "| corpus | model | metric (of teacher) | parameters (of teacher) | batch-1 ms (speed-up) | "
        "batch-32 ms (speed-up) | train s (of teacher) | training rows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        teacher = next(other for other in rows if other.corpus == row.corpus and other.kind == TEACHER)
        metrics = " / ".join(
            f"{name} {value:.4f} ({ratio(value, teacher.metrics[name])})"
            for name, value in row.metrics.items()
        )
        lines.append(
            f"| {row.corpus} | {row.model} | {metrics} | {row.parameters:,} "
            f"({row.parameters / teacher.parameters:.3f}) | {row.latency_1_ms:.2f} "
            f"({teacher.latency_1_ms / row.latency_1_ms:.1f}x) | {row.latency_32_ms:.1f} "
            f"({teacher.latency_32_ms / row.latency_32_ms:.1f}x) | {row.train_seconds:.0f} "
            f"({row.train_seconds / teacher.train_seconds:.2f}) | {row.train_rows:,} |"
        )
    return "\n".join(lines)


def describe_fronts(rows):
    """A line per corpus and metric: the Pareto front, fastest first."""
    lines = []
    for corpus in dict.fromkeys(row.corpus for row in rows):
        corpus_rows = [row for row in rows if row.corpus == corpus]
        teacher = next(row for row in corpus_rows if row.kind == TEACHER)
        for metric in teacher.metrics:
            front = pareto_front(corpus_rows, metric)
            points = ", ".join(
                f"{row.model} ({teacher.latency_1_ms / row.latency_1_ms:.1f}x faster, "
                f"{ratio(row.metrics[metric], teacher.metrics[metric])} of the teacher)"
                for row in front
            )
            lines.append(f"{corpus} {metric} Pareto front, fastest first: {points}.")
    return "\n".join(lines)


def plot(rows, path):
    """Quality against batch-1 latency, a panel per corpus, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    corpora = list(dict.fromkeys(row.corpus for row in rows))
    figure, axes = pyplot.subplots(1, len(corpora), figsize=(6 * len(corpora), 4.5), squeeze=False)
    markers = {TEACHER: "*", DISTILLED: "o", LABELS_ONLY: "x"}
    for axis, corpus in zip(axes[0], corpora):
        corpus_rows = [row for row in rows if row.corpus == corpus]
        metric = list(corpus_rows[0].metrics)[-1]
        for kind, marker in markers.items():
            kind_rows = [row for row in corpus_rows if row.kind == kind]
            axis.scatter([row.latency_1_ms for row in kind_rows],
                         [row.metrics[metric] for row in kind_rows], marker=marker, s=80, label=kind)
        for row in corpus_rows:
            axis.annotate(row.model.split(" (")[0] if row.kind != TEACHER else "MiniLM",
                          (row.latency_1_ms, row.metrics[metric]), textcoords="offset points",
                          xytext=(5, 5), fontsize=8)
        front = pareto_front(corpus_rows, metric)
        axis.plot([row.latency_1_ms for row in front], [row.metrics[metric] for row in front],
                  linestyle="--", color="grey", label="Pareto front")
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ticker.ScalarFormatter())
        axis.xaxis.set_minor_formatter(ticker.ScalarFormatter())
        axis.set_xlabel("exported SavedModel, batch-1 latency on raw text (ms, log scale)")
        axis.set_ylabel(metric)
        axis.set_title(corpus)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="The corpora, e.g. ../shared/data.")
    parser.add_argument("--corpora", default=",".join(CORPORA), help=f"Comma-separated subset of {CORPORA}.")
    parser.add_argument("--sizes", default="tiny,small",
                        help=f"Comma-separated student sizes, of {sorted(STUDENT_SIZES)}.")
    parser.add_argument("--quick", action="store_true",
                        help="Smoke run: few rows, 1 epoch each, the tiny student, 200 dev rows.")
    parser.add_argument("--sst2_train_rows", type=int, default=15000,
                        help="Leak-free SST-2 training rows every model trains on (a random sample).")
    parser.add_argument("--conll_train_sentences", type=int, default=6000,
                        help="CoNLL-2003 training sentences every model trains on (the first ones).")
    parser.add_argument("--teacher_epochs", type=int, default=2, help="The teacher's fine-tuning epochs.")
    parser.add_argument("--student_inits", default="none,embeddings",
                        help="Comma-separated --student_init values each distilled size is run with.")
    parser.add_argument("--student_flag", dest="student_flags", action="append", default=[],
                        help="An extra flag for every student's job, e.g. --student_flag=--epochs=2.")
    parser.add_argument("--latency_texts", type=int, default=128, help="Dev texts the latency calls cycle over.")
    parser.add_argument("--latency_calls", type=int, default=50, help="Timed calls per latency figure.")
    parser.add_argument("--warmup_calls", type=int, default=10, help="Untimed calls before them.")
    parser.add_argument("--plot", default="benchmarks/distillation_pareto.png",
                        help="Where the Pareto plot goes (the one BENCHMARKS.md shows by default).")
    config = parser.parse_args()
    if config.quick:
        config.sst2_train_rows, config.conll_train_sentences = 1000, 500
        config.teacher_epochs, config.sizes = 1, "tiny"
        config.student_flags = ["--epochs=1", *config.student_flags]
        config.latency_texts, config.latency_calls = 64, 10
    corpora = config.corpora.split(",")
    config.sizes = config.sizes.split(",")
    config.student_inits = config.student_inits.split(",")
    for name, given, known in (("corpora", corpora, CORPORA), ("sizes", config.sizes, STUDENT_SIZES),
                               ("student_inits", config.student_inits, STUDENT_INITS)):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"--{name}: unknown {unknown}; choose from {sorted(known)}.")
    print(describe_machine(tf, np), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        for corpus in corpora:
            rows += {"sst2": sst2_rows, "conll2003": conll_rows}[corpus](work_dir, config)
            print(describe_fronts(rows), flush=True)
            plot(rows, config.plot)
    print(f"Wrote {config.plot}.", flush=True)


if __name__ == "__main__":
    main()
