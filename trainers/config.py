"""The job's settings: parsed flags over an optional `--config` file, checked together.

A `--config` file (YAML or JSON) maps flag names to values, e.g.

    strategy: mirrored
    cpu_replicas: 2
    batch_size: 64

Flags given on the command line override the file. Values go through the
flags' own parsers, so a bad value in the file fails exactly as on the
command line. `plan_steps` turns the settings and the size of the training
data into the step counts the loops run.
"""

import dataclasses
import difflib
import json
import os
import types

import yaml
from absl import flags

from trainers.flags import (
    COLUMN_FLAGS,
    DISTILLATION_FLAGS,
    OUR_BACKBONE_FLAGS,
    QA_FLAGS,
    SEQ2SEQ_FLAGS,
    SEQ2SEQ_TASKS,
    STUDENT_SIZES,
    TEACHER_REPLACES_FLAGS,
    define_flags,
)

FLAGS_MODULE = "trainers.flags"
CONFIG_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
# The longest host loop `steps_per_loop` picks by itself.
MAX_DEFAULT_STEPS_PER_LOOP = 100
# The tasks whose preprocessors pad a batch only to its longest row (--padding=dynamic).
DYNAMIC_PADDING_TASKS = ("classification", "ner")
# The classifier's peak learning rate over an encoder that --pretrain_steps pretrained.
SELF_PRETRAINED_LEARNING_RATE = 5e-4


class SettingsError(ValueError):
    """A setting, a combination of settings, or what a setting names (a data
    file, a model_dir) that cannot work.

    The message names the flags (or the file) involved and what would work.
    """


def settings_from_flags(flag_values):
    """The job's settings from parsed `flag_values`, with `--config` applied.

    Args:
        flag_values: `absl.flags.FlagValues` on which `define_flags` defined
            the job's flags, already parsed.

    Returns:
        A `types.SimpleNamespace` with one attribute per flag of
        `trainers.flags`, plus `loop` resolved from `"auto"`.

    Raises:
        SettingsError: an unreadable or invalid `--config` file, or settings
            that do not work together.
    """
    names = [flag.name for flag in flag_values.get_flags_for_module(FLAGS_MODULE)]
    if flag_values["config"].value:
        _apply_config_file(flag_values, names, flag_values["config"].value)
    settings = types.SimpleNamespace(**{name: flag_values[name].value for name in names})
    return _checked(settings, {name: flag_values[name].default for name in names})


def parse_settings(argv):
    """The settings of the command line `argv` (flags only, no program name).

    Parses into a fresh `FlagValues`, so it can run any number of times in a
    process (tests, notebooks) without touching absl's global `FLAGS`.

    Example:

    ```python
    settings = parse_settings(["--strategy=mirrored", "--cpu_replicas=2"])
    settings.loop   # "fit"
    ```
    """
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    try:
        flag_values(["train", *argv])
    except flags.Error as error:
        raise SettingsError(str(error)) from None
    return settings_from_flags(flag_values)


def _apply_config_file(flag_values, names, path):
    """Sets each flag the file names and the command line does not."""
    for name, value in _read_config_file(path).items():
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(
                f"--config={path}: unknown setting {name!r}{hint}; the keys are flag names "
                "as `python -m trainers.train --help` lists them."
            )
        flag = flag_values[name]
        if flag.present or name == "config":
            continue
        try:
            if value is None:
                flag.value = None
            else:
                flag.parse(value)
        except (flags.Error, ValueError) as error:
            raise SettingsError(f"--config={path}: {error}") from None
    # A flag's `parse` runs its own parser only; validators that check a value run here.
    try:
        flag_values.validate_all_flags()
    except flags.Error as error:
        raise SettingsError(f"--config={path}: {error}") from None


def _read_config_file(path):
    import tensorflow as tf  # Only for tf.io.gfile, so that gs:// configs work.

    config_format = CONFIG_FORMATS.get(os.path.splitext(path)[1].lower())
    if config_format is None:
        raise SettingsError(
            f"--config={path}: expected a file ending in one of {sorted(CONFIG_FORMATS)}."
        )
    if not tf.io.gfile.exists(path):
        raise SettingsError(f"--config={path}: no such file.")
    with tf.io.gfile.GFile(path) as file:
        text = file.read()
    try:
        values = yaml.safe_load(text) if config_format == "yaml" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise SettingsError(
            f"--config={path}: not valid {config_format.upper()}: {error}"
        ) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise SettingsError(
            f"--config={path}: expected a mapping of flag names to values, "
            f"got a {type(values).__name__}."
        )
    return values


# The flags a run that resumes from a --model_dir's checkpoint may set otherwise than the run
# that saved it; `changed_on_resume` compares every other one. See `changed_on_resume`.
RESUMABLE_FLAGS = (
    # How long to train: a finished or stopped job can be extended.
    "train_steps", "epochs",
    # When to checkpoint, evaluate and report, and how many steps a host loop runs.
    "checkpoint_every_steps", "eval_every_steps", "steps_per_loop",
    # Where outputs go, and where the settings were read from (their values are compared).
    "model_dir", "export_dir", "config",
    # Which loop and hardware run the same steps.
    "loop", "strategy", "num_gpus", "cpu_replicas", "tpu", "tpu_timeout_s",
    # What is evaluated, which is not what is trained.
    "eval_data", "eval_examples",
)


def settings_record(settings):
    """`settings` as the JSON-ready mapping of flag names to values a `--model_dir` records.

    The values are the resolved ones (`--epochs`, `--dropout`, ... left unset are recorded as
    the job chose them), so that a run that resumes is compared on what the saved run trained
    with, however either spelled it.
    """
    return dict(sorted(vars(settings).items()))


def changed_on_resume(saved, settings):
    """The settings a run resuming from a checkpoint changes that it may not.

    A checkpoint holds a model of some shape, trained on some data in some order with some
    optimizer; a run that resumes it must build and train the same. Every setting must equal
    the `saved` one except `RESUMABLE_FLAGS`, which change how long, how often, where or on
    what hardware the same training runs, or what is evaluated:

    - `--train_steps`, `--epochs`: a job may be extended. The learning-rate schedule is planned
      over the new length: from the restored step on, warm-up and decay follow it.
    - `--checkpoint_every_steps`, `--eval_every_steps`, `--steps_per_loop`: when the job saves,
      evaluates and reports; the data position comes from the restored step, not from them.
    - `--model_dir`, `--export_dir`, `--config`: where outputs go (the model_dir may be reached
      by another path), and the file that set the values, which are compared themselves.
    - `--loop`, `--strategy`, `--num_gpus`, `--cpu_replicas`, `--tpu`, `--tpu_timeout_s`: both
      loops train the same steps from the same checkpoint, and `--batch_size` is the global
      batch on any number of replicas, so a job stopped on one machine may resume on another.
    - `--eval_data`, `--eval_examples`: the held-out examples measure the model and do not
      train it (labels and vocabulary come from the training data); the summaries after the
      change measure the new ones.

    Everything else shapes the model (`--task`, `--backbone`, `--hidden_dim`,
    `--vocabulary_size`, `--sequence_length`, ...), the training data and its order
    (`--train_data`, its columns, `--train_examples`, `--padding`, `--lowercase`,
    `--batch_size`, `--seed`), the optimizer and its schedule (`--learning_rate`,
    `--ema_momentum`, `--mixed_precision`'s loss scaling) or the distillation: changed, it
    either fails to restore or silently trains another job.

    Args:
        saved: the mapping `settings_record` gave when the checkpoint's job started, read
            back from JSON.
        settings: this run's settings.

    Returns:
        `[(name, saved value, value), ...]` in flag-name order, empty if the run may resume.
        A name only one side has (a flag added or removed between versions of the job) is
        not compared.
    """
    now = json.loads(json.dumps(settings_record(settings)))
    return [
        (name, saved[name], now[name])
        for name in sorted(now.keys() & saved.keys())
        if name not in RESUMABLE_FLAGS and saved[name] != now[name]
    ]


def labels_from_teacher(settings):
    """Whether the student trains on texts its teacher labels once (`--unlabelled_data`,
    `--augmented_copies`) rather than on the labelled training examples."""
    return bool(settings.unlabelled_data or settings.augmented_copies)


def _checked(settings, defaults):
    """Checks the combinations one flag's parser cannot see; resolves `loop`, `padding`,
    `epochs`, `dropout`, `num_heads`, `relative_positions` and, after `--pretrain_steps`,
    `learning_rate` and `pooling`.

    A flag that does not apply is an error only when it differs from its
    `defaults` value: a value equal to the default cannot be told from unset.
    """
    multi_worker = settings.strategy == "multi_worker_mirrored"
    if settings.loop == "auto":
        settings.loop = "custom" if multi_worker else "fit"
    elif settings.loop == "fit" and multi_worker:
        raise SettingsError(
            "--loop=fit does not run under --strategy=multi_worker_mirrored: Keras 3's "
            "model.fit fails there (keras-team/keras#20585); use --loop=custom or --loop=auto."
        )
    _check_applies(settings, defaults, ("padding",),
                   settings.padding != "dynamic" or settings.task in DYNAMIC_PADDING_TASKS,
                   f"to --task={settings.task}: its rows have a fixed length (--padding=fixed)")
    if settings.padding == "auto":
        settings.padding = "fixed" if settings.strategy == "tpu" else "dynamic"
    only_with = {
        "cpu_replicas": ("mirrored",),
        "num_gpus": ("one_device", "mirrored"),
        "tpu": ("tpu",),
        "tpu_timeout_s": ("tpu",),
    }
    for name, strategies in only_with.items():
        if getattr(settings, name) not in (None, defaults[name]) and (
            settings.strategy not in strategies
        ):
            raise SettingsError(
                f"--{name} applies to --strategy={'/'.join(strategies)}, "
                f"not --strategy={settings.strategy}."
            )
    _check_applies(settings, defaults, ("num_gpus",),
                   settings.strategy != "one_device" or (settings.num_gpus or 0) <= 1,
                   "to --strategy=one_device: it trains on one GPU; use --strategy=mirrored for "
                   "more")
    check_precision_replicas(settings, _known_replicas(settings))
    if labels_from_teacher(settings) and settings.loop != "fit":
        raise SettingsError(
            f"--unlabelled_data and --augmented_copies train with --loop=fit only, not "
            f"--loop={settings.loop}: the custom loop's train step needs labels in every batch."
        )
    if settings.pretrain_steps and (
        settings.task != "classification" or settings.backbone != "ours" or settings.teacher
    ):
        raise SettingsError(
            "--pretrain_steps pretrains our encoder for --task=classification (--backbone=ours, "
            "no --teacher), not "
            + (f"--task={settings.task}" if settings.task != "classification"
               else "a pretrained backbone or a student")
            + "."
        )
    if settings.pretrain_steps and multi_worker:
        raise SettingsError(
            "--pretrain_steps trains with model.fit, which fails under "
            "--strategy=multi_worker_mirrored (keras-team/keras#20585)."
        )
    if settings.eval_data and not settings.train_data:
        raise SettingsError(
            "--eval_data needs --train_data: the labels and vocabulary come from the training file."
        )
    _check_applies(settings, defaults, ("pooling",), settings.task == "classification",
                   f"to --task={settings.task}: only a classifier pools")
    _check_applies(settings, defaults, ("pooling",), not settings.teacher,
                   "with --teacher: the student pools as its teacher does")
    _check_applies(settings, defaults, ("tfidf_average",), settings.task == "classification",
                   f"to --task={settings.task}: it averages a classifier's probabilities")
    _check_applies(settings, defaults, ("tfidf_average",), not settings.teacher,
                   "with --teacher: a student learns the teacher's probabilities alone")
    _check_applies(settings, defaults, ("tfidf_average",), settings.strategy != "tpu",
                   "with --strategy=tpu: its lookup table and counts do not run on a TPU")
    _check_applies(settings, defaults, COLUMN_FLAGS, settings.task == "classification",
                   f"to --task={settings.task}: only classification files have columns to "
                   "choose")
    _check_applies(settings, defaults, COLUMN_FLAGS, settings.train_data,
                   "without --train_data: they choose the columns of its file")
    _check_applies(settings, defaults, ("eval_every_steps",),
                   not settings.train_data or settings.eval_data,
                   "with --train_data but no --eval_data: the job has nothing to evaluate")
    _check_applies(settings, defaults, ("train_examples", "eval_examples"),
                   not settings.train_data, "with --train_data: they size the DEMO data")
    _check_applies(settings, defaults, ("train_examples",), not settings.unlabelled_data,
                   "with --unlabelled_data: the student trains on its texts, not on DEMO "
                   "training examples")
    _check_applies(settings, defaults, QA_FLAGS, settings.task == "qa",
                   f"to --task={settings.task}: they shape question answering")
    _check_applies(settings, defaults, SEQ2SEQ_FLAGS, settings.task in SEQ2SEQ_TASKS,
                   f"to --task={settings.task}: they shape translation and summarization")
    _check_applies(settings, defaults, ("pair_fields",), settings.train_data,
                   "without --train_data: it chooses the fields of its file")
    _check_applies(settings, defaults, ("lowercase",),
                   settings.task not in SEQ2SEQ_TASKS or settings.backbone != "ours",
                   f"to --task={settings.task} with --backbone=ours: SentencePiece reads the text "
                   "as it is")
    if settings.task in SEQ2SEQ_TASKS:
        # The model flags shape the decoder too, which reads a pretrained encoder at its width.
        _check_applies(settings, defaults, ("hidden_dim",), settings.backbone == "ours",
                       f"to --backbone={settings.backbone}: the decoder is as wide as the "
                       "pretrained encoder (the other model flags shape the decoder)")
    else:
        _check_applies(settings, defaults, OUR_BACKBONE_FLAGS, settings.backbone == "ours",
                       f"to --backbone={settings.backbone}: a pretrained backbone has its own "
                       "size and vocabulary")
    _check_applies(settings, defaults, DISTILLATION_FLAGS, settings.teacher,
                   "without --teacher: they shape distillation")
    _check_applies(settings, defaults, TEACHER_REPLACES_FLAGS, not settings.teacher,
                   "with --teacher: the student reads the teacher's vocabulary and --student "
                   "sizes it")
    if labels_from_teacher(settings) and settings.attention_relation_heads:
        raise SettingsError(
            "--attention_relation_heads cannot train on --unlabelled_data or --augmented_copies: "
            "the teacher's outputs on them are cached as logits, without the attention the "
            "relations need."
        )
    # After the checks above, which tell a flag left unset from one set.
    _resolve_model_defaults(settings)
    _check_model_shape(settings)
    if settings.text_pair_column is not None and settings.export_dir:
        raise SettingsError(
            f"--export_dir cannot serve --text_pair_column={settings.text_pair_column}: the "
            "exported classifier's signatures take one text per example."
        )
    return settings


def _resolve_model_defaults(settings):
    """`epochs`, `dropout`, `num_heads`, `relative_positions`, `learning_rate` and `pooling` left
    unset.

    Measured on SST-2 and CoNLL-2003 (BENCHMARKS.md): a tagger of our encoder learning from
    labels alone gains about 2 points of entity F1 from 8 epochs at dropout 0.3 over 3 at 0.1
    (the other tasks' curves, and a pretrained or distilled tagger's, are flat by 3 epochs);
    relative-position biases lift it from 0.73 to 0.79, and 4 heads add 1.5-2.5 points over one
    to a tagger of our encoder, learning from labels or distilled. The translation and
    summarization benchmarks were measured without relative biases. An encoder pretrained by
    `--pretrain_steps` learns the SST-2 labels best at a peak of 5e-4 (dev sentences 0.798-0.806
    over three seeds, against 0.779-0.790 at our from-scratch 2e-3, which undoes more of the
    pretraining); unset otherwise, the model's `default_optimizer` chooses. Over that encoder, max
    pooling scores 0.809-0.817 on the sentences (0.814 on average over four seeds) against mean
    pooling's 0.798-0.811 (0.805): trained on phrases of 8 words on average, a mean dilutes the
    phrase that decides a sentence of 20.
    """
    tagger_of_ours = settings.task == "ner" and settings.backbone == "ours"
    tagger_from_scratch = tagger_of_ours and not settings.teacher
    if settings.epochs is None:
        settings.epochs = 8 if tagger_from_scratch else 3
    if settings.dropout is None:
        settings.dropout = 0.3 if tagger_from_scratch else 0.1
    if settings.num_heads is None:
        settings.num_heads = 4 if tagger_of_ours else 1
    if settings.relative_positions is None:
        settings.relative_positions = 0 if settings.task in SEQ2SEQ_TASKS else 16
    if settings.learning_rate is None and settings.pretrain_steps:
        settings.learning_rate = SELF_PRETRAINED_LEARNING_RATE
    if settings.pooling is None and settings.task == "classification" and not settings.teacher:
        settings.pooling = "max" if settings.pretrain_steps else "mean"


def _known_replicas(settings):
    """The replicas the settings alone show the strategy has: 2 for "several" where the count
    needs the hardware (a TPU), 1 where they do not show more than one."""
    if settings.strategy == "tpu":
        return 2
    if settings.strategy == "mirrored":
        return max(settings.cpu_replicas or 1, settings.num_gpus or 1)
    return 1


def check_precision_replicas(settings, replicas):
    """Refuses `--mixed_precision=mixed_float16` over more than one replica.

    Keras 3's `LossScaleOptimizer` decides whether to apply a step from the gradients of the
    replica it runs on before they are reduced (keras/src/optimizers/loss_scale_optimizer.py):
    a step whose gradients overflow on another replica is applied, the weights become NaN,
    and every later step is skipped. `train` calls this again once the strategy's
    `num_replicas_in_sync` is known (a multi-worker cluster, all of a machine's GPUs).
    """
    if settings.mixed_precision == "mixed_float16" and replicas > 1:
        replicas_text = "several replicas" if settings.strategy == "tpu" else f"{replicas} replicas"
        raise SettingsError(
            f"--mixed_precision=mixed_float16 does not train over {replicas_text} "
            f"(--strategy={settings.strategy}): Keras 3's LossScaleOptimizer checks only one "
            "replica's gradients for overflow, so a step that overflows on another is applied "
            "and the weights become NaN. Use --mixed_precision=mixed_bfloat16 (no loss "
            "scaling), or one replica."
        )


def _check_model_shape(settings):
    """Refuses head counts that do not divide the widths they split, naming the flags."""
    if settings.teacher and settings.student_init == "every_other":
        # A student of a BERT's layers takes its heads over --num_heads (`make_student` checks).
        return
    heads, kv_heads = settings.num_heads, settings.num_kv_heads
    if kv_heads is not None and heads % kv_heads:
        raise SettingsError(
            f"--num_kv_heads={kv_heads} must divide --num_heads={heads}: each key/value head "
            f"serves a group of query heads; use one of "
            f"{[d for d in range(1, heads + 1) if heads % d == 0]}."
        )
    if settings.teacher:
        width = STUDENT_SIZES[settings.student]["hidden_dim"]
        width_name = f"the width of --student={settings.student}, {width}"
    elif settings.backbone == "ours":
        width = settings.hidden_dim
        width_name = f"--hidden_dim={width}"
    else:  # A pretrained encoder's width (the decoder's, for seq2seq) is known once it loads.
        return
    if width % heads:
        raise SettingsError(
            f"--num_heads={heads} must divide {width_name}: the heads split the width; use "
            f"one of {[d for d in range(1, width + 1) if width % d == 0]}."
        )


def _check_applies(settings, defaults, names, applies, where_not):
    """Refuses any of the flags `names` set away from its default where it does not apply."""
    if applies:
        return
    changed = [f"--{name}={getattr(settings, name)}" for name in names
               if getattr(settings, name) != defaults[name]]
    if changed:
        verb = "does" if len(changed) == 1 else "do"
        raise SettingsError(f"{', '.join(changed)} {verb} not apply {where_not}.")


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """How many steps the job trains and where it stops to evaluate and checkpoint.

    Attributes:
        total_steps: optimizer steps of the whole job.
        steps_per_epoch: batches in one pass over the training data.
        eval_every: steps between evaluations.
        checkpoint_every: steps between checkpoints; the Keras epoch of `fit`
            (the last one shorter when `total_steps` is not a multiple).
        steps_per_loop: steps per host loop / `steps_per_execution`.
    """

    total_steps: int
    steps_per_epoch: int
    eval_every: int
    checkpoint_every: int
    steps_per_loop: int


def plan_steps(settings, train_size):
    """The `StepPlan` of `settings` for `train_size` training examples.

    Evaluations and checkpoints come every pass over the training data
    unless the flags say otherwise, whatever the training length; the
    loops also evaluate and save at the end. Neither interval exceeds the
    training length.

    Raises:
        SettingsError: the batch is larger than the data, or (for the fit
            loop) the intervals do not line up with Keras epochs.
    """
    steps_per_epoch = train_size // settings.batch_size
    if steps_per_epoch == 0:
        raise SettingsError(
            f"--batch_size={settings.batch_size} is larger than the {train_size} training "
            "examples; every batch is full (static shapes), so use a smaller batch."
        )
    total = settings.train_steps or settings.epochs * steps_per_epoch
    eval_every = min(settings.eval_every_steps or steps_per_epoch, total)
    checkpoint_every = min(settings.checkpoint_every_steps or eval_every, total)
    steps_per_loop = settings.steps_per_loop or max(
        d for d in range(1, MAX_DEFAULT_STEPS_PER_LOOP + 1) if checkpoint_every % d == 0
    )
    plan = StepPlan(total, steps_per_epoch, eval_every, checkpoint_every, steps_per_loop)
    if settings.loop == "fit":
        _check_fit_plan(plan)
    return plan


def _check_fit_plan(plan):
    """`fit` runs Keras epochs of `checkpoint_every` steps, `steps_per_loop` at a time.

    An epoch is one checkpoint interval (the last one may be shorter), and
    Keras validates every so many epochs (`validation_freq`), so evaluation
    must fall on epoch ends, unless it comes only at the end.
    """
    checkpoint_interval = "the checkpoint interval (--checkpoint_every_steps)"
    pairs = [("--steps_per_loop", plan.steps_per_loop, checkpoint_interval, plan.checkpoint_every)]
    if plan.eval_every < plan.total_steps:
        pairs.append((checkpoint_interval, plan.checkpoint_every,
                      "the evaluation interval (--eval_every_steps)", plan.eval_every))
    for divisor_name, divisor, dividend_name, dividend in pairs:
        if dividend % divisor:
            raise SettingsError(
                f"With --loop=fit, {dividend_name}, {dividend} steps, must be a multiple of "
                f"{divisor_name}, {divisor}: a Keras epoch is one checkpoint interval, run "
                "steps_per_loop steps at a time. Change the flags, or use --loop=custom."
            )
