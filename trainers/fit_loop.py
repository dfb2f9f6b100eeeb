"""The `model.fit` loop: Keras epochs of one checkpoint interval, resumed with BackupAndRestore."""

import keras
import tensorflow as tf

from trainers import inputs
from trainers.checkpointing import fit_backup_callback, restore_fit_backup


def steps_per_execution(strategy, plan):
    """`plan.steps_per_loop`, or 1 where Keras 3 cannot run more per execution.

    Keras 3's fit fails under a `MirroredStrategy` of several replicas with
    `steps_per_execution > 1` ("You must feed a value for placeholder
    tensor", keras-team/keras#19246).
    """
    several_mirrored = (
        isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync > 1
    )
    return 1 if several_mirrored else plan.steps_per_loop


def train_with_fit(model, task, plan, dirs, settings):
    """Trains `model` to `plan.total_steps` with `model.fit`, resuming from `dirs` if it can.

    Keras itself distributes the dataset over the replicas of the strategy
    the model was built under. A Keras epoch is `plan.checkpoint_every`
    steps: with a `--model_dir`, `BackupAndRestore` saves at the end of each
    and a restarted job resumes at the next, on the batches that follow the
    ones already trained on. TensorBoard summaries go to the model_dir too.

    Args:
        model: the compiled model, built under the job's strategy (not a
            multi-worker one).
        task: the `trainers.tasks` task (examples).
        plan: the `trainers.config.StepPlan`.
        dirs: the `trainers.checkpointing.OutputDirs`.
        settings: the job's settings (batch size, seed).

    Returns:
        `(evaluation, losses)`: the final evaluation results (a dict of
        floats; `{}` without evaluation data) and the training loss of each
        Keras epoch this run trained, as `(step, loss)` pairs.
    """
    callbacks = []
    if dirs.model_dir:
        backup = fit_backup_callback(dirs)
        restore_fit_backup(backup, model)
        callbacks = [backup, keras.callbacks.TensorBoard(dirs.summaries)]
    start_step = int(model.optimizer.iterations.numpy())
    if start_step:
        print(f"Resuming model.fit at step {start_step} from {dirs.backup}.", flush=True)
    evaluation = None
    if task.eval_examples is not None:
        evaluation = inputs.evaluation_batches(task, settings.batch_size)
    history = model.fit(
        inputs.training_batches(task, settings.batch_size, settings.seed, start_step),
        epochs=plan.fit_epochs,
        steps_per_epoch=plan.checkpoint_every,
        validation_data=evaluation,
        validation_freq=plan.eval_every // plan.checkpoint_every,
        callbacks=callbacks,
        shuffle=False,  # The input shuffles itself; this only tells Keras not to warn.
        verbose=1,
    )
    losses = [
        ((epoch + 1) * plan.checkpoint_every, float(loss))
        for epoch, loss in zip(history.epoch, history.history.get("loss", []))
    ]
    if evaluation is None:
        return {}, losses
    if history.epoch and history.epoch[-1] + 1 == plan.fit_epochs and "val_loss" in history.history:
        # fit validated after the last step: evaluating again would repeat the same pass.
        results = {
            name.removeprefix("val_"): values[-1]
            for name, values in history.history.items()
            if name.startswith("val_")
        }
    else:  # Resumed with nothing left to train, or the last epoch was not validated.
        results = model.evaluate(evaluation, return_dict=True, verbose=0)
    return {name: float(value) for name, value in results.items()}, losses
