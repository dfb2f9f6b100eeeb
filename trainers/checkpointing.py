"""Checkpoints and where each worker writes.

Layout of `--model_dir`:

    model_dir/
      model_variables.json    the variables' names and shapes, to refuse a different model
      checkpoints/            custom loop: tf.train.CheckpointManager checkpoints (chief)
      backup/                 fit loop: keras.callbacks.BackupAndRestore state
      summaries/              TensorBoard: train/ and eval/ (or validation/)
      workertemp_<task id>/   a non-chief worker's own writes, removed when it finishes

Every worker of a multi-worker job must save (saving can take part in
collective ops), but only the chief's files are kept: the others write into
their `workertemp_<task id>` directory, TensorFlow's own convention, and every
worker restores from the chief's checkpoints.
"""

import json
import os
import tempfile

import keras
import tensorflow as tf

from trainers.config import SettingsError
from trainers.strategy import is_chief, task_id

MAX_CHECKPOINTS_KEPT = 3


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
        backup: the fit loop's `BackupAndRestore` directory.
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
        self.backup = model_dir and os.path.join(model_dir, "backup")
        self.summaries = os.path.join(model_dir, "summaries") if model_dir and self.chief else None
        self.export = export_dir if self.chief else export_dir and os.path.join(own, "export")

    def has_checkpoint(self):
        """Whether `model_dir` holds a checkpoint of either loop to resume from."""
        if not self.model_dir:
            return False
        return bool(tf.train.latest_checkpoint(self.checkpoints)) or tf.io.gfile.exists(
            os.path.join(self.backup, "training_metadata.json")
        )

    def clean_up(self):
        """Removes this worker's scratch directory (non-chief workers only)."""
        if self._scratch and tf.io.gfile.exists(self._scratch):
            tf.io.gfile.rmtree(self._scratch)


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
        with tf.io.gfile.GFile(path, "w") as file:
            json.dump(variables, file, indent=1)


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


def restore_fit_backup(backup, model):
    """Restores the fit loop's `BackupAndRestore` state now, before `fit` does.

    The input pipeline needs the restored step count to skip the batches
    already trained on, and `fit` builds its input before its callbacks run.
    `fit` restores the same state again when it starts (a cheap re-read).
    """
    backup.set_model(model)
    backup.on_train_begin()


def custom_loop_checkpointing(dirs, strategy, model, global_step, checkpoint_every):
    """The custom loop's checkpoint manager and preemption handler; restores the latest state.

    Creating the handler restores, on every worker, the model and the
    optimizer (and with it the step counter) from the chief's latest
    checkpoint. The returned manager saves
    into this worker's own directory every `checkpoint_every` steps (the
    Orbit controller drives it); the handler saves through the same manager
    when any worker receives SIGTERM, at a step all workers agree on, and
    then exits the process so that the cluster scheduler restarts it.

    Returns:
        `(checkpoint_manager, preemption_handler)`.
    """
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(
        checkpoint,
        dirs.checkpoint_writes,
        max_to_keep=MAX_CHECKPOINTS_KEPT,
        step_counter=global_step,
        checkpoint_interval=checkpoint_every,
    )

    def save_before_preemption():
        path = manager.save(checkpoint_number=global_step.numpy(), check_interval=False)
        print(f"Preempted: saved {path} at step {global_step.numpy()}; exiting.", flush=True)

    handler = tf.distribute.experimental.PreemptionCheckpointHandler(
        getattr(strategy, "cluster_resolver", None),
        checkpoint,
        checkpoint_dir=dirs.checkpoints,
        termination_config=tf.distribute.experimental.TerminationConfig(
            save_fn=save_before_preemption
        ),
    )
    return manager, handler


def fit_backup_callback(dirs):
    """`keras.callbacks.BackupAndRestore` saving at the end of every Keras epoch.

    A Keras 3 `fit` resumes at the start of the epoch the backup was taken
    in, so saving in the middle of an epoch (`save_freq=N` steps) would
    repeat steps on resume; the fit loop makes an epoch one checkpoint
    interval long instead. The previous backup is kept as well, for a job
    killed while saving; the last one stays when training ends, so a
    finished job run again has nothing left to train, as with the custom loop.
    """
    return keras.callbacks.BackupAndRestore(
        dirs.backup, save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
    )
