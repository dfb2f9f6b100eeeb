"""Server-side batching (`--enable_batching`): TF Serving's BatchingSession on a shared batch scheduler.

Concurrent runs of the same signature of the same servable version, whose
inputs have the same dtypes and the same shapes after the 0th dimension, are
merged into one model call. A Session run that is no signature's (MultiInference
feeding several signatures' inputs and fetching their outputs together) is
batched the same way in a queue of its own, keyed by its feed and fetch tensor
names, as TF Serving's BatchingSession does with its default scheduler
creator:
- A task (one request's inputs) joins the open batch of its queue if that batch
  has room left for its rows (`max_batch_size`), otherwise it opens a new
  batch. When the queue already holds `max_enqueued_batches` batches the task is
  refused with UNAVAILABLE, `The batch scheduling queue to which this task was
  submitted is full`, as TensorFlow's batch scheduler refuses it.
- A batch runs on one of `num_batch_threads` threads as soon as it is full or
  closed by a newer batch, or once `batch_timeout_micros` have passed since it
  was opened and a thread is free.
- The merged inputs are padded up to the next of `allowed_batch_sizes` by
  repeating their first row; the outputs are cut back and split between the
  tasks in order.
- Every input needs a 0th dimension, all inputs of a task the same size in it,
  and a task may not exceed `max_batch_size` rows: INVALID_ARGUMENT otherwise,
  with TF Serving's messages.
- A task whose deadline passes while it waits is dropped with DEADLINE_EXCEEDED
  and taken out of its queue, so a queue only holds tasks someone waits for.
- There is one queue per signature and input layout (dtypes, shapes after the
  0th dimension), and at most `MAX_QUEUES` of them at a time: a task that would
  open one more is refused with UNAVAILABLE, as a full queue is, instead of
  letting clients that vary their shapes grow the scheduler without bound.
Unset parameters take TF Serving's defaults: 1000 rows, no timeout, 10
enqueued batches, one thread per core. As TF Serving's SharedBatchScheduler,
`max_enqueued_batches { value: 0 }` means 1 (unless large batches are split)
and a negative `batch_timeout_micros` is INVALID_ARGUMENT.

`pad_variable_length_inputs: true` is not supported: the server refuses to
start with UNIMPLEMENTED, where TF Serving pads each input's non-batch
dimensions to the largest in the batch.

`enable_large_batch_splitting` and `max_execution_batch_size` are read but not
honoured (a warning says so): a task is never split between batches, so a batch
holds up to `max_batch_size` rows, never fewer because of
`max_execution_batch_size`.
"""

import collections
import os
import threading
import time

import numpy as np
from absl import logging

from serving.model_server import errors

MAX_QUEUES = 64


def _value(parameters, field, default):
    return getattr(parameters, field).value if parameters.HasField(field) else default


def _batch_size(inputs):
    if not inputs:
        raise errors.invalid_argument("Batching Run() must have at least one input tensor")
    sizes = {}
    for name, array in inputs.items():
        if array.ndim == 0:
            raise errors.invalid_argument(
                f'Batching Run() input tensors must have at least one dimension; input "{name}" is a scalar'
            )
        sizes[name] = array.shape[0]
    if len(set(sizes.values())) > 1:
        raise errors.invalid_argument(
            "Batching Run() input tensors must have equal 0th-dimension size; got "
            + ", ".join(f"{name}: {size}" for name, size in sorted(sizes.items()))
        )
    return next(iter(sizes.values()))


class _Task:
    """One request's inputs waiting for their batch, and then its outputs or error."""

    def __init__(self, inputs, size, deadline):
        self.inputs = inputs
        self.size = size
        self.deadline = deadline
        self.batch = None  # the _Batch holding it while queued
        self.done = threading.Event()
        self.abandoned = False
        self.outputs = None
        self.error = None

    def finish(self, outputs=None, error=None):
        self.outputs = outputs
        self.error = error
        self.done.set()


class _Batch:
    def __init__(self):
        self.opened = time.monotonic()
        self.tasks = []
        self.size = 0


class Batcher:
    """Runs signatures of servables in merged batches.

    Args:
        parameters: a `BatchingParameters` message (see `configs`).
    """

    def __init__(self, parameters):
        if parameters.pad_variable_length_inputs:
            raise errors.unimplemented("pad_variable_length_inputs is not supported")
        self.max_batch_size = _value(parameters, "max_batch_size", 1000)
        batch_timeout_micros = _value(parameters, "batch_timeout_micros", 0)
        if batch_timeout_micros < 0:
            raise errors.invalid_argument(
                f"batch_timeout_micros must be non-negative; was {batch_timeout_micros}"
            )
        self.batch_timeout_seconds = batch_timeout_micros / 1e6
        self.max_enqueued_batches = _value(parameters, "max_enqueued_batches", 10)
        splitting = _value(parameters, "enable_large_batch_splitting", False)
        if splitting:
            logging.warning(
                "enable_large_batch_splitting is accepted but not honoured: a task is never "
                "split, and batches hold up to max_batch_size rows whatever "
                "max_execution_batch_size is."
            )
        elif self.max_enqueued_batches == 0:
            self.max_enqueued_batches = 1  # as TF Serving's SharedBatchScheduler::AddQueue
        self.allowed_batch_sizes = list(parameters.allowed_batch_sizes)
        num_batch_threads = _value(parameters, "num_batch_threads", os.cpu_count())
        if self.max_batch_size < 1 or self.max_enqueued_batches < 1 or num_batch_threads < 1:
            raise errors.invalid_argument(
                "max_batch_size, max_enqueued_batches and num_batch_threads must be positive"
            )
        if self.allowed_batch_sizes:
            if self.allowed_batch_sizes != sorted(set(self.allowed_batch_sizes)):
                raise errors.invalid_argument(
                    "allowed_batch_sizes entries must be monotonically increasing"
                )
            if self.allowed_batch_sizes[-1] != self.max_batch_size:
                raise errors.invalid_argument(
                    "final entry in allowed_batch_sizes must equal max_batch_size"
                )
        # (servable, signature name, input layout) -> deque of batches; order = round robin.
        self._queues = {}
        self._condition = threading.Condition()
        for index in range(num_batch_threads):
            threading.Thread(target=self._work, name=f"batch-thread-{index}", daemon=True).start()

    def run(self, servable, signature_name, inputs, deadline=None):
        """Runs `servable.run(signature_name, inputs)` as part of a batch and returns this task's outputs.

        Args:
            servable: a `Servable`.
            signature_name: the signature to run.
            inputs: dict of input alias to numpy array, already checked against the signature.
            deadline: `time.monotonic()` time after which the caller gives up, or None.
        """
        return self._run_task((servable, signature_name), inputs, deadline)

    def run_tensors(self, servable, feeds, fetches, deadline=None):
        """Runs `servable.run_tensors(feeds, fetches)` as part of a batch; returns the fetched arrays.

        Args:
            servable: a `Servable`.
            feeds: dict of tensor name to numpy array.
            fetches: the tensor names to fetch, in the order of the result.
            deadline: `time.monotonic()` time after which the caller gives up, or None.
        """
        outputs = self._run_task((servable, tuple(fetches)), feeds, deadline)
        return [outputs[name] for name in fetches]

    def _run_task(self, call, inputs, deadline):
        """Queues `inputs` for `call`, (servable, signature name or fetched tensor names)."""
        size = _batch_size(inputs)
        if size > self.max_batch_size:
            raise errors.invalid_argument(
                f"Task size {size} is larger than maximum input batch size {self.max_batch_size}"
            )
        layout = tuple(
            (name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())
        )
        task = _Task(inputs, size, deadline)
        key = (*call, layout)
        self._enqueue(key, task)
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
        if not task.done.wait(timeout):
            with self._condition:
                task.abandoned = True
                self._withdraw(key, task)
            raise errors.deadline_exceeded("Deadline exceeded while waiting for a batch")
        if task.error is not None:
            raise task.error
        return task.outputs

    def _enqueue(self, key, task):
        with self._condition:
            if key not in self._queues and len(self._queues) >= MAX_QUEUES:
                raise errors.unavailable(
                    f"The batch scheduler holds {len(self._queues)} queues, one per signature and "
                    f"input shape, and at most {MAX_QUEUES}; a new input shape must wait"
                )
            queue = self._queues.setdefault(key, collections.deque())
            if not queue or queue[-1].size + task.size > self.max_batch_size:
                if len(queue) >= self.max_enqueued_batches:
                    raise errors.unavailable(
                        "The batch scheduling queue to which this task was submitted is full; currently "
                        f"{len(queue)} batches enqueued and max_enqueued_batches is {self.max_enqueued_batches}"
                    )
                queue.append(_Batch())
            queue[-1].tasks.append(task)
            queue[-1].size += task.size
            task.batch = queue[-1]
            self._condition.notify_all()

    def _withdraw(self, key, task):
        """Takes an abandoned task out of its batch if that is still queued; holding the condition."""
        queue = self._queues.get(key)
        if queue is None or task.batch not in queue:
            return  # its batch is running, or ran
        task.batch.tasks.remove(task)
        task.batch.size -= task.size
        if not task.batch.tasks:
            queue.remove(task.batch)
        if not queue:
            del self._queues[key]

    def _work(self):
        while True:
            key, batch = self._next_batch()
            self._process(key, batch)

    def _next_batch(self):
        """Waits for a batch that is full, closed or timed out, and takes it off its queue."""
        with self._condition:
            while True:
                now = time.monotonic()
                wake_up = None
                for key, queue in self._queues.items():
                    ready_at = queue[0].opened + self.batch_timeout_seconds
                    if len(queue) > 1 or queue[0].size >= self.max_batch_size or ready_at <= now:
                        batch = queue.popleft()
                        del self._queues[key]
                        if queue:
                            self._queues[key] = queue  # to the back of the round robin
                        return key, batch
                    wake_up = ready_at if wake_up is None else min(wake_up, ready_at)
                self._condition.wait(None if wake_up is None else wake_up - now)

    def _process(self, key, batch):
        now = time.monotonic()
        tasks = []
        with self._condition:
            for task in batch.tasks:
                if task.abandoned:
                    continue
                if task.deadline is not None and task.deadline <= now:
                    task.finish(
                        error=errors.deadline_exceeded(
                            "Deadline exceeded while waiting for a batch"
                        )
                    )
                    continue
                tasks.append(task)
        if not tasks:
            return
        try:
            outputs = self._run_merged(key, tasks)
        except Exception as exception:
            error = errors.from_exception(exception)
            for task in tasks:
                task.finish(error=error)
            return
        for task, task_outputs in zip(tasks, outputs):
            task.finish(outputs=task_outputs)

    def _run_merged(self, key, tasks):
        servable, signature_or_fetches, _ = key
        total = sum(task.size for task in tasks)
        padded = (
            next((size for size in self.allowed_batch_sizes if size >= total), total)
            if total
            else 0
        )
        merged = {}
        for name in tasks[0].inputs:
            array = np.concatenate([task.inputs[name] for task in tasks])
            if padded > total:
                array = np.concatenate([array, np.repeat(array[:1], padded - total, axis=0)])
            merged[name] = array
        if isinstance(signature_or_fetches, str):
            outputs = servable.run(signature_or_fetches, merged)
        else:
            values = servable.run_tensors(merged, list(signature_or_fetches))
            outputs = dict(zip(signature_or_fetches, values))
        for name, array in outputs.items():
            if array.ndim == 0 or array.shape[0] != padded:
                raise errors.failed_precondition(
                    f'Batched output tensor "{name}" of shape {list(array.shape)} has no 0th dimension '
                    f"equal to the batch size {padded}"
                )
        split_at = np.cumsum([task.size for task in tasks])[:-1]
        pieces = {name: np.split(array[:total], split_at) for name, array in outputs.items()}
        return [{name: pieces[name][index] for name in outputs} for index in range(len(tasks))]
