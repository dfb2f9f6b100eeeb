"""How fast the data readers stream TSV, CSV, JSONL and CoNLL files.

Question answered: how many rows a second do `data.read_classification` and
`data.read_conll` (tf.data pipelines over TensorFlow string ops, JSON Lines
parsed by Python's `json` once per chunk of lines) deliver, against the path
they replace: `tf.data.Dataset.from_generator` over Python parsers, one row
at a time?

Candidates, each over the same synthetic file of `--rows` rows (written to a
temporary folder; the same generator seed every run):

- baseline: `Dataset.from_generator` over Python's `csv` module (TSV, CSV),
  `json.loads` (JSONL) or a line-by-line CoNLL loop, yielding the same
  elements as the reader (`{"text", "label"}`, `{"tokens", "tags"}`). It does
  less than the generator path the readers had before (no checks, no tag
  conversion), so it is an upper bound on that path's speed;
- ours: `read_classification` / `read_conll` as a user calls them.

Rows/s is rows divided by the wall time of one pass over `dataset.batch(1024)`
(`ragged_batch` for CoNLL), after a warm-up pass over the first 10,000 rows
(which traces the pipeline); for CoNLL a row is a token line, and sentences/s
is given too. Ours reads the whole file; the baseline, 100 times slower, reads
its first `--baseline_rows` rows. The machine is shared, so the process's CPU
time is given too: rows per CPU second is what one core would deliver alone.
The TSV file is also read as multi-label data (`label_separator`), whose rows
each pass through a map of their own. With `--data_dir`, the readers also read the real corpora (SST-2 `train.tsv`,
CoNLL-2003 `train.txt`) the same way, and so do `iter_classification` and
`iter_conll` (the same pipelines, records converted to Python str), timed from
the call that builds the pipeline: there is no warm-up pass.

Usage (from the repository root):

    python -m benchmarks.readers                          # 500,000 rows per format
    python -m benchmarks.readers --data_dir=../shared/data
    python -m benchmarks.readers --quick                  # 20,000 rows, a smoke test
"""

import argparse
import csv
import dataclasses
import json
import os
import random
import sys
import tempfile
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine  # noqa: E402
from keras_simpletf import data  # noqa: E402

BASELINE = "baseline: from_generator over Python parsing"
OURS = "ours: tf.data + TF string ops"
OURS_PYTHON = "ours from Python: iter_classification / iter_conll"
BATCH_SIZE = 1024
WARMUP_ROWS = 10_000
WORDS = (
    "the a film movie plot actor scene music story director great dull warm cold "
    "long short funny sad Berlin Paris Smith Reuters said on Monday, it's \"good\" café"
).split()
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")


@dataclasses.dataclass(frozen=True)
class Measurement:
    source: str
    candidate: str
    rows: int
    seconds: float
    cpu_seconds: float
    sentences: int = 0

    @property
    def rows_per_second(self):
        return self.rows / self.seconds


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))


def write_tables(folder, rows, rng):
    """A TSV, a CSV (quoted as `csv.writer` does) and a JSONL file of `rows` labelled texts."""
    records = [(sentence(rng), rng.choice(("positive", "negative"))) for _ in range(rows)]
    paths = {name: os.path.join(folder, f"train.{name}") for name in ("tsv", "csv", "jsonl")}
    with open(paths["tsv"], "w", encoding="utf-8") as file:
        file.write("text\tlabel\n")
        file.writelines(f"{text}\t{label}\n" for text, label in records)
    with open(paths["csv"], "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("text", "label"))
        writer.writerows(records)
    with open(paths["jsonl"], "w", encoding="utf-8") as file:
        file.writelines(
            json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
            for text, label in records)
    return paths


def write_conll(folder, rows, rng):
    """A CoNLL-2003-style file (`token POS chunk NER`, IOB1) of `rows` token lines."""
    path = os.path.join(folder, "train.conll")
    with open(path, "w", encoding="utf-8") as file:
        file.write("-DOCSTART- -X- -X- O\n\n")
        written = 0
        while written < rows:
            length = min(rng.randint(2, 25), rows - written)
            for _ in range(length):
                tag = "O" if rng.random() < 0.8 else f"I-{rng.choice(ENTITY_TYPES)}"
                file.write(f"{rng.choice(WORDS).strip(',')} NN I-NP {tag}\n")
            file.write("\n")
            written += length
    return path


def generator_baseline(path, file_format):
    """`Dataset.from_generator` over a Python parser of `path`, one element per row."""
    if file_format == "conll":
        words = tf.TensorSpec((None,), tf.string)
        return tf.data.Dataset.from_generator(
            lambda: python_conll(path), output_signature={"tokens": words, "tags": words})
    text = tf.TensorSpec((), tf.string)
    return tf.data.Dataset.from_generator(
        lambda: python_table(path, file_format), output_signature={"text": text, "label": text})


def python_table(path, file_format):
    with open(path, encoding="utf-8", newline="") as file:
        if file_format == "jsonl":
            for line in file:
                record = json.loads(line)
                yield {"text": record["text"], "label": record["label"]}
            return
        rows = csv.reader(file, delimiter="\t" if file_format == "tsv" else ",",
                          quoting=csv.QUOTE_NONE if file_format == "tsv" else csv.QUOTE_MINIMAL)
        header = next(rows)
        text, label = header.index("text"), header.index("label")
        for row in rows:
            yield {"text": row[text], "label": row[label]}


def python_conll(path):
    tokens, tags = [], []
    with open(path, encoding="utf-8") as file:
        for line in file:
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if tokens:
                    yield {"tokens": tokens, "tags": tags}
                tokens, tags = [], []
                continue
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        yield {"tokens": tokens, "tags": tags}


def time_pass(dataset, source, candidate, rows=None):
    """One pass over the first `rows` rows of `dataset` (all by default) in batches, after a
    warm-up pass over its start."""
    is_conll = "tokens" in dataset.element_spec

    def batches(dataset):
        return dataset.ragged_batch(BATCH_SIZE) if is_conll else dataset.batch(BATCH_SIZE)

    for _ in batches(dataset.take(WARMUP_ROWS)):
        pass
    if rows is not None:
        # For CoNLL, a sentence of about 14 lines at a time.
        dataset = dataset.take(rows // 14 if is_conll else rows)
    count = sentences = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for batch in batches(dataset):
        if is_conll:
            count += int(batch["tokens"].values.shape[0])
            sentences += int(batch["tokens"].nrows())
        else:
            count += int(batch["text"].shape[0])
    return Measurement(
        source, candidate, count, time.perf_counter() - start, time.process_time() - start_cpu,
        sentences)


def measure_synthetic(folder, rows, baseline_rows, rng):
    paths = write_tables(folder, rows, rng)
    paths["conll"] = write_conll(folder, rows, rng)
    measurements = []
    for file_format, path in paths.items():
        source = f"synthetic {file_format.upper()}"
        if file_format == "conll":
            ours = data.read_conll(path, scheme="iob1")
        else:
            ours = data.read_classification(path)
        print(f"{source}: baseline", file=sys.stderr, flush=True)
        measurements.append(time_pass(
            generator_baseline(path, file_format), source, BASELINE, baseline_rows))
        print(f"{source}: ours", file=sys.stderr, flush=True)
        measurements.append(time_pass(ours, source, OURS))
    print("synthetic TSV, multi-label: ours", file=sys.stderr, flush=True)
    measurements.append(time_pass(
        data.read_classification(paths["tsv"], label_separator="|"),
        "synthetic TSV, label_separator='|'", OURS))
    return measurements


def time_python(records, source, candidate, rows_of):
    """One pass over a Python iterator of records; `rows_of(record)` counts its rows."""
    rows = sentences = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for record in records():
        rows += rows_of(record)
        sentences += 1
    return Measurement(
        source, candidate, rows, time.perf_counter() - start, time.process_time() - start_cpu,
        sentences if rows != sentences else 0)


def measure_corpora(data_dir):
    sst2 = os.path.join(data_dir, "sst2", "train.tsv")
    conll = os.path.join(data_dir, "conll2003", "train.txt")
    print("real corpora", file=sys.stderr, flush=True)
    return [
        time_pass(data.read_classification(sst2, text_column="sentence"),
                  "SST-2 train.tsv", OURS),
        time_python(lambda: data.iter_classification(sst2, text_column="sentence"),
                    "SST-2 train.tsv", OURS_PYTHON, lambda record: 1),
        time_pass(data.read_conll(conll), "CoNLL-2003 train.txt", OURS),
        time_python(lambda: data.iter_conll(conll), "CoNLL-2003 train.txt", OURS_PYTHON,
                    lambda sentence: len(sentence[0])),
    ]


def format_table(measurements):
    lines = [
        "| file | candidate | rows read | seconds | rows/s | sentences/s | CPU seconds "
        "| rows per CPU second | rows/s ratio |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    baselines = {m.source: m for m in measurements if m.candidate == BASELINE}
    for m in measurements:
        baseline = baselines.get(m.source)
        ratio = f"{m.rows_per_second / baseline.rows_per_second:.1f}" if baseline else ""
        sentences = f"{m.sentences / m.seconds:,.0f}" if m.sentences else ""
        lines.append(
            f"| {m.source} | {m.candidate} | {m.rows:,} | {m.seconds:.2f} "
            f"| {m.rows_per_second:,.0f} | {sentences} | {m.cpu_seconds:.2f} "
            f"| {m.rows / m.cpu_seconds:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="rows per synthetic file")
    parser.add_argument(
        "--baseline_rows", type=int, default=20_000, help="rows the generator baseline reads")
    parser.add_argument("--data_dir", help="folder of the real corpora (sst2/, conll2003/)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, a smoke test")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    baseline_rows = min(rows, args.baseline_rows)
    load = os.getloadavg()[0]
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        measurements = measure_synthetic(folder, rows, baseline_rows, rng)
    if args.data_dir:
        measurements += measure_corpora(args.data_dir)
    print(describe_machine(tf))
    print(f"Config: {rows:,} rows per synthetic file (the baseline reads {baseline_rows:,}), "
          f"batch {BATCH_SIZE}, warm-up {WARMUP_ROWS:,} rows; load average at the start "
          f"{load:.1f} on {os.cpu_count()} CPUs")
    print()
    print(format_table(measurements))
    print("\nRatio: ours / the generator baseline on the same file in this run, in rows/s; "
          "above 1 = faster.")


if __name__ == "__main__":
    main()
