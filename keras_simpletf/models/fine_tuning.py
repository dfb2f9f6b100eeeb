"""Optimizer recipes: BERT fine-tuning (AdamW, linear warm-up and decay) and the Transformer's (Adam, warm-up, inverse square root)."""

import math

import keras
from keras import ops

# How far, relative to its size, a product of floats may land from a whole number it stands for:
# a few units in the last place (2.2e-16 each), with a wide margin.
_WHOLE_STEPS_REL_TOL = 1e-12
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
    ema_momentum=None,
):
    """AdamW as BERT fine-tuning uses it.

    Linear warm-up over `warmup_ratio * total_steps` steps (rounded down,
    `whole_warmup_steps`), then linear decay
    to 0 at `total_steps`; gradients clipped to global norm `clipnorm`; weight
    decay on every variable except biases, layer norms and ReZero gates.

    Args:
        total_steps: int, planned optimizer steps (epochs x steps per epoch).
        learning_rate: float, the peak learning rate.
        warmup_ratio: float, the share of `total_steps` spent warming up.
        weight_decay: float, AdamW's decoupled weight decay.
        clipnorm: float, global gradient-norm clip, or `None`.
        epsilon: float, Adam's epsilon (BERT uses 1e-6).
        ema_momentum: float, or `None` or 0 for no averaging: see
            `transformer_optimizer`.

    Returns:
        A `keras.optimizers.AdamW`. The weight-decay exclusions are set on the
        object and are not part of its config: rebuild it with this function
        when resuming rather than deserialising it.
    """
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(
            learning_rate, whole_warmup_steps(warmup_ratio, total_steps), total_steps
        ),
        weight_decay=weight_decay,
        epsilon=epsilon,
        global_clipnorm=clipnorm,
        **_weight_averaging(ema_momentum),
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def whole_warmup_steps(warmup_ratio, total_steps):
    """The whole steps of a warm-up over `warmup_ratio` of `total_steps`: the product rounded down.

    A product that is a whole number in decimal arithmetic counts whole, although its float
    lands just below it: `0.29 * 100` is 28.999999999999996 in floats, and warms up for 29
    steps, not 28. A product whose fraction is real still rounds down, as `int()` did:
    `0.1 * 4377` warms up for 437 steps.

    Example:

    ```python
    whole_warmup_steps(0.29, 100), whole_warmup_steps(0.1, 4377)   # (29, 437)
    ```
    """
    product = warmup_ratio * total_steps
    nearest = round(product)
    if math.isclose(product, nearest, rel_tol=_WHOLE_STEPS_REL_TOL):
        return int(nearest)
    return math.floor(product)


@keras.saving.register_keras_serializable(package="keras_simpletf")
class WarmupInverseSquareRootDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak_learning_rate` over `warmup_steps`, then
    decays as `peak_learning_rate * sqrt(warmup_steps / step)`.

    That is `peak_learning_rate * min(step / warmup_steps, sqrt(warmup_steps / step))` at
    every step, 0 at step 0 (the optimizer's first, which only starts Adam's moments), as
    tensor2tensor's `linear_warmup * rsqrt_decay`.

    With `peak_learning_rate = hidden_dim ** -0.5 * warmup_steps ** -0.5` this
    is the schedule of Vaswani et al. (2017), section 5.3.

    Args:
        peak_learning_rate: float, the rate at the end of the warm-up.
        warmup_steps: int, steps of the linear rise (at least 1).

    Example:

    ```python
    schedule = WarmupInverseSquareRootDecay(1e-3, warmup_steps=100)
    float(schedule(50)), float(schedule(400))   # (0.0005, 0.0005)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(self, peak_learning_rate, warmup_steps):
        if warmup_steps < 1:
            raise ValueError(f"`warmup_steps` must be at least 1, got {warmup_steps!r}.")
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        # At step 0 the warm-up term is 0, and the decay term is kept finite (sqrt(warmup)).
        return self.peak_learning_rate * ops.minimum(
            step / self.warmup_steps, ops.sqrt(self.warmup_steps / ops.maximum(step, 1.0))
        )

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
        }


# Vaswani et al. (2017), section 5.3: 4,000 warm-up steps of 100,000.
TRANSFORMER_WARMUP_STEPS = 4000
# The share of training that `averaging_momentum` averages by default: on
# Multi30k, 0.999 over 8,000 steps (BENCHMARKS.md). The paper's averages span
# the last 5 checkpoints, 10 minutes apart, of 12 hours: the last 6-7%.
AVERAGED_SHARE = 1 / 8


def transformer_optimizer(hidden_dim, total_steps, learning_rate=None, ema_momentum=None):
    """Adam as Vaswani et al. (2017) train the Transformer (section 5.3).

    beta_1 0.9, beta_2 0.98, epsilon 1e-9; linear warm-up then
    inverse-square-root decay (`WarmupInverseSquareRootDecay`). The warm-up
    is the paper's 4,000 steps, or a tenth of `total_steps` when training is
    shorter than 40,000 steps, so that a short run gets past it. The peak is
    the paper's, `hidden_dim ** -0.5 * 4000 ** -0.5` (7.0e-4 at width 512),
    unless `learning_rate` is given.

    Args:
        hidden_dim: int, the model width.
        total_steps: int, planned optimizer steps.
        learning_rate: float, the peak learning rate, or `None`.
        ema_momentum: float, or `None` or 0 for no averaging: keep an
            exponential moving average of the weights with this momentum
            (Keras's `use_ema`), and end training on it: `model.fit` writes
            it into the model when it returns, the trainers' custom loop too.
            It is the streaming form of the paper's checkpoint averaging (the
            last 5 checkpoints, written 10 minutes apart); 0.999 averages
            over roughly the last thousand steps (`averaging_momentum`).

    Returns:
        A `keras.optimizers.Adam`.
    """
    warmup_steps = max(1, min(TRANSFORMER_WARMUP_STEPS, total_steps // 10))
    if learning_rate is None:
        learning_rate = (hidden_dim * TRANSFORMER_WARMUP_STEPS) ** -0.5
    return keras.optimizers.Adam(
        learning_rate=WarmupInverseSquareRootDecay(learning_rate, warmup_steps),
        beta_1=0.9,
        beta_2=0.98,
        epsilon=1e-9,
        **_weight_averaging(ema_momentum),
    )


def averaging_momentum(total_steps, share=AVERAGED_SHARE):
    """The momentum of a moving average over about the last `share` of `total_steps`.

    An exponential moving average of momentum m weighs the weights of t
    steps back by m**t: it spans about 1 / (1 - m) steps. Keras starts it at
    the first step's weights, which at the end still count about
    m**total_steps = exp(-1 / share) (exp(-8) by default: nothing). 0 (no
    averaging) for runs too short to average.

    Example:

    ```python
    averaging_momentum(8000)   # 0.999
    ```
    """
    return max(0.0, 1.0 - 1.0 / (share * total_steps))


def averages_weights(optimizer):
    """Whether `optimizer` (or the one a `LossScaleOptimizer` wraps) keeps a moving average."""
    return getattr(optimizer, "inner_optimizer", optimizer).use_ema


def _weight_averaging(ema_momentum):
    """The Keras optimizer arguments of an `ema_momentum` (`None` or 0: no averaging)."""
    if not ema_momentum:
        return {}
    return {"use_ema": True, "ema_momentum": ema_momentum}
