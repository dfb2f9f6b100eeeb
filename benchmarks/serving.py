"""Our model server under concurrent load, with and without batching, against the in-process SavedModel.

Question answered: what latency and throughput does our model server
(`python -m serving.model_server`) give a DEMO sentiment classifier under
concurrent load, with and without server-side batching, compared with calling
the same SavedModel in-process?

The model: a `TextClassifier` over our `TransformerEncoder` (2 layers, width
64, one head, sequence length 32) with a WordPiece vocabulary learned from
`keras_simpletf.data.demo_sentiment`, trained for one epoch on DEMO reviews
(seconds) and exported with `serving.export.export` to a temporary
directory. Every request carries one DEMO review (a pool of held-out ones,
cycled) and asks for `serving_default` (labels and scores).

Rows:

- in-process (the floor): `tf.saved_model.load(version).signatures
  ["serving_default"]` called with one text at a time from a single thread,
  in this process: no transport, no queueing, no concurrency. This process
  runs TensorFlow with the intra-op threads of the server's default Session
  config (all CPUs but one, where TensorFlow's default takes them all), so
  that both in-process rows run the model as the server does;
  `--in_process_intra_op_parallelism=0` gives them TensorFlow's default.
- in-process, the server's Servable: the same SavedModel run as our server
  runs it (TF Serving's way: a TF1 Session callable fed by tensor name), one
  text per call, in this process; a server row less this one is the cost of
  the transport and the request path.
- gRPC, no batching: our server without `--enable_batching`, under
  `--clients` concurrent gRPC clients (one thread each, each with its own
  `serving.client.ServingClient`, no retries), each sending one text per
  request in a loop.
- gRPC, batching: the same with `--enable_batching` and the batching
  parameters printed below (TF Serving's `BatchingParameters`).
- REST, no batching: as the gRPC row, over `:predict` on the REST port.

Each server row starts a fresh server on free 127.0.0.1 ports, waits until the
model is AVAILABLE, lets the clients run for `--warmup` seconds, then counts
only the requests that start and finish within the next `--duration` seconds.
With `--clients=1` the rows measure the request path's own cost instead: one
server without batching (its gRPC and REST ports) and one with, started
together, and every row timed in turns of `TURN_CALLS` calls, each row making
as many calls as the floor makes in `--duration` seconds, over `--rounds`
rounds of fresh servers (the table holds each row's medians across them, and
each round's p50 over the floor is printed below it); rows measured one after
the other moved by about 0.3 ms between runs on a 2-core machine.
Latency is client-side wall time per request (p50, p99); throughput is counted
requests divided by `--duration`. Errors (failed requests, warm-up included)
must be 0; wrong labels (responses whose label differs from the in-process
model's for that text) should be 0. The server gets `--grpc_max_threads`
handler threads (default: twice the clients, at least 8), so that every client can have a
request inside the server at once and batches can actually fill; with the
default (TF Serving's: 4 per core) a 2-core machine caps batches at 8. The
REST client (urllib) opens a new connection per request, as many simple
clients do.

Caveat: the clients run as threads of this process, on the same cores as the
server; on a small machine client-side Python and the server compete for the
CPU, so the server rows overstate the latency (and understate the throughput)
of the server alone.

Reading the ratios: each is the row's number divided by the in-process
floor's, measured in the same run. Latency ratio above 1 means slower than
calling the SavedModel in-process (the cost of the transport, the server and
queueing behind the other clients). Throughput ratio above 1 means more
requests per second than one in-process caller makes; below 1, fewer.

Usage (from the repository root):

    python -m benchmarks.serving          # 32 clients, 2 s warm-up, 10 s per row
    python -m benchmarks.serving --quick  # 4 clients, 0.5 s warm-up, 2 s per row
    python -m benchmarks.serving --clients=1 --in_process_intra_op_parallelism=0
"""

import argparse
import collections
import dataclasses
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import grpc  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc  # noqa: E402

from benchmarks.timing import describe_machine, seconds_in_turns  # noqa: E402
from keras_simpletf.data import SENTIMENT_LABELS, demo_sentiment  # noqa: E402
from keras_simpletf.layers import TransformerEncoder  # noqa: E402
from keras_simpletf.models import TextClassifier  # noqa: E402
from keras_simpletf.text import ClassificationPreprocessor, LabelEncoder, learn_vocabulary  # noqa: E402
from serving.client import ServingClient, ServingError  # noqa: E402
from serving.export import export  # noqa: E402
from serving.model_server.configs import read_session_config  # noqa: E402
from serving.model_server.servables import DEFAULT_SIGNATURE, LoadOptions, Servable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "sentiment"
HOST = "127.0.0.1"
NUM_LAYERS = 2
WIDTH = 64
SEQUENCE_LENGTH = 32
VOCABULARY_SIZE = 500
TRAIN_TEXTS = 1000
REQUEST_TEXTS = 256
SERVER_START_SECONDS = 180
REQUEST_TIMEOUT_SECONDS = 10.0
BATCHING_PARAMETERS = {
    "max_batch_size": 32,
    "batch_timeout_micros": 2000,
    "num_batch_threads": 2,
    "max_enqueued_batches": 100,
    "allowed_batch_sizes": (1, 2, 4, 8, 16, 32),
}
FLOOR = "in-process SavedModel, 1 thread"
SERVABLE = "in-process, the server's Servable, 1 thread"
TURN_CALLS = 300  # one client: calls of a row before the next row's turn


@dataclasses.dataclass(frozen=True)
class Config:
    clients: int
    warmup_seconds: float
    duration_seconds: float
    grpc_max_threads: int
    rest: bool
    server_flags: tuple = ()
    rounds: int = 1
    in_process_intra_op_threads: int = 0

    def describe(self):
        batching = ", ".join(
            f"{name}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
            for name, value in BATCHING_PARAMETERS.items()
        )
        return (
            f"model: TextClassifier, TransformerEncoder {NUM_LAYERS} layers, width {WIDTH}, "
            f"1 head, seq {SEQUENCE_LENGTH}, vocabulary <= {VOCABULARY_SIZE}, 1 epoch on "
            f"{TRAIN_TEXTS} DEMO reviews; 1 text per request from a pool of {REQUEST_TEXTS}; "
            f"clients={self.clients}, warm-up={self.warmup_seconds:g} s, "
            f"measured={self.duration_seconds:g} s per row, "
            f"{f'{self.rounds} rounds of fresh servers, ' if self.rounds > 1 else ''}"
            f"--grpc_max_threads={self.grpc_max_threads}"
            f"{''.join(f' {flag}' for flag in self.server_flags)}; batching: {batching}; "
            f"in-process rows: {self.in_process_intra_op_threads or 'default'} intra-op threads"
        )


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    clients: int
    requests: int
    errors: int
    wrong_labels: int
    per_second: float
    p50_ms: float
    p99_ms: float
    error_messages: tuple = ()


# --- the model ------------------------------------------------------------------------------


def build_and_export(export_dir):
    """Trains the small DEMO classifier for one epoch and exports it; returns the version path."""
    keras.utils.set_random_seed(0)
    texts, labels = demo_sentiment(TRAIN_TEXTS)
    preprocessor = ClassificationPreprocessor(
        learn_vocabulary(texts, VOCABULARY_SIZE, allow_smaller=True), sequence_length=SEQUENCE_LENGTH
    )
    encode = LabelEncoder(SENTIMENT_LABELS)
    classifier = TextClassifier(
        TransformerEncoder(
            len(preprocessor.vocabulary),
            num_layers=NUM_LAYERS,
            hidden_dim=WIDTH,
            max_length=SEQUENCE_LENGTH,
        ),
        labels=SENTIMENT_LABELS,
    )
    classifier.compile("adam", classifier.default_loss())
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(32)
    classifier.fit(
        dataset.map(lambda t, y: (preprocessor(t), encode(y))), epochs=1, verbose=0
    )
    return export(classifier, preprocessor, str(export_dir))


def request_texts():
    """Held-out DEMO reviews (another seed than the training ones)."""
    texts, _ = demo_sentiment(REQUEST_TEXTS, seed=1)
    return texts


def percentiles_ms(seconds):
    if not seconds:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def in_process_call(version_path, texts):
    """The floor: the loaded signature, one text per call; `label_of(position)`."""
    serve = tf.saved_model.load(version_path).signatures["serving_default"]
    inputs = [tf.constant([text]) for text in texts]
    return lambda position: serve(text=inputs[position])["labels"].numpy()[0].decode()


def servable_call(version_path, texts):
    """The server's own model runner in this process: its `Servable` (a TF1 Session callable,
    as TF Serving runs SavedModels, with the server's default Session config), one text per
    call; a server row less this row is the transport and the request path. Returns
    `label_of(position)`."""
    servable = Servable(
        MODEL_NAME, 1, version_path, LoadOptions(session_config=read_session_config(""))
    )
    inputs = [np.array([text], dtype=object) for text in texts]
    return lambda position: (
        servable.run(DEFAULT_SIGNATURE, {"text": inputs[position]})["labels"][0].decode()
    )


def client_call(address, texts):
    """One `ServingClient` (gRPC or REST by `address`), one text per request; `label_of(position)`."""
    client = ServingClient(address, MODEL_NAME, timeout=REQUEST_TIMEOUT_SECONDS, retries=0)
    return lambda position: client.predict([texts[position]])["labels"][0].decode()


def measure_calls(name, label_of, expected, config):
    """Calls `label_of(position)` over the request texts in turn from one thread."""
    end = time.perf_counter() + config.warmup_seconds
    index = 0
    while time.perf_counter() < end:
        label_of(index % len(expected))
        index += 1
    latencies, wrong = [], 0
    start = time.perf_counter()
    end = start + config.duration_seconds
    while time.perf_counter() < end:
        position = index % len(expected)
        before = time.perf_counter()
        label = label_of(position)
        latencies.append(time.perf_counter() - before)
        wrong += label != expected[position]
        index += 1
    p50, p99 = percentiles_ms(latencies)
    return Row(name, 1, len(latencies), 0, wrong, len(latencies) / config.duration_seconds, p50, p99)


def measure_in_turns(label_of_rows, expected, config):
    """One client: the rows (`{name: label_of}`) timed in turns, `TURN_CALLS` calls at a time.

    Every row makes as many calls as the first (the floor) makes in `duration`
    seconds, after as many warm-up calls as it makes in `warmup` seconds; a
    drifting machine reaches every row alike. Errors and wrong labels are
    counted over every call, warm-up included.
    """
    floor = next(iter(label_of_rows.values()))
    end = time.perf_counter() + config.warmup_seconds
    warmup_calls = 0
    while time.perf_counter() < end or warmup_calls == 0:
        floor(warmup_calls % len(expected))
        warmup_calls += 1
    calls_per_second = warmup_calls / max(config.warmup_seconds, 1e-3)
    timed_calls = max(1, round(calls_per_second * config.duration_seconds))
    errors = {name: collections.Counter() for name in label_of_rows}
    wrong = collections.Counter()

    def counted(name, label_of):
        positions = itertools.count()

        def call():
            position = next(positions) % len(expected)
            try:
                label = label_of(position)
            except ServingError as error:
                errors[name][error.code] += 1
                return
            wrong[name] += label != expected[position]

        return call

    seconds = seconds_in_turns(
        {name: counted(name, label_of) for name, label_of in label_of_rows.items()},
        warmup_calls,
        timed_calls,
        TURN_CALLS,
    )
    rows = []
    for name, latencies in seconds.items():
        p50, p99 = percentiles_ms(latencies)
        rows.append(
            Row(
                name,
                1,
                len(latencies),
                sum(errors[name].values()),
                wrong[name],
                len(latencies) / sum(latencies),
                p50,
                p99,
                tuple(f"{code} x{count}" for code, count in errors[name].most_common()),
            )
        )
    return rows


def measure_one_client_round(directory, base_path, flags, floor_rows, texts, expected, config):
    """One client: a server without batching (gRPC and REST) and one with, started for this round,
    and every row timed in turns (`measure_in_turns`). `flags`: (plain, batching) server flags."""
    plain, batching = flags
    with Server(directory, base_path, *plain) as server, Server(
        directory, base_path, *batching
    ) as batching_server:
        calls = {
            **floor_rows,
            "gRPC, no batching": client_call(f"{HOST}:{server.port}", texts),
            "gRPC, batching": client_call(f"{HOST}:{batching_server.port}", texts),
        }
        if config.rest:
            calls["REST, no batching"] = client_call(f"http://{HOST}:{server.rest_port}", texts)
        return measure_in_turns(calls, expected, config)


def median_rows(rounds):
    """One Row per row name of several rounds (lists of Rows): counts summed, rates and latencies
    their medians across the rounds."""
    rows = []
    for same in zip(*rounds):
        rows.append(
            Row(
                same[0].name,
                same[0].clients,
                sum(row.requests for row in same),
                sum(row.errors for row in same),
                sum(row.wrong_labels for row in same),
                statistics.median(row.per_second for row in same),
                statistics.median(row.p50_ms for row in same),
                statistics.median(row.p99_ms for row in same),
                tuple(message for row in same for message in row.error_messages),
            )
        )
    return rows


def expected_labels(version_path, texts):
    """The in-process model's label for each text, computed one text per call."""
    serve = tf.saved_model.load(version_path).signatures["serving_default"]
    return [serve(text=tf.constant([text]))["labels"].numpy()[0].decode() for text in texts]


# --- the server -----------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """A `python -m serving.model_server` subprocess on free ports, stopped on exit."""

    def __init__(self, directory, base_path, *flags):
        self.port = free_port()
        self.rest_port = free_port()
        while self.rest_port == self.port:
            self.rest_port = free_port()
        self.log_path = Path(directory) / f"model_server_{self.port}.log"
        self.flags = flags
        self.base_path = base_path
        self.process = None

    def __enter__(self):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "serving.model_server",
                    f"--port={self.port}",
                    f"--rest_api_port={self.rest_port}",
                    f"--model_name={MODEL_NAME}",
                    f"--model_base_path={self.base_path}",
                    *self.flags,
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2"),
            )
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:]

    def _wait_until_serving(self):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL_NAME
        deadline = time.monotonic() + SERVER_START_SECONDS
        with grpc.insecure_channel(f"{HOST}:{self.port}") as channel:
            models = model_service_pb2_grpc.ModelServiceStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"model server exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    status = models.GetModelStatus(request, timeout=5)
                    if any(v.state == v.AVAILABLE for v in status.model_version_status):
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(
            f"model server did not serve {MODEL_NAME} in {SERVER_START_SECONDS} s:\n{self.log_tail()}"
        )

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the load -------------------------------------------------------------------------------


class _ClientResult:
    def __init__(self):
        self.latencies = []
        self.errors = collections.Counter()
        self.wrong_labels = 0


def _client_loop(address, offset, texts, expected, start, end, result):
    """Sends one text per request until `end`.

    Records the latency of the requests that start and finish in [start, end],
    and every failed request, warm-up included.
    """
    label_of = client_call(address, texts)
    index = offset
    while True:
        before = time.perf_counter()
        if before >= end:
            return
        position = index % len(texts)
        index += 1
        try:
            label = label_of(position)
            error = None
        except ServingError as exception:
            error = exception.code
        except Exception as exception:  # noqa: BLE001 - a benchmark counts, it does not crash
            error = type(exception).__name__
        after = time.perf_counter()
        if error is not None:
            result.errors[error] += 1  # counted during the warm-up too
        elif start <= before and after <= end:
            result.latencies.append(after - before)
            result.wrong_labels += label != expected[position]


def measure_load(name, address, texts, expected, config):
    """`config.clients` client threads against `address`; the Row of the measured window."""
    results = [_ClientResult() for _ in range(config.clients)]
    start = time.perf_counter() + config.warmup_seconds
    end = start + config.duration_seconds
    stride = max(1, len(texts) // config.clients)
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(address, number * stride, texts, expected, start, end, result),
            name=f"client-{number}",
            daemon=True,
        )
        for number, result in enumerate(results)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.perf_counter()) + 2 * REQUEST_TIMEOUT_SECONDS)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"{name}: a client did not stop")
    latencies = [seconds for result in results for seconds in result.latencies]
    errors = sum((result.errors for result in results), collections.Counter())
    p50, p99 = percentiles_ms(latencies)
    return Row(
        name,
        config.clients,
        len(latencies),
        sum(errors.values()),
        sum(result.wrong_labels for result in results),
        len(latencies) / config.duration_seconds,
        p50,
        p99,
        tuple(f"{code} x{count}" for code, count in errors.most_common()),
    )


def batching_parameters_text():
    lines = [
        f"{name} {{ value: {value} }}"
        for name, value in BATCHING_PARAMETERS.items()
        if name != "allowed_batch_sizes"
    ]
    lines += [f"allowed_batch_sizes: {size}" for size in BATCHING_PARAMETERS["allowed_batch_sizes"]]
    return "\n".join(lines) + "\n"


# --- the report -----------------------------------------------------------------------------


def format_table(rows):
    floor = rows[0]
    lines = [
        "| row | clients | requests | errors | wrong labels | requests/s | p50 ms | p99 ms "
        "| p50 over the floor ms | p50 ratio | p99 ratio | throughput ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.clients} | {row.requests:,} | {row.errors} | {row.wrong_labels} "
            f"| {row.per_second:,.1f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
            f"| {row.p50_ms - floor.p50_ms:+.2f} | {row.p50_ms / floor.p50_ms:.2f} "
            f"| {row.p99_ms / floor.p99_ms:.2f} "
            f"| {row.per_second / floor.per_second:.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 clients, 0.5 s warm-up, 2 s per row: a smoke test"
    )
    parser.add_argument("--clients", type=int, help="concurrent clients (default 32; --quick: 4)")
    parser.add_argument(
        "--duration", type=float, help="measured seconds per row (default 10; --quick: 2)"
    )
    parser.add_argument(
        "--warmup", type=float, help="warm-up seconds per row (default 2; --quick: 0.5)"
    )
    parser.add_argument(
        "--grpc_max_threads",
        type=int,
        help="server gRPC handler threads (default: 2 x clients, at least 8)",
    )
    parser.add_argument("--no_rest", action="store_true", help="skip the REST row")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="--clients=1: rounds, each with fresh servers; the table has each row's medians",
    )
    parser.add_argument(
        "--in_process_intra_op_parallelism",
        type=int,
        help="TensorFlow intra-op threads of this process, which runs the in-process rows "
        "(default: the server's default Session config's; 0: TensorFlow's default)",
    )
    parser.add_argument(
        "--server_flag",
        action="append",
        default=[],
        help="a flag for every server started, e.g. --server_flag=--tensorflow_intra_op_parallelism=1 "
        "(repeatable)",
    )
    args = parser.parse_args()
    clients = args.clients if args.clients is not None else (4 if args.quick else 32)
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    if clients < 1 or duration <= 0 or warmup < 0 or args.rounds < 1:
        parser.error("--clients, --duration and --rounds must be positive, --warmup not negative")
    intra_op_threads = args.in_process_intra_op_parallelism
    if intra_op_threads is None:
        intra_op_threads = read_session_config("").intra_op_parallelism_threads
    tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    config = Config(
        clients=clients,
        warmup_seconds=warmup,
        duration_seconds=duration,
        grpc_max_threads=args.grpc_max_threads or max(8, 2 * clients),
        rest=not args.no_rest,
        server_flags=tuple(args.server_flag),
        rounds=args.rounds if clients == 1 else 1,
        in_process_intra_op_threads=intra_op_threads,
    )

    with tempfile.TemporaryDirectory(prefix="benchmark_serving_") as directory:
        directory = Path(directory)
        base_path = directory / MODEL_NAME
        print("building, training and exporting the classifier", file=sys.stderr, flush=True)
        version_path = build_and_export(base_path)
        texts = request_texts()
        expected = expected_labels(version_path, texts)
        parameters = directory / "batching.config"
        parameters.write_text(batching_parameters_text())
        plain = (f"--grpc_max_threads={config.grpc_max_threads}", *config.server_flags)
        batching = (*plain, "--enable_batching", f"--batching_parameters_file={parameters}")
        floor_rows = {
            FLOOR: in_process_call(version_path, texts),
            SERVABLE: servable_call(version_path, texts),
        }
        rounds = []
        if config.clients == 1:
            for number in range(1, config.rounds + 1):
                print(f"one client, round {number}/{config.rounds}", file=sys.stderr, flush=True)
                rounds.append(
                    measure_one_client_round(
                        directory, base_path, (plain, batching), floor_rows, texts, expected, config
                    )
                )
            rows = median_rows(rounds)
        else:
            server_rows = [("gRPC, no batching", "grpc", plain), ("gRPC, batching", "grpc", batching)]
            if config.rest:
                server_rows.append(("REST, no batching", "rest", plain))
            print(f"[1/{1 + len(server_rows)}] {FLOOR}; {SERVABLE}", file=sys.stderr, flush=True)
            rows = [
                measure_calls(name, label_of, expected, config)
                for name, label_of in floor_rows.items()
            ]
            for number, (name, transport, flags) in enumerate(server_rows, start=2):
                print(f"[{number}/{1 + len(server_rows)}] {name}", file=sys.stderr, flush=True)
                with Server(directory, base_path, *flags) as server:
                    address = (
                        f"{HOST}:{server.port}"
                        if transport == "grpc"
                        else f"http://{HOST}:{server.rest_port}"
                    )
                    rows.append(measure_load(name, address, texts, expected, config))

    print(describe_machine(tf, keras, grpc))
    print(f"Config: {config.describe()}")
    print()
    print(format_table(rows))
    print()
    if len(rounds) > 1:
        for index, row in enumerate(rows[2:], start=2):
            each = ", ".join(f"{one[index].p50_ms - one[0].p50_ms:+.2f}" for one in rounds)
            print(f"{row.name}: p50 over the floor in each round, ms: {each}")
        print()
    print(
        f"Ratios are relative to the in-process floor ({FLOOR}) in this run. Latency ratio "
        "above 1 means slower than calling the SavedModel in-process; throughput ratio above 1 "
        "means more requests per second than one in-process caller, below 1 fewer."
    )
    failed = [row for row in rows if row.errors]
    for row in failed:
        print(f"ERRORS in {row.name}: {', '.join(row.error_messages)}")
    wrong = [row.name for row in rows if row.wrong_labels]
    if wrong:
        print(f"WRONG LABELS in: {', '.join(wrong)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
