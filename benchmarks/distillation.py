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
  job's defaults otherwise (temperature 2; NER students 4 heads), on a
  transfer set the teacher labels once, its soft targets the only loss
  (its pass over the set is in the student's training time). On SST-2
  the set is the training rows and `--sst2_augmented_copies` (8) variants
  of each row of 8+ words (`--augmented_copies`), for
  `--sst2_student_epochs` (1) epoch: the recipe that keeps 0.97 of the
  teacher with two of its layers (BENCHMARKS.md). On CoNLL-2003 it is the
  training sentences and `--conll_wikipedia_sentences` sentences of the
  Wikipedia articles of `squad_v1.1` (`--unlabelled_data`), for
  `--conll_student_epochs` (8) epochs: the recipe that keeps 0.95 of the
  teacher (BENCHMARKS.md). The student reads the
  teacher's vocabulary and casing; each size is distilled once per
  `--student_inits` value: started at random, from MiniLM's token table
  (`--student_init=embeddings`, projected to the student's width) or, for
  the sizes of MiniLM's width (one_layer, shallow, three_layer, base), from its layers
  (`every_other`);
- labels only: `--num_layers` and `--hidden_dim` of the same size and the
  job's defaults otherwise (its own WordPiece vocabulary of up to 8,000
  tokens learned from the training rows, the task's casing; for CoNLL-2003
  8 epochs at dropout 0.3), as a user without a teacher trains that
  architecture.

Quality is SST-2 accuracy ("dev" and the 12+-word "dev sentences", on the
leak-free training rows of `benchmarks.quality`) and CoNLL-2003 entity F1
over every gold entity of `dev.txt`. Latency is the median wall time of the
exported SavedModel's `serving_default` signature on raw dev text at batch 1
and batch 32, every export of a corpus timed side by side once all are
trained (`benchmarks.export_latency`, by default as our model server runs
them, `--runtime`), under TensorFlow's default oneDNN kernels and with
`TF_ENABLE_ONEDNN_OPTS=0`: on two CPU cores oneDNN slows batch 1 and
speeds batch 32, for the teacher and the students alike.
Training seconds are the job's wall time, evaluations included. Every
figure is also given as a ratio to the teacher; speed-ups are teacher
latency / model latency under the same setting. The Pareto plot (quality
against batch-1 latency at each model's faster setting, one panel a corpus)
is written to `--plot` (a `--quick` run writes it to the temporary folder
unless `--plot` is given, leaving the committed plot alone).

SST-2's training rows are subsampled (`--sst2_train_rows`), and CoNLL-2003's
can be (`--conll_train_sentences`); the table says how many each used. The
whole run takes hours on two CPU cores; `--corpora`, `--sizes` and
`--student_inits` run a part.

Usage (from the repository root):

    python -m benchmarks.distillation --data_dir=../shared/data
    python -m benchmarks.distillation --data_dir=../shared/data --quick   # smoke run
    python -m benchmarks.distillation --data_dir=../shared/data --corpora=conll2003 --sizes=tiny \
        --student_inits=embeddings
"""

import argparse
import dataclasses
import os
import random
import re
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
from benchmarks import export_latency  # noqa: E402
from benchmarks.timing import describe_machine  # noqa: E402
from keras_simpletf.data import iter_conll, iter_squad  # noqa: E402
from keras_simpletf.distillation import STUDENT_SIZES  # noqa: E402
from keras_simpletf.text import split_words  # noqa: E402

CORPORA = ("sst2", "conll2003")
# The --student_init values a MiniLM teacher allows (every_other: the sizes of its width, one_layer,
# shallow, three_layer and base).
STUDENT_INITS = ("none", "embeddings", "every_other")
TEACHER = "teacher"
DISTILLED = "distilled"
LABELS_ONLY = "labels only"
# TF_ENABLE_ONEDNN_OPTS values the exports are timed under, by the names the table gives them.
ONEDNN_SETTINGS = {"oneDNN": True, "no oneDNN": False}


@dataclasses.dataclass
class Row:
    """One trained model of one corpus, with its exported SavedModel's latency.

    `latency_ms[setting][batch]`: median ms, `setting` an `ONEDNN_SETTINGS`
    name, `batch` "1" or "32"; empty until the corpus's exports are timed.
    """

    corpus: str
    model: str
    kind: str
    metrics: dict
    parameters: int
    train_seconds: float
    train_rows: int
    export_path: str
    latency_ms: dict = dataclasses.field(default_factory=dict)

    def best_ms(self, batch):
        """The faster setting's latency at `batch` ("1" or "32")."""
        return min(latencies[batch] for latencies in self.latency_ms.values())


def size_flags(size):
    """The job flags of our encoder at a `STUDENT_SIZES` size."""
    return [f"--{name}={value}" for name, value in STUDENT_SIZES[size].items()]


def train_all(corpus, data_flags, score, latency_texts, work_dir, config, distil_flags=()):
    """The teacher, then each size distilled and from the labels only, then every export timed.

    Each trained model is printed as it comes, and the table once the exports
    are timed side by side under each `ONEDNN_SETTINGS` setting.

    Args:
        corpus: the corpus's name in the table.
        data_flags: the job's data flags (task, files, columns).
        score: `score(TrainResult) -> {metric name: value}`.
        latency_texts: raw dev texts for the latency calls.
        work_dir: where the exports go.
        config: the parsed command line.
        distil_flags: the corpus's flags for the distilled students' jobs.

    Returns:
        A `Row` per model.
    """
    jobs = [(f"MiniLM-L6-H384 fine-tuned ({config.teacher_epochs} epochs)", TEACHER,
             ["--backbone=minilm", f"--epochs={config.teacher_epochs}"])]
    teacher_dir = os.path.join(work_dir, f"{corpus}_teacher")
    for size in config.sizes:
        layers = "x".join(str(value) for value in STUDENT_SIZES[size].values())
        for init in config.student_inits:
            start = {"none": "", "embeddings": ", from MiniLM's embeddings",
                     "every_other": ", from MiniLM's layers"}[init]
            jobs.append((f"{size} ({layers}), distilled{start}", DISTILLED,
                         [f"--teacher={teacher_dir}", f"--student={size}", f"--student_init={init}",
                          *distil_flags, *config.student_flags]))
        jobs.append((f"{size} ({layers}), labels only", LABELS_ONLY,
                     [*size_flags(size), *config.student_flags]))
    rows = []
    for name, kind, flags in jobs:
        export_dir = teacher_dir if kind == TEACHER else os.path.join(work_dir, f"{corpus}_{len(rows)}")
        result, seconds = run_job([*data_flags, f"--export_dir={export_dir}", *flags])
        rows.append(Row(corpus, name, kind, score(result), result.model.count_params(),
                        seconds, len(result.task.train_examples), result.export_paths[0]))
        print(f"{corpus}, {name}: {rows[-1].metrics}, trained in {seconds:.0f} s.", flush=True)
    texts_path = os.path.join(work_dir, f"{corpus}_latency_texts.txt")
    with open(texts_path, "w", encoding="utf-8") as file:
        file.writelines(f"{text}\n" for text in latency_texts)
    for setting, onednn in ONEDNN_SETTINGS.items():
        medians = export_latency.measure_in_subprocess(
            [row.export_path for row in rows], texts_path, onednn, config
        )
        for row in rows:
            row.latency_ms[setting] = medians[row.export_path]
    print(format_table(rows, config.runtime), flush=True)
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
    distil_flags = [f"--augmented_copies={config.sst2_augmented_copies}",
                    f"--epochs={config.sst2_student_epochs}"]
    return train_all("SST-2", data_flags, score, evaluations["dev sentences"][0], work_dir, config,
                     distil_flags)


def wikipedia_sentences(squad_path):
    """Every sentence of 3+ words in the paragraphs of a SQuAD file, its words split as
    CoNLL-2003 writes them (`keras_simpletf.text.split_words`) and joined by spaces."""
    paragraphs = dict.fromkeys(example.context for example in iter_squad(squad_path))
    sentences = [
        sentence
        for paragraph in paragraphs
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph.strip())
    ]
    return [
        " ".join(word.decode() for word in words)
        for words in split_words(sentences)[0].to_list()
        if len(words) >= 3
    ]


def conll_rows(work_dir, config):
    train_path = os.path.join(config.data_dir, "conll2003", "train.txt")
    if config.conll_train_sentences:
        train_path = first_sentences(
            train_path, os.path.join(work_dir, "conll_train.txt"), config.conll_train_sentences
        )
    dev_path = os.path.join(config.data_dir, "conll2003", "dev.txt")
    if config.quick:
        dev_path = first_sentences(dev_path, os.path.join(work_dir, "conll_dev.txt"), 200)

    def texts(path):
        return [" ".join(tokens) for tokens, _ in iter_conll(path)]

    # The distilled students' transfer set: the training sentences and Wikipedia's, unlabelled.
    wikipedia = wikipedia_sentences(
        os.path.join(config.data_dir, "squad_v1.1", "dev-v1.1-articles-00-23.json")
    )[: config.conll_wikipedia_sentences]
    transfer_path = os.path.join(work_dir, "conll_transfer.txt")
    with open(transfer_path, "w", encoding="utf-8") as file:
        file.writelines(f"{sentence}\n" for sentence in texts(train_path) + wikipedia)
    print(f"CoNLL-2003: the distilled students' transfer set is the training sentences and "
          f"{len(wikipedia)} Wikipedia sentences.", flush=True)

    def score(result):
        return {"dev entity F1": result.results[result.task.metric_name]}

    # MiniLM's tokenizer lower-cases, and so do its students (the job reads the casing from
    # the teacher's vocabulary); the labels-only rows keep the NER task's case.
    data_flags = ["--task=ner", f"--train_data={train_path}", f"--eval_data={dev_path}"]
    distil_flags = [f"--unlabelled_data={transfer_path}", f"--epochs={config.conll_student_epochs}"]
    return train_all("CoNLL-2003", data_flags, score, texts(dev_path), work_dir, config, distil_flags)


def pareto_front(rows, metric):
    """The rows no other row beats on both `metric` and batch-1 latency, fastest first."""
    front = []
    for row in sorted(rows, key=lambda row: (row.best_ms("1"), -row.metrics[metric])):
        if not front or row.metrics[metric] > front[-1].metrics[metric]:
            front.append(row)
    return front


def ratio(value, teacher_value):
    """`value / teacher_value` to three places, or "n/a" if the teacher scored 0."""
    return f"{value / teacher_value:.3f}" if teacher_value else "n/a"


def format_table(rows, runtime):
    """A Markdown table of `rows`, each figure with its ratio to the corpus's teacher.

    Latencies, timed in the `export_latency.RUNTIMES` runtime `runtime`, are
    given under each `ONEDNN_SETTINGS` setting, `a / b`, each speed-up
    against the teacher under the same setting.
    """
    settings = f"{runtime}, " + " / ".join(ONEDNN_SETTINGS)
    lines = [
        f"| corpus | model | metric (of teacher) | parameters (of teacher) | batch-1 ms, {settings} "
        f"(speed-ups) | batch-32 ms, {settings} (speed-ups) | train s (of teacher) | training rows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        teacher = next(other for other in rows if other.corpus == row.corpus and other.kind == TEACHER)
        metrics = " / ".join(
            f"{name} {value:.4f} ({ratio(value, teacher.metrics[name])})"
            for name, value in row.metrics.items()
        )

        def latencies(batch, places):
            milliseconds = " / ".join(f"{row.latency_ms[s][batch]:.{places}f}" for s in ONEDNN_SETTINGS)
            speed_ups = " / ".join(
                f"{teacher.latency_ms[s][batch] / row.latency_ms[s][batch]:.1f}x" for s in ONEDNN_SETTINGS
            )
            return f"{milliseconds} ({speed_ups})"

        lines.append(
            f"| {row.corpus} | {row.model} | {metrics} | {row.parameters:,} "
            f"({row.parameters / teacher.parameters:.3f}) | {latencies('1', 2)} | {latencies('32', 1)} | "
            f"{row.train_seconds:.0f} ({row.train_seconds / teacher.train_seconds:.2f}) | {row.train_rows:,} |"
        )
    return "\n".join(lines)


def describe_fronts(rows):
    """A line per corpus and metric: the Pareto front, fastest first, at each model's faster setting."""
    lines = []
    for corpus in dict.fromkeys(row.corpus for row in rows):
        corpus_rows = [row for row in rows if row.corpus == corpus]
        teacher = next(row for row in corpus_rows if row.kind == TEACHER)
        for metric in teacher.metrics:
            front = pareto_front(corpus_rows, metric)
            points = ", ".join(
                f"{row.model} ({teacher.best_ms('1') / row.best_ms('1'):.1f}x faster, "
                f"{ratio(row.metrics[metric], teacher.metrics[metric])} of the teacher)"
                for row in front
            )
            lines.append(f"{corpus} {metric} Pareto front, fastest first: {points}.")
    return "\n".join(lines)


def plot(rows, path):
    """Quality against batch-1 latency (each model's faster setting), a panel per corpus, the
    Pareto front joined."""
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
            axis.scatter([row.best_ms("1") for row in kind_rows],
                         [row.metrics[metric] for row in kind_rows], marker=marker, s=80, label=kind)
        for row in corpus_rows:
            axis.annotate(row.model.split(" (")[0] if row.kind != TEACHER else "MiniLM",
                          (row.best_ms("1"), row.metrics[metric]), textcoords="offset points",
                          xytext=(5, 5), fontsize=8)
        front = pareto_front(corpus_rows, metric)
        axis.plot([row.best_ms("1") for row in front], [row.metrics[metric] for row in front],
                  linestyle="--", color="grey", label="Pareto front")
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ticker.ScalarFormatter())
        axis.xaxis.set_minor_formatter(ticker.ScalarFormatter())
        axis.set_xlabel("batch-1 ms on raw text, faster oneDNN setting (log scale)")
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
    parser.add_argument("--sst2_augmented_copies", type=int, default=8,
                        help="Augmented variants of each SST-2 training row of 8+ words the teacher "
                             "labels for the distilled students (--augmented_copies).")
    parser.add_argument("--sst2_student_epochs", type=int, default=1,
                        help="The distilled SST-2 students' epochs over the rows and their variants.")
    parser.add_argument("--conll_train_sentences", type=int, default=0,
                        help="CoNLL-2003 training sentences every model trains on (the first ones; "
                             "0: all 14,041).")
    parser.add_argument("--conll_wikipedia_sentences", type=int, default=None,
                        help="Wikipedia sentences (squad_v1.1's articles) in the CoNLL-2003 students' "
                             "transfer set, the first ones (default: all, 5,177).")
    parser.add_argument("--conll_student_epochs", type=int, default=8,
                        help="The distilled CoNLL-2003 students' epochs over the transfer set.")
    parser.add_argument("--teacher_epochs", type=int, default=3, help="The teacher's fine-tuning epochs.")
    parser.add_argument("--student_inits", default="none,embeddings",
                        help="Comma-separated --student_init values each distilled size is run with.")
    parser.add_argument("--student_flag", dest="student_flags", action="append", default=[],
                        help="An extra flag for every student's job, e.g. --student_flag=--epochs=2.")
    export_latency.add_arguments(parser)
    parser.add_argument("--plot", default=None,
                        help="Where the Pareto plot goes. Default: benchmarks/distillation_pareto.png "
                             "(the one BENCHMARKS.md shows), or with --quick distillation_pareto_quick.png "
                             "in the system's temporary folder, so a smoke run leaves the committed plot "
                             "alone.")
    config = parser.parse_args()
    if config.plot is None:
        config.plot = (os.path.join(tempfile.gettempdir(), "distillation_pareto_quick.png")
                       if config.quick else "benchmarks/distillation_pareto.png")
    if config.quick:
        config.sst2_train_rows, config.conll_train_sentences = 1000, 500
        config.sst2_augmented_copies = 1
        config.conll_wikipedia_sentences, config.conll_student_epochs = 300, 1
        config.teacher_epochs, config.sizes = 1, "tiny"
        config.student_flags = ["--epochs=1", *config.student_flags]
        config.latency_texts, config.latency_calls, config.block = 64, 10, 5
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
