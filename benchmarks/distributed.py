"""The training job's loops, strategies and precision policies against each other.

Question answered: how many examples per second does the training job
(`trainers.train`) train with the `model.fit` loop against the custom (Orbit)
loop on one device, and with `MirroredStrategy` over 2 logical CPU devices
against one device, in `float32` and in `mixed_bfloat16`?

Every configuration, {fit, custom} x {one_device, mirrored over 2 CPU
replicas} x {float32, mixed_bfloat16}, runs in its own process (logical CPU
devices and Keras's global dtype policy can be set only once per process):
`python -m benchmarks.distributed --measure=LOOP,STRATEGY,POLICY` calls
`trainers.train.train(parse_settings([...]))` with the DEMO classification
task and the flags printed under "Job flags", identical in every
configuration apart from `--loop`, `--strategy` (and `--cpu_replicas=2`) and
`--mixed_precision`: the same global batch (split in two under mirrored),
model, sequence length, data and `--steps_per_loop`. There is no
`--model_dir` (no checkpoints, no summaries) and evaluation runs only after
the last step, so the timed steps are training steps only, each fed by the
job's own `tf.data` pipeline (tokenisation included, on the same cores).

- examples/s: global batch x timed steps / their wall time. The process
  records the wall time at every host-loop boundary (after each
  `--steps_per_loop` steps: the custom loop's progress line, a Keras
  `on_train_batch_end` callback added to `fit`) and times the steps from
  the end of the warm-up steps to the last step: start-up, data generation,
  the vocabulary, building, tracing and the first steps are left out.

Caveats. `fit` under a multi-replica `MirroredStrategy` runs one step per
execution (`trainers.fit_loop.steps_per_execution`, keras-team/keras#19246),
the custom loop `--steps_per_loop` steps per `tf.while_loop`, which is part
of what fit/custom measures under mirrored. On a CPU the 2 logical devices
share the same cores (and TensorFlow's thread pool): mirrored there splits
the same work in two and adds the all-reduce, so it measures the overhead of
the distribution, not a speed-up; on several GPUs the ratio would mean
something else. Whether `mixed_bfloat16` pays off on a CPU depends on its
bfloat16 support (AVX512_BF16, AMX); the figures come from one run on a
possibly shared machine: compare within a run, not across machines.

Reading the ratios: each divides one configuration's examples/s by another's
measured in the same run, changing one thing only:

- fit/custom: the same strategy and policy; above 1, `fit` trains faster;
- mirrored/one_device: the same loop and policy; below 1, the cost of
  mirroring (on a CPU: the overhead, see above);
- mixed_bfloat16/float32: the same loop and strategy; above 1, bfloat16
  trains faster.

Usage (from the repository root):

    python -m benchmarks.distributed          # width 128, 2 layers, seq 64, batch 64: ~6 min
    python -m benchmarks.distributed --quick  # a smaller model, fewer steps: ~2 min
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

from benchmarks.timing import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOOPS = ("fit", "custom")
STRATEGIES = ("one_device", "mirrored")
POLICIES = ("float32", "mixed_bfloat16")
CPU_REPLICAS = 2
RESULT_PREFIX = "BENCHMARK_RESULT "
TIMEOUT_S = 600


@dataclasses.dataclass(frozen=True)
class Config:
    batch_size: int
    sequence_length: int
    hidden_dim: int
    num_layers: int
    steps_per_loop: int
    warmup_steps: int
    timed_steps: int
    train_examples: int = 2048
    eval_examples: int = 64
    vocabulary_size: int = 400

    @property
    def total_steps(self):
        return self.warmup_steps + self.timed_steps

    def job_flags(self):
        """The flags every configuration shares."""
        return [
            "--task=classification",
            f"--train_examples={self.train_examples}",
            f"--eval_examples={self.eval_examples}",
            f"--vocabulary_size={self.vocabulary_size}",
            f"--sequence_length={self.sequence_length}",
            f"--hidden_dim={self.hidden_dim}",
            f"--num_layers={self.num_layers}",
            "--num_heads=1",
            f"--batch_size={self.batch_size}",
            f"--train_steps={self.total_steps}",
            f"--steps_per_loop={self.steps_per_loop}",
            # Evaluation (and fit's only Keras epoch) ends with the last step.
            f"--eval_every_steps={self.total_steps}",
        ]

    def describe(self):
        return (
            f"DEMO classification, global batch {self.batch_size} "
            f"({self.batch_size // CPU_REPLICAS} per replica under mirrored), "
            f"sequence length {self.sequence_length}, width {self.hidden_dim}, "
            f"{self.num_layers} layers, 1 head, {self.train_examples} training examples, "
            f"steps per loop {self.steps_per_loop}, warm-up steps {self.warmup_steps}, "
            f"timed steps {self.timed_steps}, mirrored over {CPU_REPLICAS} logical CPUs"
        )


FULL_CONFIG = Config(
    batch_size=64,
    sequence_length=64,
    hidden_dim=128,
    num_layers=2,
    steps_per_loop=10,
    warmup_steps=20,
    timed_steps=400,
)
QUICK_CONFIG = Config(
    batch_size=32,
    sequence_length=32,
    hidden_dim=64,
    num_layers=2,
    steps_per_loop=5,
    warmup_steps=10,
    timed_steps=100,
)


@dataclasses.dataclass(frozen=True)
class Measurement:
    loop: str
    strategy: str
    policy: str
    examples_per_second: float
    wall_s: float

    @property
    def key(self):
        return (self.loop, self.strategy, self.policy)


def configuration_flags(loop, strategy, policy):
    """The flags that make one configuration."""
    flags = [f"--loop={loop}", f"--mixed_precision={policy}"]
    if strategy == "mirrored":
        return [*flags, "--strategy=mirrored", f"--cpu_replicas={CPU_REPLICAS}"]
    return [*flags, "--strategy=one_device"]


def measure_in_this_process(loop, strategy, policy, config):
    """Trains one configuration here; returns the steady-state examples/s.

    Records `(step, time)` at every host-loop boundary through the loops'
    own hooks: the custom loop's progress-line action, and a callback added
    to the `model.fit` call of `trainers.fit_loop`.
    """
    import keras

    from trainers import custom_loop, fit_loop
    from trainers.config import parse_settings
    from trainers.train import train

    marks = []

    class RecordingProgressLine(custom_loop.ProgressLine):
        def __call__(self, output):
            marks.append((int(self.global_step.numpy()), time.perf_counter()))
            super().__call__(output)

    class RecordingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # `batch`: the last step of the execution, counted from 0 in fit's only epoch.
            marks.append((batch + 1, time.perf_counter()))

    train_with_fit = fit_loop.train_with_fit

    def train_with_recording_fit(model, *args):
        fit = model.fit

        def recording_fit(*fit_args, callbacks=(), **kwargs):
            return fit(*fit_args, callbacks=[*callbacks, RecordingCallback()], **kwargs)

        model.fit = recording_fit
        return train_with_fit(model, *args)

    custom_loop.ProgressLine = RecordingProgressLine
    fit_loop.train_with_fit = train_with_recording_fit
    settings = parse_settings([*config.job_flags(), *configuration_flags(loop, strategy, policy)])
    result = train(settings)
    replicas = result.model.distribute_strategy.num_replicas_in_sync
    if replicas != (CPU_REPLICAS if strategy == "mirrored" else 1):
        raise RuntimeError(f"--strategy={strategy} trained on {replicas} replica(s)")
    if result.steps != config.total_steps:
        raise RuntimeError(f"trained {result.steps} steps, not {config.total_steps}")
    timed = [(step, at) for step, at in marks if step >= config.warmup_steps]
    (first_step, start), (last_step, end) = timed[0], timed[-1]
    if first_step != config.warmup_steps or last_step != config.total_steps:
        raise RuntimeError(f"unexpected host-loop boundaries: {[step for step, _ in marks]}")
    return config.batch_size * (last_step - first_step) / (end - start)


def run_configuration(loop, strategy, policy, quick):
    """Runs one configuration in a fresh process; returns its `Measurement`."""
    command = [
        sys.executable, "-m", "benchmarks.distributed",
        f"--measure={loop},{strategy},{policy}", *(["--quick"] if quick else []),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    process = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    wall_s = time.perf_counter() - start
    results = [
        line[len(RESULT_PREFIX):]
        for line in process.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    if process.returncode or not results:
        raise RuntimeError(
            f"{' '.join(command)} failed (exit {process.returncode}):\n"
            f"{process.stdout[-2000:]}\n{process.stderr[-3000:]}"
        )
    examples_per_second = json.loads(results[-1])["examples_per_second"]
    return Measurement(loop, strategy, policy, examples_per_second, wall_s)


def format_table(measurements):
    by_key = {m.key: m for m in measurements}

    def ratio(m, **change):
        other = {"loop": m.loop, "strategy": m.strategy, "policy": m.policy, **change}
        baseline = by_key[(other["loop"], other["strategy"], other["policy"])]
        return f"{m.examples_per_second / baseline.examples_per_second:.2f}"

    lines = [
        "| loop | strategy | policy | examples/s | fit/custom | mirrored/one_device "
        "| mixed_bfloat16/float32 |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    for m in measurements:
        lines.append(
            f"| {m.loop} | {m.strategy} | {m.policy} | {m.examples_per_second:,.0f} "
            f"| {ratio(m, loop='custom') if m.loop == 'fit' else ''} "
            f"| {ratio(m, strategy='one_device') if m.strategy == 'mirrored' else ''} "
            f"| {ratio(m, policy='float32') if m.policy == 'mixed_bfloat16' else ''} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller model and few steps, for a smoke test",
    )
    # Internal: the process that trains one configuration.
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    if args.measure:
        loop, strategy, policy = args.measure.split(",")
        examples_per_second = measure_in_this_process(loop, strategy, policy, config)
        print(RESULT_PREFIX + json.dumps({"examples_per_second": examples_per_second}))
        return
    runs = [(loop, s, p) for p in POLICIES for s in STRATEGIES for loop in LOOPS]
    measurements = []
    for index, (loop, strategy, policy) in enumerate(runs, start=1):
        print(f"[{index}/{len(runs)}] {loop}, {strategy}, {policy}", file=sys.stderr, flush=True)
        measurement = run_configuration(loop, strategy, policy, args.quick)
        print(
            f"    {measurement.examples_per_second:,.0f} examples/s "
            f"(process {measurement.wall_s:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        measurements.append(measurement)

    import keras
    import tensorflow as tf

    print(describe_machine(tf, keras))
    print(f"Config: {config.describe()}")
    print(f"Job flags: {' '.join(config.job_flags())}")
    print()
    print(format_table(measurements))
    print()
    print(
        "Ratios divide the row's examples/s by that of the configuration that differs in one "
        "thing only (the loop, the strategy or the policy), measured in the same run. "
        "fit/custom above 1: fit trains faster; mixed_bfloat16/float32 above 1: bfloat16 "
        "trains faster. Under mirrored, fit runs 1 step per execution (keras-team/keras#19246), "
        f"the custom loop {config.steps_per_loop} per tf.while_loop."
    )
    print(
        f"On this machine's {os.cpu_count()} CPU cores the {CPU_REPLICAS} logical CPU devices "
        "share the same cores: mirrored/one_device measures the overhead of mirroring "
        "(splitting the batch, the all-reduce), not a speed-up."
    )


if __name__ == "__main__":
    main()
