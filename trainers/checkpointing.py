"""Checkpoints, saving before preemption, and where each worker writes.

Layout of `--model_dir`:

    model_dir/
      settings.json           the latest run's settings, to refuse a resume that changes them
      model_variables.json    the variables' names and shapes, to refuse a different model
      checkpoints/            both loops: ckpt-<step>.index and .data-*, and the `checkpoint` file
      summaries/              TensorBoard: train/ and eval/ (or validation/)
      workertemp_<task id>/   a non-chief worker's own writes, removed when it finishes

One checkpoint holds the model's weights and random seed states (dropout's),
the optimizer's state and with it the step counter (`optimizer.iterations`),
so weights and step cannot disagree, and a resumed job trains on exactly as
one never stopped would. TensorFlow writes each checkpoint under a new name, `ckpt-<step>`,
and only then replaces the small `checkpoint` file that names the latest
(a temporary file renamed over it): a job killed at any moment, even in the
middle of a save, leaves the checkpoints it had. Resuming restores the newest
checkpoint that reads back whole, and falls back to the one before when it
does not (a truncated or damaged file).

Every worker of a multi-worker job must save (saving can take part in
collective ops), but only the chief's files are kept: the others write into
their `workertemp_<task id>` directory, TensorFlow's own convention, and every
worker restores from the chief's checkpoints.
"""

import json
import os
import re
import sys
import tempfile

import keras
import tensorflow as tf
from absl import logging
from google.protobuf.message import DecodeError

from trainers.config import RESUMABLE_FLAGS, SettingsError, changed_on_resume, settings_record
from trainers.strategy import is_chief, task_id

MAX_CHECKPOINTS_KEPT = 3
# In --model_dir: the job's settings, flag names to values (`trainers.config.settings_record`).
SETTINGS_FILE = "settings.json"
# Exit status of a job that saved a checkpoint on SIGTERM: TensorFlow's own
# choice for `TerminationConfig`, which cluster schedulers can treat as "restart me".
PREEMPTED_EXIT_CODE = 42


class OutputDirs:
    """The directories this process reads and writes.

    Args:
        model_dir: str or None, `--model_dir`.
        export_dir: str or None, `--export_dir`.
        strategy: the job's `tf.distribute.Strategy`, which tells the chief.

    Attributes:
        model_dir: `--model_dir`, or None.
        chief: whether this process writes the job's outputs.
        checkpoints: the chief's checkpoint directory, which every worker restores from.
        checkpoint_writes: where this worker saves checkpoints.
        summaries: TensorBoard directory, or None (no model_dir, or not the chief).
        export: where this worker saves the trained model, or None.
    """

    def __init__(self, model_dir, export_dir, strategy):
        self.model_dir = model_dir
        self.chief = is_chief(strategy)
        self._scratch = None
        if not self.chief and model_dir:
            self._scratch = os.path.join(model_dir, f"workertemp_{task_id(strategy)}")
            # A killed earlier run may have left files that must not be restored.
            if tf.io.gfile.exists(self._scratch):
                tf.io.gfile.rmtree(self._scratch)
        elif not self.chief:
            self._scratch = tempfile.mkdtemp(prefix=f"workertemp_{task_id(strategy)}_")
        own = model_dir if self.chief else self._scratch
        self.checkpoints = model_dir and os.path.join(model_dir, "checkpoints")
        self.checkpoint_writes = model_dir and os.path.join(own, "checkpoints")
        self.summaries = os.path.join(model_dir, "summaries") if model_dir and self.chief else None
        self.export = export_dir if self.chief else export_dir and os.path.join(own, "export")

    def has_checkpoint(self):
        """Whether `model_dir` holds a checkpoint to resume from."""
        return bool(self.model_dir and checkpoints_newest_first(self.checkpoints))

    def clean_up(self):
        """Removes this worker's scratch directory (non-chief workers only)."""
        if self._scratch and tf.io.gfile.exists(self._scratch):
            tf.io.gfile.rmtree(self._scratch)


def check_resumed_settings(settings):
    """Refuses to resume `--model_dir`'s checkpoint with settings other than it was trained with.

    Reads the settings the job recorded (`record_settings`) and compares them with
    `settings` (`trainers.config.changed_on_resume`: all but `RESUMABLE_FLAGS`). Every
    process compares, before it reads data or restores anything, so a refused run leaves the
    checkpoints as they were. Nothing to compare without a checkpoint (a new job, or one killed
    before its first save) or without a record (a model_dir from before the job kept one).

    Raises:
        SettingsError: naming `--model_dir` and each changed flag with its saved and new
            values; or a record that does not read back as a JSON mapping.
    """
    model_dir = settings.model_dir
    if not model_dir or not checkpoints_newest_first(os.path.join(model_dir, "checkpoints")):
        return
    path = os.path.join(model_dir, SETTINGS_FILE)
    if not tf.io.gfile.exists(path):
        return
    try:
        with tf.io.gfile.GFile(path) as file:
            saved = json.load(file)
        problem = None if isinstance(saved, dict) else f"a JSON {type(saved).__name__}"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        problem = str(error)
    if problem:
        raise SettingsError(
            f"--model_dir={model_dir}: {path} does not read as a JSON mapping of flag names to "
            f"values ({problem}); restore it to resume with the settings check, or remove it "
            "to resume without (this run then records its own)."
        )
    changes = changed_on_resume(saved, settings)
    if changes:
        listed = "; ".join(
            f"--{name}: saved {_flag_value(before)}, now {_flag_value(after)}"
            for name, before, after in changes
        )
        raise SettingsError(
            f"--model_dir={model_dir} holds a checkpoint of a different model or training job "
            f"(its settings are in {path}): {listed}. Resume with the saved values, or train "
            "into a new --model_dir. A resumed job may change only "
            + ", ".join(f"--{name}" for name in RESUMABLE_FLAGS) + "."
        )


def _flag_value(value):
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def record_settings(dirs, settings):
    """Records `settings` in `--model_dir`'s `settings.json` (the chief alone), whole or not at all.

    Human-readable JSON, one setting a line, written to a temporary file renamed over the
    record (through `tf.io.gfile`, so on `gs://` too): a job killed while writing leaves the
    record before. Each run records its own settings, after `check_resumed_settings` let it
    resume: what may change on resume (`--train_steps`, ...) is the latest run's.

    Args:
        dirs: the job's `OutputDirs`.
        settings: the job's settings.
    """
    if not dirs.model_dir or not dirs.chief:
        return
    tf.io.gfile.makedirs(dirs.model_dir)
    text = json.dumps(settings_record(settings), indent=1) + "\n"
    write_atomically(os.path.join(dirs.model_dir, SETTINGS_FILE), text)


def check_same_model(dirs, model):
    """Refuses to resume from a checkpoint of a differently shaped model.

    The first run records the shapes of `model`'s variables in
    `model_dir/model_variables.json`; a later run with a checkpoint to resume
    from must build variables of the same shapes, in the same order (names
    may differ between processes, shapes may not).

    Raises:
        SettingsError: naming `--model_dir` and the first variable that differs.
    """
    if not dirs.model_dir:
        return
    path = os.path.join(dirs.model_dir, "model_variables.json")
    variables = [[variable.path, list(variable.shape)] for variable in model.weights]
    if dirs.has_checkpoint() and tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as file:
            recorded = json.load(file)
        difference = _first_difference(recorded, variables)
        if difference:
            raise SettingsError(
                f"--model_dir={dirs.model_dir} holds a checkpoint of a different model "
                f"({difference}); resume with the model flags it was trained with, or "
                "train into a new --model_dir."
            )
    elif dirs.chief:
        tf.io.gfile.makedirs(dirs.model_dir)
        write_atomically(path, json.dumps(variables, indent=1))


def _first_difference(recorded, variables):
    for index, ((old_name, old_shape), (name, shape)) in enumerate(zip(recorded, variables)):
        if old_shape != shape:
            return (
                f"variable {index} has shape {old_shape} there ({old_name}) and "
                f"{shape} here ({name})"
            )
    if len(recorded) != len(variables):
        return f"{len(recorded)} variables there, {len(variables)} here"
    return None


def write_atomically(path, text):
    """Writes `text` to `path` whole or not at all: a temporary file renamed over it.

    A job killed while writing must not leave a torn file for every restart to fail on.
    """
    temporary = f"{path}.tmp"
    with tf.io.gfile.GFile(temporary, "w") as file:
        file.write(text)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def checkpoints_newest_first(directory):
    """The checkpoint prefixes in `directory`, newest (highest step) first.

    The ones the `checkpoint` file lists; every `ckpt-<step>.index` in the
    directory if that file is unreadable; none without it (TensorFlow writes
    it after a checkpoint's own files: without it no save finished, and
    files there are what a job killed in its first save left).
    """
    if not tf.io.gfile.exists(os.path.join(directory, "checkpoint")):
        return []
    state = tf.train.get_checkpoint_state(directory)  # None if unreadable.
    if state and state.all_model_checkpoint_paths:
        paths = [os.path.join(directory, path) for path in state.all_model_checkpoint_paths]
    else:
        indexes = tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index"))
        paths = [index.removesuffix(".index") for index in indexes]
    return sorted(paths, key=_checkpoint_step, reverse=True)


def _checkpoint_step(path):
    match = re.search(r"-(\d+)$", path)
    return int(match.group(1)) if match else -1


class CheckpointManager(tf.train.CheckpointManager):
    """A `tf.train.CheckpointManager` that restores the newest checkpoint that reads back whole,
    and saves periodic checkpoints at the steps that cross multiples of the interval.

    It saves into `directory` (a non-chief worker's own) and restores from
    `restore_from` (the chief's). `tf.train.CheckpointManager` restores only
    the latest checkpoint, and a damaged one would fail every restart;
    this one logs it and tries the one before. It restores once: the
    preemption handler and Orbit's controller each ask it to again.

    `save(check_interval=True)` saves once the step has reached the next
    multiple of `checkpoint_interval` since the last save or restore.
    TensorFlow's own manager counts the interval from the last save instead,
    so its first save comes at the first host loop, and a save that came
    late puts off every later one: under `mixed_float16` a step whose
    gradients overflow does not count, and the step at the end of a host
    loop need not be a multiple.

    Args:
        checkpoint: the `tf.train.Checkpoint` to save and restore.
        directory: str, where to save.
        restore_from: str, where to restore from.
        step_counter: the integer `tf.Variable` of the training step, with
            `checkpoint_interval`.
        checkpoint_interval: int, steps between periodic checkpoints, or None
            (every `save` saves).
        **kwargs: the other arguments of `tf.train.CheckpointManager`.
    """

    def __init__(self, checkpoint, directory, restore_from, step_counter=None,
                 checkpoint_interval=None, **kwargs):
        super().__init__(
            checkpoint, directory, step_counter=step_counter,
            checkpoint_interval=checkpoint_interval, **kwargs
        )
        self.restore_from = restore_from
        self.step_counter = step_counter
        self._restored = None
        self._last_step = 0  # Of the last save or restore.

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """Saves a checkpoint, with `check_interval` only if the step has crossed a multiple of
        `checkpoint_interval` since the last save or restore; returns its path, or None."""
        interval = self.checkpoint_interval
        if interval is not None:
            step = int(self.step_counter.numpy())
            if check_interval and step // interval <= self._last_step // interval:
                return None
            self._last_step = step
        return super().save(checkpoint_number, check_interval=False, options=options)

    def restore_or_initialize(self):
        """Restores the newest readable checkpoint of `restore_from`; returns its path, or None.

        Raises:
            SettingsError: there are checkpoints, and none reads back. Training
                from scratch would soon delete them.
        """
        if self._restored is None:
            self._restored = (self._restore_newest_readable(),)
            if self.step_counter is not None:
                self._last_step = int(self.step_counter.numpy())
        return self._restored[0]

    def _restore_newest_readable(self):
        # Objects added to the checkpoint later (the preemption handler's run
        # counter) are restored when added: TensorFlow defers their restore.
        paths = checkpoints_newest_first(self.restore_from)
        for path in paths:
            try:
                self.checkpoint.restore(path)
            # A damaged file fails in more ways than OpError: a short read is an IndexError.
            except (tf.errors.OpError, ValueError, IndexError, DecodeError) as error:
                logging.warning("Checkpoint %s cannot be restored: %s", path, error)
                print(f"Skipped the unreadable checkpoint {path}.", flush=True)
                continue
            return path
        if paths:
            raise SettingsError(
                f"No checkpoint in {self.restore_from} can be restored (the log names each "
                "one's error); move them away to train from scratch."
            )
        return None


def preemption_checkpointing(dirs, model, checkpoint_every):
    """Both loops' checkpoint manager and preemption handler; restores the latest state.

    Restores, on every worker, the model and the optimizer (and with it the
    step counter) from the chief's newest readable checkpoint. The returned
    manager saves into this worker's own directory; the loops save through
    it after the first host loop past each multiple of `checkpoint_every`
    steps (`CheckpointManager.save`) and at the end. The handler saves
    through the same manager when any worker receives SIGTERM, at a step all
    workers agree on (the loops ask it after every host loop of steps), and
    then exits the process with `PREEMPTED_EXIT_CODE` so that the cluster
    scheduler restarts it.

    Args:
        dirs: the job's `OutputDirs`, with a `model_dir`.
        model: the compiled Keras model, built under the job's strategy.
        checkpoint_every: int, steps between periodic checkpoints.

    Returns:
        `(checkpoint_manager, preemption_handler)`.
    """
    global_step = model.optimizer.iterations.value
    checkpoint = tf.train.Checkpoint(
        model=model,
        optimizer=model.optimizer,
        # TensorFlow's tracking does not reach every Keras variable through the
        # model (not the blocks of a list; the optimizer saves those), nor the
        # dropout layers' random seed states, without which a resumed job
        # draws other dropout masks than an uninterrupted one.
        variables=model.variables,
    )
    manager = CheckpointManager(
        checkpoint,
        dirs.checkpoint_writes,
        restore_from=dirs.checkpoints,
        max_to_keep=MAX_CHECKPOINTS_KEPT,
        step_counter=global_step,
        checkpoint_interval=checkpoint_every,
    )
    # The handler restores through the manager too, but not on every platform (not on GCE CPU VMs).
    with model.distribute_strategy.scope():
        manager.restore_or_initialize()

    def save_before_preemption():
        path = manager.save(checkpoint_number=global_step.numpy(), check_interval=False)
        print(f"Preempted: saved {path} at step {global_step.numpy()}; exiting.", flush=True)

    handler = tf.distribute.experimental.PreemptionCheckpointHandler(
        getattr(model.distribute_strategy, "cluster_resolver", None),
        manager,
        termination_config=tf.distribute.experimental.TerminationConfig(
            exit_fn=lambda: sys.exit(PREEMPTED_EXIT_CODE), save_fn=save_before_preemption
        ),
    )
    return manager, handler


class FitCheckpoints(keras.callbacks.Callback):
    """Saves the fit loop's checkpoints: every checkpoint interval, at the end, and on SIGTERM.

    The fit loop's counterpart of what Orbit's controller does for the
    custom loop, with the same manager and preemption handler
    (`preemption_checkpointing`): after each host loop it saves if the step
    has crossed a multiple of the manager's `checkpoint_interval`, and it
    saves when `fit` ends at the last step. Not
    `keras.callbacks.BackupAndRestore`: Keras 3 resumes `fit` at the start
    of the epoch a backup was taken in, so a backup taken on SIGTERM in the
    middle of an epoch would repeat steps; and it writes the weights and
    then `training_metadata.json` in place, so a job killed between the two
    resumes weights of one step with the count of another, and one killed
    while writing the JSON fails every restart.

    Args:
        manager: the `CheckpointManager` from `preemption_checkpointing`.
        handler: the `PreemptionCheckpointHandler` from `preemption_checkpointing`.
        total_steps: int, the job's last step.
    """

    def __init__(self, manager, handler, total_steps):
        super().__init__()
        self.manager = manager
        self.handler = handler
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        # Called once per `steps_per_execution` steps: a host loop.
        self.manager.save(checkpoint_number=int(self.model.optimizer.iterations.numpy()))
        self.handler.save_checkpoint_if_preempted()

    def on_train_end(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step >= self.total_steps:
            self.manager.save(checkpoint_number=step, check_interval=False)
