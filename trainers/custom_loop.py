"""The custom training loop: a `tf.function` train step under `strategy.run`, driven by Orbit.

It trains the same compiled Keras model on the same input pipeline as
`model.fit`, and computes the same thing: the model's compiled loss, which
Keras scales inside each replica by `1 / num_replicas_in_sync` so that the
sum the gradient all-reduce forms is the mean over the global batch; the
optimizer's `scale_loss` (a `LossScaleOptimizer` under `mixed_float16`); and
`apply_gradients`. Unlike `fit` it also runs under
`MultiWorkerMirroredStrategy`.

Orbit's `Controller` counts steps with the optimizer's `iterations`, saves
checkpoints through a `tf.train.CheckpointManager` every N steps and at the
end, writes TensorBoard summaries and interleaves evaluation.
"""

import keras
import orbit
import tensorflow as tf

from keras_simpletf.models.fine_tuning import averages_weights
from trainers import inputs
from trainers.checkpointing import preemption_checkpointing
from trainers.fit_loop import StallGuard
from trainers.progress import ProgressLine


class Trainer(orbit.StandardTrainer):
    """Trains `model` (compiled) on a distributed dataset, one global batch per step.

    Args:
        strategy: the `tf.distribute.Strategy` the model was built under.
        model: a compiled Keras model; its loss and optimizer are used.
        train_dataset: a distributed dataset of `(features, labels)`.
    """

    def __init__(self, strategy, model, train_dataset):
        self.strategy = strategy
        self.model = model
        with strategy.scope():
            self.train_loss = keras.metrics.Mean(name="loss")
            # What each replica's share of a global batch measured at run time.
            self.replica_batch_size = keras.metrics.Mean(name="replica_batch_size")
        super().__init__(train_dataset, orbit.StandardTrainerOptions(use_tf_while_loop=True))

    def train(self, num_steps):
        # Eager: Orbit's controller passes the host loop's batch count as a tensor.
        self.batches_last_loop = int(num_steps)
        return super().train(num_steps)

    def train_loop_begin(self):
        self.train_loss.reset_state()
        self.replica_batch_size.reset_state()

    def train_step(self, iterator):
        self.strategy.run(self._replica_step, args=(next(iterator),))

    def _replica_step(self, batch):
        features, labels = batch
        model, optimizer = self.model, self.model.optimizer
        with tf.GradientTape() as tape:
            predictions = model(features, training=True)
            loss = model.compute_loss(x=features, y=labels, y_pred=predictions, training=True)
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        self.train_loss.update_state(*_replica_loss_and_weight(loss, labels))
        self.replica_batch_size.update_state(tf.shape(labels)[0])

    def train_loop_end(self):
        return {
            "loss": self.train_loss.result(),
            "learning_rate": self.model.optimizer.learning_rate,
            "replica_batch_size": self.replica_batch_size.result(),
        }


class Evaluator(orbit.StandardEvaluator):
    """Evaluates `model` on a distributed dataset of `(features, labels, weights)`.

    Args:
        strategy: the `tf.distribute.Strategy` the model was built under.
        model: a compiled Keras model; its loss is reported as `"loss"`.
        eval_dataset: a distributed dataset; weight-0 examples are padding.
        metrics: Keras metrics to report, built under `strategy`'s scope here.
    """

    def __init__(self, strategy, model, eval_dataset, metrics):
        self.strategy = strategy
        self.model = model
        with strategy.scope():
            self.eval_loss = keras.metrics.Mean(name="loss")
            self.metrics = metrics()
        self.average_weights = None
        if averages_weights(model.optimizer):
            # Evaluates the moving average the job ends on, as `fit` does with this callback.
            self.average_weights = keras.callbacks.SwapEMAWeights()
            self.average_weights.set_model(model)
        super().__init__(eval_dataset)

    def eval_begin(self):
        if self.average_weights:
            self.average_weights.on_test_begin()
        for metric in (self.eval_loss, *self.metrics):
            metric.reset_state()

    def eval_step(self, iterator):
        self.strategy.run(self._replica_step, args=(next(iterator),))

    def _replica_step(self, batch):
        features, labels, weights = batch
        predictions = self.model(features, training=False)
        loss = self.model.compute_loss(
            x=features, y=labels, y_pred=predictions, sample_weight=weights, training=False
        )
        self.eval_loss.update_state(*_replica_loss_and_weight(loss, labels))
        for metric in self.metrics:
            metric.update_state(labels, predictions, sample_weight=weights)

    def eval_end(self):
        if self.average_weights:
            self.average_weights.on_test_end()
        return {metric.name: metric.result() for metric in (self.eval_loss, *self.metrics)}


def _replica_loss_and_weight(loss, labels):
    """This replica's loss, unscaled, and its batch size to weight it by.

    The compiled loss comes scaled by `1 / num_replicas_in_sync` (see the
    module docstring); the reported loss is the plain mean, averaged over
    batches as Keras's own loss tracker does, so both loops report the same.
    """
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    return loss * replicas, tf.shape(labels)[0]


def train_with_orbit(model, task, plan, dirs, settings):
    """Trains `model` to `plan.total_steps` with Orbit, resuming from `dirs` if it can.

    Args:
        model: the compiled model, built under the job's strategy
            (`model.distribute_strategy`).
        task: the `trainers.tasks` task (examples, metrics).
        plan: the `trainers.config.StepPlan`.
        dirs: the `trainers.checkpointing.OutputDirs` of this worker.
        settings: the job's settings (batch size, seed).

    Returns:
        `(evaluation, losses)`: the final evaluation results (a dict of
        floats; `{}` without evaluation data) and the training loss of each
        host loop this run trained, as `(step, loss)` pairs.

    Raises:
        trainers.fit_loop.TrainingStalled: the optimizer stopped applying steps
            (`trainers.fit_loop.StallGuard`).
    """
    strategy = model.distribute_strategy
    global_step = model.optimizer.iterations.value
    manager = None
    if dirs.model_dir:
        manager, preemption = preemption_checkpointing(dirs, model, plan.checkpoint_every)
    # After the restore: the input starts after the batches the restored steps consumed,
    # and the first progress line measures the speed from the restored step.
    start_step = int(global_step.numpy())
    train_dataset = strategy.experimental_distribute_dataset(
        inputs.training_batches(task, settings.batch_size, settings.seed, start_step)
    )
    losses = []
    trainer = Trainer(strategy, model, train_dataset)
    actions = [
        ProgressLine(global_step, plan.total_steps, settings.batch_size),
        lambda output: losses.append((int(global_step.numpy()), float(output["loss"]))),
    ]
    if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        # Only loss scaling skips steps. First: a stalled host loop saves no checkpoint (Orbit
        # saves after the actions).
        guard = StallGuard(model.optimizer, plan.steps_per_loop)
        actions.insert(0, lambda output: guard.after_host_loop(trainer.batches_last_loop))
    if dirs.model_dir:
        actions.append(lambda output: preemption.save_checkpoint_if_preempted())
    print(f"Custom loop: from step {start_step} to {plan.total_steps}.", flush=True)
    evaluator = None
    if task.eval_examples is not None:
        evaluator = Evaluator(
            strategy,
            model,
            strategy.experimental_distribute_dataset(
                inputs.evaluation_batches(task, settings.batch_size)
            ),
            task.metrics,
        )
    controller = orbit.Controller(
        strategy=strategy,
        trainer=trainer,
        evaluator=evaluator,
        global_step=global_step,
        steps_per_loop=plan.steps_per_loop,
        checkpoint_manager=manager,
        summary_dir=dirs.summaries and f"{dirs.summaries}/train",
        eval_summary_dir=dirs.summaries and f"{dirs.summaries}/eval",
        train_actions=actions,
    )
    evaluation = {}
    if evaluator is None:
        controller.train(plan.total_steps)
    else:
        # A fixed number of evaluation steps rather than "until the data runs out":
        # every worker then runs the same steps, and no step starts on an exhausted iterator.
        eval_steps = inputs.evaluation_steps(task, settings.batch_size)
        results = controller.train_and_evaluate(
            train_steps=plan.total_steps, eval_steps=eval_steps, eval_interval=plan.eval_every
        )
        if results is None:  # Restored at the last step: nothing was left to train.
            results = controller.evaluate(steps=eval_steps)
        evaluation = {
            metric.name: float(results[metric.name])
            for metric in (evaluator.eval_loss, *evaluator.metrics)
        }
    # The weights' moving average, if the optimizer keeps one: what the evaluation read.
    model.optimizer.finalize_variable_values(model.trainable_variables)
    return evaluation, losses
