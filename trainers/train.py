"""Trains a simplified-Transformer text model; with no flags, a sentiment classifier on DEMO data.

    python -m trainers.train            # the README's main job
    python -m trainers.train --epochs=5 --num_heads=2 --layout=parallel
    python -m trainers.train --strategy=mirrored --cpu_replicas=2 --model_dir=/tmp/job
    python -m trainers.train --config=job.yaml --task=ner --loop=custom

The same command runs on one CPU, a multi-GPU machine, several workers
(`--strategy=multi_worker_mirrored` and `TF_CONFIG`) or a Cloud TPU; with a
`--model_dir`, a job that is stopped and started again resumes where it was.
"""

import dataclasses
import hashlib
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from trainers import flags as job_flags  # noqa: E402
from trainers.config import (  # noqa: E402
    SettingsError, check_precision_replicas, labels_from_teacher, plan_steps,
    settings_from_flags,
)

FLAGS = flags.FLAGS


@dataclasses.dataclass
class TrainResult:
    """What a finished job leaves behind.

    Attributes:
        model: the trained Keras model.
        task: the `trainers.tasks` task (examples, preprocessor, labels).
        results: the final evaluation results, `{}` without evaluation data.
        losses: `(step, training loss)` of each logging interval this run trained.
        steps: optimizer steps taken, including those of earlier runs resumed from.
        export_paths: the files `trainers.export` wrote, or `None`.
    """

    model: object
    task: object
    results: dict
    losses: list
    steps: int
    export_paths: tuple = None


def train(settings):
    """Runs the training job that `settings` describe.

    Creates the strategy first (it must precede every other TensorFlow
    call), then sets the precision policy, refuses to resume a `--model_dir`
    checkpoint with settings other than those it records
    (`checkpointing.check_resumed_settings`; `--train_steps`, intervals,
    outputs and hardware may change: `trainers.config.RESUMABLE_FLAGS`),
    reads the data, builds and compiles the model under the strategy,
    checks the `--model_dir` it resumes from and records this run's settings
    there, trains with the chosen loop and exports. Every bad setting fails
    before the first training step.

    Args:
        settings: the job's settings, from `trainers.config.settings_from_flags`
            or `trainers.config.parse_settings`.

    Returns:
        A `TrainResult`.

    Raises:
        SettingsError: a setting, file or `--model_dir` that cannot work.
    """
    import keras

    from trainers import checkpointing, custom_loop, fit_loop, strategy, tasks

    distribution = strategy.create_strategy(
        settings.strategy,
        num_gpus=settings.num_gpus,
        cpu_replicas=settings.cpu_replicas,
        tpu=settings.tpu,
        tpu_timeout_s=settings.tpu_timeout_s,
    )
    # A multi-worker cluster, or all of a machine's GPUs: replicas the flags alone do not show.
    check_precision_replicas(settings, distribution.num_replicas_in_sync)
    policy = strategy.set_precision(settings.mixed_precision)
    # Before the data is read or a checkpoint restored: a changed setting fails at once.
    checkpointing.check_resumed_settings(settings)
    keras.utils.set_random_seed(settings.seed)
    task = tasks.create_task(settings)
    if task.teacher:
        on = ""
        if labels_from_teacher(settings):
            on = (f" on {len(task.train_examples)} {task.transfer_unit} "
                  f"({task.train_examples.source}), labelled by the teacher once")
        print(f"Distilling a --student={settings.student} of our encoder from --teacher="
              f"{settings.teacher}{on}; {len(task.vocabulary)} WordPiece tokens, the teacher's.",
              flush=True)
    else:
        print(task.describe(), flush=True)
    replicas = distribution.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise SettingsError(
            f"--batch_size={settings.batch_size} does not divide evenly across the {replicas} "
            f"replicas of --strategy={settings.strategy}; use a multiple of {replicas}."
        )
    plan = plan_steps(settings, len(task.train_examples))
    dirs = checkpointing.OutputDirs(settings.model_dir, settings.export_dir, distribution)
    with distribution.scope():
        if task.teacher:
            # Only a narrower feed-forward prunes, on a sample of the training features.
            sample = task.feature_sample() if settings.intermediate_dim else None
            model = task.teacher.distiller(settings, pruning_features=sample)
        else:
            model = task.build_model()
            # A job that resumes restores weights trained past the pretraining.
            if settings.pretrain_steps and not dirs.has_checkpoint():
                task.pretrain(model.backbone)
        optimizer = model.default_optimizer(
            plan.total_steps, settings.learning_rate, settings.ema_momentum
        )
        if policy.name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(
            optimizer=optimizer,
            loss=model.default_loss(),
            # Weighted: evaluation batches are padded with examples of weight 0.
            weighted_metrics=task.metrics(),
            steps_per_execution=fit_loop.steps_per_execution(distribution, plan),
        )
        # Optimizer variables exist before a checkpoint is restored into them.
        optimizer.build(model.trainable_variables)
    checkpointing.check_same_model(dirs, model)
    checkpointing.record_settings(dirs, settings)
    print(
        f"{type(distribution).__name__}: {replicas} replica(s), global batch "
        f"{settings.batch_size} ({settings.batch_size // replicas} per replica), "
        f"{settings.loop} loop, {policy.name}, {plan.total_steps} steps, learning rate "
        f"{describe_learning_rate(optimizer)}.",
        flush=True,
    )
    loop = fit_loop.train_with_fit if settings.loop == "fit" else custom_loop.train_with_orbit
    # The loops' preemption handler takes over SIGTERM; a process that trains in
    # process (a notebook, a test) gets its own handler back afterwards.
    sigterm_handler = signal.getsignal(signal.SIGTERM)
    try:
        results, losses = loop(model, task, plan, dirs, settings)
        trained = model.student if task.teacher else model
        if task.eval_examples is not None:
            results = task.final_results(trained, results)
        export_paths = None
        if dirs.export:
            export_paths = task.export(trained, dirs.export)
    finally:
        signal.signal(signal.SIGTERM, sigterm_handler)
        dirs.clean_up()
    return TrainResult(
        trained, task, results, losses, int(optimizer.iterations.numpy()), export_paths
    )


def describe_learning_rate(optimizer):
    """The optimizer's learning rate (or its schedule's class and arguments) and averaging, as text.

    Example:

    ```python
    describe_learning_rate(keras.optimizers.AdamW(1e-3))   # '0.001'
    describe_learning_rate(keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.999))
    # "0.001, ending on the weights' moving average (momentum 0.999)"
    ```
    """
    config = getattr(optimizer, "inner_optimizer", optimizer).get_config()
    rate = config["learning_rate"]
    if isinstance(rate, dict):
        arguments = ", ".join(f"{name}={value}" for name, value in rate["config"].items())
        rate = f"{rate['class_name']}({arguments})"
    else:
        rate = f"{rate:g}"
    if config["use_ema"]:
        rate += f", ending on the weights' moving average (momentum {config['ema_momentum']:.6g})"
    return rate


def weights_digest(model):
    """A short SHA-256 of the model's trainable weights, to compare replicas and runs."""
    digest = hashlib.sha256()
    for weight in model.trainable_weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_loop_errors():
    """The loops' own errors that end a job with a one-line message."""
    from trainers.fit_loop import TrainingStalled

    return TrainingStalled


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        result = train(settings_from_flags(FLAGS))
    except (SettingsError, fit_loop_errors()) as error:
        # One line, not the flag listing a UsageError prints: the message names what is wrong.
        sys.exit(f"trainers.train: error: {error}")
    if result.results:
        print(result.task.report(result.results))
    print(f"Trained {result.steps} steps; weights digest {weights_digest(result.model)}.")
    if result.export_paths:
        print(f"Exported {' and '.join(result.export_paths)}.")


def run():
    """Console-script entry point (`simpletf-train`)."""
    job_flags.define_flags(FLAGS)
    # `--help` lists the key flags of the module named `sys.argv[0]`: this
    # file under `python -m`, the console script's wrapper otherwise.
    for flag in FLAGS.get_flags_for_module(job_flags.__name__):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


if __name__ == "__main__":
    run()
