"""The custom loop's progress line, printed after each host loop of training steps."""

import datetime
import functools
import time


class ProgressLine:
    """An Orbit train action printing one line per host loop.

    For example (one line):

        step 200/500 | 41.3 steps/s | 1322 examples/s (16 per replica) |
        loss 0.3104 | learning rate 1.20e-03 | ETA 0:00:07

    Rates are measured over the loop just finished (the first line's since
    this action was made, from the step `global_step` held then: make it after
    restoring a checkpoint); the ETA assumes the rest of the job runs at that
    rate. "Per replica" is the size of each replica's share of a global
    batch, as the train step measured it.

    Args:
        global_step: the `tf.Variable` counting optimizer steps.
        total_steps: int, the step the job trains to.
        global_batch_size: int, examples per step across all replicas.
        print_fn: a function of one string: where lines go.

    Call arguments:
        output: the trainer's loop output, with `"loss"`, `"learning_rate"` and
            `"replica_batch_size"`.
    """

    def __init__(
        self,
        global_step,
        total_steps,
        global_batch_size,
        print_fn=functools.partial(print, flush=True),
    ):
        self.global_step = global_step
        self.total_steps = total_steps
        self.global_batch_size = global_batch_size
        self.print_fn = print_fn
        self._last_step = int(global_step.numpy())
        self._last_time = time.monotonic()

    def __call__(self, output):
        step, now = int(self.global_step.numpy()), time.monotonic()
        steps_per_second = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        remaining = (self.total_steps - step) / steps_per_second if steps_per_second else 0.0
        self.print_fn(
            f"step {step}/{self.total_steps} | {steps_per_second:.1f} steps/s | "
            f"{steps_per_second * self.global_batch_size:.0f} examples/s "
            f"({float(output['replica_batch_size']):g} per replica) | "
            f"loss {float(output['loss']):.4f} | "
            f"learning rate {float(output['learning_rate']):.2e} | "
            f"ETA {datetime.timedelta(seconds=round(remaining))}"
        )
