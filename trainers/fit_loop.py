"""The `model.fit` loop: Keras epochs of one checkpoint interval, resumed at the step it saved."""

import math

import keras
import tensorflow as tf

from keras_simpletf.models.fine_tuning import averages_weights
from trainers import inputs
from trainers.checkpointing import FitCheckpoints, preemption_checkpointing


# The fewest batches in a row without an optimizer step that stop the job (see `StallGuard`).
MIN_STALLED_BATCHES = 32


class TrainingStalled(RuntimeError):
    """Host loops ran batches and the optimizer applied none of them."""


class StallGuard:
    """Stops a job whose optimizer no longer applies any step.

    Under `mixed_float16` (the loops use it only there) a `LossScaleOptimizer` skips a step
    whose gradients are not finite and halves its loss scale; `optimizer.iterations` does not
    advance, so both loops run more batches until it reaches the last step. Once every gradient is NaN (the weights are, or
    the loss diverged) no step is ever applied again and the job would loop forever. This
    counts the batches run since the step last advanced, a host loop at a time, and raises
    `TrainingStalled` once a whole host loop, and at least `MIN_STALLED_BATCHES` batches (32
    halvings of the scale, past any overflow a finite model has), advanced nothing. The
    checkpoints already saved are kept: a step that does not advance saves none.

    Args:
        optimizer: the job's optimizer.
        steps_per_loop: int, the batches of a host loop.
    """

    def __init__(self, optimizer, steps_per_loop):
        self.optimizer = optimizer
        self.limit = max(steps_per_loop, MIN_STALLED_BATCHES)
        self.step = int(optimizer.iterations.numpy())
        self.stalled = 0

    def after_host_loop(self, batches):
        """Call after each host loop of `batches` batches; raises `TrainingStalled`."""
        step = int(self.optimizer.iterations.numpy())
        if step != self.step:
            self.step, self.stalled = step, 0
            return
        self.stalled += batches
        if self.stalled >= self.limit:
            scale = getattr(self.optimizer, "dynamic_scale", None)
            at_scale = "" if scale is None else f" (loss scale now {float(scale.numpy()):g})"
            raise TrainingStalled(
                f"Training stalled at step {step}: the optimizer skipped each of the last "
                f"{self.stalled} batches, their gradients not finite{at_scale}; the weights or "
                "the loss have become NaN or infinite. Stopped rather than loop forever; the "
                "checkpoints saved so far are kept. Lower --learning_rate, or train with "
                "--mixed_precision=mixed_bfloat16 or float32."
            )


class _StallCheck(keras.callbacks.Callback):
    """Runs a `StallGuard` after each host loop (`steps_per_execution` batches) of `fit`."""

    def __init__(self, guard):
        super().__init__()
        self.guard = guard

    def on_train_batch_end(self, batch, logs=None):
        self.guard.after_host_loop(self.model.steps_per_execution)


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


def _run_steps_per_execution(model, steps):
    """Makes `model.fit` run `steps` steps per execution from its next call on.

    Keras traces the count into its train and test functions, so they are made again.
    """
    if model.steps_per_execution != steps:
        model.steps_per_execution = steps
        model.make_train_function(force=True)
        model.make_test_function(force=True)


class _EpochEnds(keras.callbacks.Callback):
    """The step and training loss at the end of each epoch of a `fit`, and the model's weights
    after its last epoch, before `fit` ends by writing the optimizer's moving average of them
    into the model (`use_ema`).

    Attributes:
        losses: `(step, loss)` of each epoch; the step is the optimizer's, which
            skipped batches do not count.
        weights: the weights after the last epoch.
    """

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_end(self, epoch, logs=None):
        if "loss" in (logs or {}):
            self.losses.append((int(self.model.optimizer.iterations.numpy()), float(logs["loss"])))
        if epoch + 1 == self.params["epochs"]:
            self.weights = self.model.get_weights()


def train_with_fit(model, task, plan, dirs, settings):
    """Trains `model` to `plan.total_steps` with `model.fit`, resuming from `dirs` if it can.

    Keras itself distributes the dataset over the replicas of the strategy
    the model was built under. A Keras epoch is `plan.checkpoint_every`
    steps, the last one shorter when the training length is not a whole
    number of them. With a `--model_dir`, a checkpoint is saved after the
    first host loop past each multiple of `plan.checkpoint_every` steps, at
    the end, and on SIGTERM at the end of the host loop under way
    (`trainers.checkpointing.FitCheckpoints`). `fit` counts batches and the
    job optimizer steps (`optimizer.iterations`), which a batch does not
    advance when `mixed_float16` skips it for overflowing gradients; so
    `fit` runs again from the step reached, on the batches that follow,
    until `plan.total_steps`, each time with the most steps per execution
    (up to `steps_per_loop`) that divide its epoch. A restarted job resumes
    at the step it saved, on the batches that follow the ones already
    trained on: after a save in the middle of an epoch, it first trains the
    rest of that epoch. TensorBoard summaries go to the model_dir too. With
    an optimizer that averages the weights (`--ema_momentum`, the
    translation default) the model ends on the average, and validation
    reads it.

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

    Raises:
        TrainingStalled: the optimizer stopped applying steps (`StallGuard`).
    """
    callbacks = []
    if dirs.model_dir:
        manager, preemption = preemption_checkpointing(dirs, model, plan.checkpoint_every)
        callbacks = [
            FitCheckpoints(manager, preemption, plan.total_steps),
            keras.callbacks.TensorBoard(dirs.summaries),
        ]
    if averages_weights(model.optimizer):
        # Validation reads the average the job ends on; checkpoints keep the weights.
        callbacks.append(keras.callbacks.SwapEMAWeights())
    step = int(model.optimizer.iterations.numpy())
    print(f"model.fit: from step {step} to {plan.total_steps}.", flush=True)
    evaluation = None
    if task.eval_examples is not None:
        evaluation = inputs.evaluation_batches(task, settings.batch_size)
    # Epochs between validations; an evaluation interval of the whole job validates its end alone.
    validation_freq = -(-plan.eval_every // plan.checkpoint_every)
    steps_per_execution = model.steps_per_execution
    if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        # Only loss scaling skips steps. Before the checkpoint callback, so that a stalled host
        # loop saves nothing more.
        callbacks.insert(0, _StallCheck(StallGuard(model.optimizer, steps_per_execution)))
    losses, history, batch = [], None, step
    while step < plan.total_steps:
        epoch, steps_into_epoch = divmod(step, plan.checkpoint_every)
        steps_left = plan.total_steps - step
        if steps_into_epoch or steps_left < plan.checkpoint_every:
            # The rest of a partly trained epoch, or a last shorter one, alone.
            epochs = epoch + 1
            steps_per_epoch = min(plan.checkpoint_every - steps_into_epoch, steps_left)
        else:
            epochs = epoch + steps_left // plan.checkpoint_every
            steps_per_epoch = plan.checkpoint_every
        _run_steps_per_execution(model, math.gcd(steps_per_execution, steps_per_epoch))
        epoch_ends = _EpochEnds()
        history = model.fit(
            inputs.training_batches(task, settings.batch_size, settings.seed, batch),
            initial_epoch=epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=evaluation,
            validation_freq=validation_freq,
            callbacks=[*callbacks, epoch_ends],
            shuffle=False,  # The input shuffles itself; this only tells Keras not to warn.
            verbose=1,
        )
        losses += epoch_ends.losses
        batch += (epochs - epoch) * steps_per_epoch
        step = int(model.optimizer.iterations.numpy())
        if step < plan.total_steps:
            # fit ends on the weights' moving average, if any; training goes on from the weights.
            model.set_weights(epoch_ends.weights)
    # fit did this if it trained; a job resumed at its last step has to.
    model.optimizer.finalize_variable_values(model.trainable_variables)
    if evaluation is None:
        return {}, losses
    if history is not None and epochs % validation_freq == 0:
        # fit validated after the last step: evaluating again would repeat the same pass.
        results = {
            name.removeprefix("val_"): values[-1]
            for name, values in history.history.items()
            if name.startswith("val_")
        }
    else:  # Resumed with nothing left to train, or the last epoch was not validated.
        results = model.evaluate(evaluation, return_dict=True, verbose=0)
    return {name: float(value) for name, value in results.items()}, losses
