"""The `model.fit` loop: Keras epochs of one checkpoint interval, resumed at the step it saved."""

import keras
import tensorflow as tf

from keras_simpletf.models.fine_tuning import averages_weights
from trainers import inputs
from trainers.checkpointing import FitCheckpoints, preemption_checkpointing


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


class _LastWeights(keras.callbacks.Callback):
    """The model's weights after the last epoch of a `fit`, before `fit` ends by writing
    the optimizer's moving average of them into the model (`use_ema`)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.params["epochs"]:
            self.weights = self.model.get_weights()


def train_with_fit(model, task, plan, dirs, settings):
    """Trains `model` to `plan.total_steps` with `model.fit`, resuming from `dirs` if it can.

    Keras itself distributes the dataset over the replicas of the strategy
    the model was built under. A Keras epoch is `plan.checkpoint_every`
    steps: with a `--model_dir`, a checkpoint is saved at the end of each,
    and on SIGTERM at the end of the host loop under way
    (`trainers.checkpointing.FitCheckpoints`). A restarted job resumes at the
    step it saved, on the batches that follow the ones already trained on:
    after a save in the middle of an epoch, it first trains the rest of that
    epoch. TensorBoard summaries go to the model_dir too. With an optimizer
    that averages the weights (`--ema_momentum`, the translation default) the
    model ends on the average, and validation reads it.

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
        manager, preemption = preemption_checkpointing(dirs, model, plan.checkpoint_every)
        callbacks = [
            FitCheckpoints(manager, preemption, plan.checkpoint_every),
            keras.callbacks.TensorBoard(dirs.summaries),
        ]
    if averages_weights(model.optimizer):
        # Validation reads the average the job ends on; checkpoints keep the weights.
        callbacks.append(keras.callbacks.SwapEMAWeights())
    start_step = int(model.optimizer.iterations.numpy())
    print(f"model.fit: from step {start_step} to {plan.total_steps}.", flush=True)
    evaluation = None
    if task.eval_examples is not None:
        evaluation = inputs.evaluation_batches(task, settings.batch_size)
    validation_freq = plan.eval_every // plan.checkpoint_every
    losses, history = [], None
    epoch, steps_into_epoch = divmod(start_step, plan.checkpoint_every)
    while epoch < plan.fit_epochs:
        last_weights = _LastWeights()
        history = model.fit(
            inputs.training_batches(task, settings.batch_size, settings.seed, start_step),
            initial_epoch=epoch,
            # The rest of a partly trained epoch alone, then all the others.
            epochs=epoch + 1 if steps_into_epoch else plan.fit_epochs,
            steps_per_epoch=plan.checkpoint_every - steps_into_epoch,
            validation_data=evaluation,
            validation_freq=validation_freq,
            callbacks=[*callbacks, last_weights],
            shuffle=False,  # The input shuffles itself; this only tells Keras not to warn.
            verbose=1,
        )
        losses += [
            ((index + 1) * plan.checkpoint_every, float(loss))
            for index, loss in zip(history.epoch, history.history.get("loss", []))
        ]
        epoch = history.epoch[-1] + 1
        start_step, steps_into_epoch = epoch * plan.checkpoint_every, 0
        if epoch < plan.fit_epochs:
            # fit ends on the weights' moving average, if any; training goes on from the weights.
            model.set_weights(last_weights.weights)
    # fit did this if it trained; a job resumed at its last step has to.
    model.optimizer.finalize_variable_values(model.trainable_variables)
    if evaluation is None:
        return {}, losses
    if history is not None and plan.fit_epochs % validation_freq == 0:
        # fit validated after the last step: evaluating again would repeat the same pass.
        results = {
            name.removeprefix("val_"): values[-1]
            for name, values in history.history.items()
            if name.startswith("val_")
        }
    else:  # Resumed with nothing left to train, or the last epoch was not validated.
        results = model.evaluate(evaluation, return_dict=True, verbose=0)
    return {name: float(value) for name, value in results.items()}, losses
