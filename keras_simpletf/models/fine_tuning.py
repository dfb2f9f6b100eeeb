"""The fine-tuning recipe for pretrained backbones: AdamW, linear warm-up, linear decay."""

import keras
from keras import ops

# Variables that weight decay leaves alone: biases, layer-norm scales and
# offsets, and ReZero gates (decay would pull a residual branch shut).
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "gate")


@keras.saving.register_keras_serializable(package="keras_simpletf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak_learning_rate` over `warmup_steps`, then
    falls linearly to `end_learning_rate` at `total_steps` and stays there.

    Args:
        peak_learning_rate: float.
        warmup_steps: int, steps of the linear rise (0 for none).
        total_steps: int, the step at which the decay ends; the planned
            training length.
        end_learning_rate: float, the rate from `total_steps` on.

    Example:

    ```python
    schedule = WarmupLinearDecay(5e-5, warmup_steps=100, total_steps=1000)
    float(schedule(50))   # 2.5e-05
    ```
    """

    def __init__(self, peak_learning_rate, warmup_steps, total_steps, end_learning_rate=0.0):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"`warmup_steps` ({warmup_steps}) must be in [0, total_steps={total_steps})."
            )
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.end_learning_rate = end_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak_learning_rate * step / max(self.warmup_steps, 1)
        remaining = ops.clip(
            (self.total_steps - step) / (self.total_steps - self.warmup_steps), 0.0, 1.0
        )
        decay = self.end_learning_rate + (
            self.peak_learning_rate - self.end_learning_rate
        ) * remaining
        return ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "end_learning_rate": self.end_learning_rate,
        }


def fine_tuning_optimizer(
    total_steps,
    learning_rate=5e-5,
    warmup_ratio=0.1,
    weight_decay=0.01,
    clipnorm=1.0,
    epsilon=1e-6,
):
    """AdamW as BERT fine-tuning uses it.

    Linear warm-up over `warmup_ratio * total_steps` steps, then linear decay
    to 0 at `total_steps`; gradients clipped to global norm `clipnorm`; weight
    decay on every variable except biases, layer norms and ReZero gates.

    Args:
        total_steps: int, planned optimizer steps (epochs x steps per epoch).
        learning_rate: float, the peak learning rate.
        warmup_ratio: float, the share of `total_steps` spent warming up.
        weight_decay: float, AdamW's decoupled weight decay.
        clipnorm: float, global gradient-norm clip, or `None`.
        epsilon: float, Adam's epsilon (BERT uses 1e-6).

    Returns:
        A `keras.optimizers.AdamW`. The weight-decay exclusions are set on the
        object and are not part of its config: rebuild it with this function
        when resuming rather than deserialising it.
    """
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(
            learning_rate, int(warmup_ratio * total_steps), total_steps
        ),
        weight_decay=weight_decay,
        epsilon=epsilon,
        global_clipnorm=clipnorm,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
