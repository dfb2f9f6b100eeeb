"""Extractive question answering on SQuAD v1.1 articles: MiniLM, ours, and a sentence-overlap reference.

Question answered: how close does our from-scratch encoder come to the
fine-tuned MiniLM on SQuAD, and how much faster does it answer?

`--data_dir` holds `squad_v1.1/dev-v1.1-articles-00-23.json` (24 Wikipedia
articles of the official dev set). They are split by article: every fourth
article (3, 7, ..., 23) is the dev split, the other 18 train, so no dev
paragraph is seen in training. Rows, all measured in this run:

- MiniLM-L6-H384 fine-tuned by the job (`--task=qa --backbone=minilm`);
- ours from scratch (`--task=qa`, the job's default encoder);
- a student of our encoder (`--student`, tiny by default) distilled from that
  MiniLM by the job (`--teacher=<its export>`; `--student_init=embeddings`: the
  student starts from MiniLM's token table, projected to its width;
  `--student=shallow --student_init=every_other`: from MiniLM's first and last
  layers, converted into our blocks);
- reference: the context sentence sharing the most normalised words with
  the question, as the answer (no training).

Each row gives dev EM/F1 (official SQuAD scoring), the job's train seconds
(final evaluation included), the exported SavedModel's median batch-1
latency on a 300-word context (`serving_default`, windows and span choice
in the graph), and ratios to MiniLM. The exports are timed once all are
trained, in turns (`--latency_block` calls each, the reference's sentence
choice among them), called as `--runtime` says: by default as our model
server runs a version (`benchmarks.export_latency`), under this process's
oneDNN setting (`TF_ENABLE_ONEDNN_OPTS`). Both jobs use the same windows
(`--sequence_length`, `--doc_stride`, `--max_question_length`). `--work_dir`
keeps the split and the exports (MiniLM's in `minilm_teacher/`) for later runs.

Usage (from the repository root):

    python -m benchmarks.qa --data_dir=../shared/data
    python -m benchmarks.qa --data_dir=../shared/data --quick     # smoke run
    python -m benchmarks.qa --data_dir=../shared/data --minilm_questions=1000 \\
        --job_flag=--epochs=2
    python -m benchmarks.qa --data_dir=../shared/data --student=shallow \\
        --student_init=every_other --student_flag=--augmented_copies=2 --student_flag=--epochs=2
"""

import argparse
import collections
import contextlib
import json
import os
import re
import tempfile
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import export_latency  # noqa: E402
from benchmarks.timing import describe_machine, median_ms_in_turns  # noqa: E402
from keras_simpletf.data import read_squad  # noqa: E402
from keras_simpletf.distillation import STUDENT_SIZES  # noqa: E402
from keras_simpletf.metrics import normalize_answer, squad_scores  # noqa: E402
from serving.export import export  # noqa: E402
from trainers.config import parse_settings  # noqa: E402
from trainers.train import train  # noqa: E402

SQUAD_FILE = os.path.join("squad_v1.1", "dev-v1.1-articles-00-23.json")
DEV_EVERY = 4
LATENCY_WORDS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_by_article(path, work_dir, quick):
    """Writes train.json and dev.json (official layout), every `DEV_EVERY`th article to dev."""
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    articles = document["data"]
    splits = {
        "train": [a for i, a in enumerate(articles) if i % DEV_EVERY != DEV_EVERY - 1],
        "dev": [a for i, a in enumerate(articles) if i % DEV_EVERY == DEV_EVERY - 1],
    }
    if quick:
        splits = {name: [_first_paragraphs(chosen[0], 4)] for name, chosen in splits.items()}
    paths = {}
    for name, chosen in splits.items():
        paths[name] = os.path.join(work_dir, f"{name}.json")
        with open(paths[name], "w", encoding="utf-8") as file:
            json.dump({"version": document.get("version", "1.1"), "data": chosen}, file)
    return paths, {name: len(chosen) for name, chosen in splits.items()}


def _first_paragraphs(article, count):
    return {**article, "paragraphs": article["paragraphs"][:count]}


def subsample(path, count, out_path):
    """The first `count` questions of a SQuAD file, in its layout (for MiniLM's shorter run)."""
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    kept, data = 0, []
    for article in document["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if kept >= count:
                break
            qas = paragraph["qas"][: count - kept]
            kept += len(qas)
            paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            data.append({**article, "paragraphs": paragraphs})
    with open(out_path, "w", encoding="utf-8") as file:
        json.dump({**document, "data": data}, file)
    return out_path, kept


def best_overlap_sentence(question, context):
    """The context sentence sharing the most normalised words with the question."""
    words = collections.Counter(normalize_answer(question).split())
    sentences = _SENTENCE_END.split(context)
    return max(
        sentences,
        key=lambda s: sum((words & collections.Counter(normalize_answer(s).split())).values()),
    )


def latency_context(questions):
    """A context of `LATENCY_WORDS` words: dev paragraphs joined, cut at that many words."""
    words = []
    for context in dict.fromkeys(q.context for q in questions):
        words += context.split()
        if len(words) >= LATENCY_WORDS:
            break
    return " ".join(words[:LATENCY_WORDS])


def time_rows(rows, question, context, config):
    """Sets each row's `latency_ms`: batch-1 calls on `context`, every row timed in turns.

    A trained row calls its export (`export_path`) by `--runtime`; the reference row
    runs `best_overlap_sentence`.
    """
    exported = [row for row in rows if row.get("export_path")]
    serves = export_latency.RUNTIMES[config.runtime]([row["export_path"] for row in exported])
    inputs = {"question": [question], "context": [context]}
    calls = {row["model"]: lambda serve=serves[row["export_path"]]: serve(inputs) for row in exported}
    calls[rows[0]["model"]] = lambda: best_overlap_sentence(question, context)
    medians = median_ms_in_turns(calls, 3, config.latency_calls, config.latency_block)
    for row in rows:
        row["latency_ms"] = medians[row["model"]]


def format_table(rows):
    """A Markdown table with each figure's ratio to the MiniLM row."""
    reference = next((row for row in rows if row["model"].startswith("MiniLM")), None)

    def ratio(row, key, invert=False):
        if reference is None or not reference.get(key) or row.get(key) is None:
            return ""
        value = reference[key] / row[key] if invert else row[key] / reference[key]
        return f" ({value:.2f}x)"

    lines = [
        "| model | dev EM | dev F1 (x MiniLM) | train s | batch-1 latency ms, 300 words (speed-up) "
        "| parameters | training questions |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        latency = "" if row.get("latency_ms") is None else f"{row['latency_ms']:.1f}"
        lines.append(
            f"| {row['model']} | {row['exact_match']:.2f} | {row['f1']:.2f}{ratio(row, 'f1')} | "
            f"{row['train_s']:.0f} | {latency}{ratio(row, 'latency_ms', invert=True)} | "
            f"{row['parameters']:,} | {row['train_questions']:,} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="The corpora, e.g. ../shared/data.")
    parser.add_argument("--quick", action="store_true", help="Two small articles, one epoch.")
    parser.add_argument("--sequence_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_question_length", type=int, default=64)
    parser.add_argument("--minilm_questions", type=int, default=None,
                        help="Training questions MiniLM fine-tunes on. Default: all.")
    parser.add_argument("--skip_minilm", action="store_true", help="Only ours and the reference.")
    parser.add_argument("--latency_calls", type=int, default=20,
                        help="Timed batch-1 calls per model, in turns of --latency_block.")
    parser.add_argument("--latency_block", type=int, default=5, help="Calls a model gets in a row.")
    parser.add_argument("--runtime", choices=sorted(export_latency.RUNTIMES), default="served",
                        help="How exports are called: as our model server runs a version "
                             "(served), or tf.saved_model.load's signature (eager).")
    parser.add_argument("--job_flag", dest="job_flags", action="append", default=[],
                        help="An extra flag for our job, e.g. --job_flag=--epochs=5.")
    parser.add_argument("--minilm_flag", dest="minilm_flags", action="append", default=[],
                        help="An extra flag for the MiniLM job, e.g. --minilm_flag=--epochs=1.")
    parser.add_argument("--student", default="tiny", choices=sorted(STUDENT_SIZES),
                        help="The size of the student distilled from the fine-tuned MiniLM.")
    parser.add_argument("--student_init", default="embeddings", choices=["embeddings", "every_other"],
                        help="Where the student starts: MiniLM's token table, or (--student="
                             "one_layer, shallow, three_layer or base) MiniLM's layers.")
    parser.add_argument("--student_flag", dest="student_flags", action="append", default=[],
                        help="An extra flag for the student's job, e.g. --student_flag=--epochs=5.")
    parser.add_argument("--work_dir", default=None,
                        help="Where the split and the exports are written and kept (e.g. to distil "
                             "another student from the same MiniLM). Default: a temporary folder.")
    config = parser.parse_args()
    if config.quick:
        config.sequence_length, config.doc_stride, config.max_question_length = 128, 48, 32
        config.job_flags = ["--epochs=1", *config.job_flags]
        config.minilm_flags = ["--epochs=1", *config.minilm_flags]
        config.student_flags = ["--epochs=1", *config.student_flags]
        config.latency_calls = 3
    print(describe_machine(tf, np), flush=True)
    windows = [
        "--task=qa",
        f"--sequence_length={config.sequence_length}",
        f"--doc_stride={config.doc_stride}",
        f"--max_question_length={config.max_question_length}",
    ]
    with contextlib.ExitStack() as stack:
        work_dir = config.work_dir or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(work_dir, exist_ok=True)
        paths, articles = split_by_article(
            os.path.join(config.data_dir, SQUAD_FILE), work_dir, config.quick
        )
        train_questions, dev = read_squad(paths["train"]), read_squad(paths["dev"])
        gold = {q.id: list(q.answers) for q in dev}
        context = latency_context(dev)
        print(
            f"SQuAD v1.1: {articles['train']} training articles ({len(train_questions)} "
            f"questions), {articles['dev']} dev articles ({len(dev)} questions); windows of "
            f"{config.sequence_length} tokens, stride {config.doc_stride}.",
            flush=True,
        )
        predictions = {q.id: best_overlap_sentence(q.question, q.context) for q in dev}
        rows = [{
            "model": "reference: the sentence sharing most words with the question",
            **squad_scores(predictions, gold),
            "train_s": 0.0,
            "parameters": 0,
            "train_questions": 0,
        }]
        print(format_table(rows), flush=True)
        minilm_path, minilm_count = paths["train"], len(train_questions)
        if config.minilm_questions:
            minilm_path, minilm_count = subsample(
                paths["train"], config.minilm_questions, os.path.join(work_dir, "minilm.json")
            )
        teacher_dir = os.path.join(work_dir, "minilm_teacher")
        # Ours first: its row is the quicker one to get. The student needs MiniLM's export.
        jobs = [
            ("ours, from scratch (job defaults)", config.job_flags, paths["train"],
             len(train_questions)),
            ("MiniLM-L6-H384 fine-tuned",
             ["--backbone=minilm", f"--export_dir={teacher_dir}", *config.minilm_flags],
             minilm_path, minilm_count),
            (f"{config.student} student distilled from that MiniLM "
             f"(--student_init={config.student_init})",
             [f"--teacher={teacher_dir}", f"--student={config.student}",
              f"--student_init={config.student_init}", *config.student_flags],
             paths["train"], len(train_questions)),
        ]
        for name, flags, train_path, count in jobs:
            if config.skip_minilm and "MiniLM" in name:
                continue
            start = time.perf_counter()
            result = train(parse_settings(
                [*windows, f"--train_data={train_path}", f"--eval_data={paths['dev']}", *flags]
            ))
            seconds = time.perf_counter() - start
            rows.append({
                "model": name,
                "exact_match": result.results["exact_match"],
                "f1": result.results["f1"],
                "train_s": seconds,
                "export_path": export(result.model, result.task.preprocessor,
                                      os.path.join(work_dir, f"export{len(rows)}")),
                "parameters": result.model.count_params(),
                "train_questions": count,
            })
            # The table so far: a later row that fails loses none of the earlier scores.
            print(format_table(rows), flush=True)
        time_rows(rows, dev[0].question, context, config)
        print(format_table(rows), flush=True)


if __name__ == "__main__":
    main()
