"""Tests for trainers/config.py: flags over a --config file, checks across flags, the step plan."""

import json
import re

import pytest

from trainers.config import SettingsError, parse_settings, plan_steps


def test_defaults_are_the_readme_job():
    settings = parse_settings([])
    assert (settings.task, settings.strategy, settings.loop) == ("classification", "default", "fit")
    assert (settings.batch_size, settings.epochs, settings.mixed_precision) == (32, 3, "float32")
    assert settings.train_data is None and settings.model_dir is None


def test_a_tagger_of_our_encoder_learning_from_labels_trains_longer_with_more_dropout():
    def epochs_and_dropout(*flags):
        settings = parse_settings(list(flags))
        return settings.epochs, settings.dropout

    assert epochs_and_dropout("--task=ner") == (8, 0.3)
    assert epochs_and_dropout("--task=ner", "--epochs=2", "--dropout=0") == (2, 0.0)
    assert epochs_and_dropout("--task=ner", "--backbone=minilm") == (3, 0.1)
    assert epochs_and_dropout("--task=ner", "--teacher=/exports/tagger") == (3, 0.1)
    assert epochs_and_dropout("--task=qa") == epochs_and_dropout() == (3, 0.1)


def test_heads_and_relative_positions_resolve_by_task_unless_given():
    def heads_and_range(*flags):
        settings = parse_settings(list(flags))
        return settings.num_heads, settings.relative_positions

    assert heads_and_range() == heads_and_range("--task=qa") == (1, 16)
    assert heads_and_range("--task=ner") == (4, 16)
    assert heads_and_range("--task=ner", "--num_heads=2", "--relative_positions=0") == (2, 0)
    assert heads_and_range("--task=ner", "--teacher=/exports/tagger") == (4, 16)
    assert heads_and_range("--task=translation") == heads_and_range("--task=summarization") == (1, 0)
    assert heads_and_range("--task=ner", "--backbone=minilm")[1] == 16  # unused: no error
    with pytest.raises(SettingsError, match="--relative_positions=8 does not apply to --backbone"):
        parse_settings(["--backbone=minilm", "--relative_positions=8"])


def test_the_learning_rate_is_left_to_the_backbone_unless_given():
    assert parse_settings([]).learning_rate is None
    assert parse_settings(["--learning_rate=1e-4"]).learning_rate == 1e-4


def test_auto_loop_is_custom_for_multi_worker_and_fit_otherwise():
    assert parse_settings(["--strategy=multi_worker_mirrored"]).loop == "custom"
    assert parse_settings(["--strategy=mirrored"]).loop == "fit"
    assert parse_settings(["--strategy=mirrored", "--loop=custom"]).loop == "custom"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_config_file_sets_flags_and_the_command_line_overrides_it(tmp_path, suffix):
    values = {"batch_size": 8, "strategy": "mirrored", "cpu_replicas": 2, "layout": "parallel"}
    path = tmp_path / f"job{suffix}"
    path.write_text(json.dumps(values))  # JSON is YAML too.
    settings = parse_settings([f"--config={path}", "--batch_size=16"])
    assert settings.batch_size == 16
    assert settings.strategy == "mirrored" and settings.cpu_replicas == 2
    assert settings.layout == "parallel"


def test_an_unknown_key_in_the_config_file_is_named_with_a_suggestion(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("batch_size: 8\nbatchsize: 16\n")
    with pytest.raises(SettingsError, match=r"job\.yaml: unknown setting 'batchsize'.*batch_size"):
        parse_settings([f"--config={path}"])


def test_a_bad_value_in_the_config_file_fails_as_on_the_command_line(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("layout: diagonal\n")
    with pytest.raises(SettingsError, match=r"job\.yaml.*--layout=diagonal"):
        parse_settings([f"--config={path}"])


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="no such file"):
        parse_settings([f"--config={tmp_path / 'absent.yaml'}"])


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--layout=diagonal"], "--layout=diagonal"),
        (["--batch_size=0"], "--batch_size=0"),
        (["--strategy=tpu", "--cpu_replicas=2"], "--cpu_replicas"),
        (["--num_gpus=1"], "--num_gpus"),
        (["--tpu=local"], "--tpu"),
        (["--strategy=multi_worker_mirrored", "--loop=fit"], "--loop=fit"),
        (["--eval_data=eval.tsv"], "--eval_data"),
        (["--task=ner", "--train_data=a.txt", "--text_column=sentence"],
         "--text_column=sentence does not apply to --task=ner"),
        (["--task=qa", "--train_data=a.json", "--label_column=y"],
         "--label_column=y does not apply to --task=qa: only classification files have columns"),
        (["--label_column=y"], "--label_column=y does not apply without --train_data"),
        (["--task=ner", "--pair_fields=dialogue,summary"],
         "--pair_fields=dialogue,summary does not apply to --task=ner"),
        (["--target_sequence_length=32"], "--target_sequence_length=32 does not apply"),
        (["--task=translation", "--doc_stride=64"], "--doc_stride=64 does not apply"),
        (["--backbone=minilm", "--hidden_dim=256", "--num_layers=4"],
         "--hidden_dim=256, --num_layers=4 do not apply to --backbone=minilm"),
        (["--backbone=minilm", "--vocabulary_size=4000"], "--vocabulary_size=4000"),
        (["--train_data=a.tsv", "--text_pair_column=hypothesis", "--export_dir=out"],
         "--text_pair_column=hypothesis"),
        (["--task=qa", "--padding=dynamic"],
         "--padding=dynamic does not apply to --task=qa: its rows have a fixed length"),
        (["--task=summarization", "--padding=dynamic"], "--padding=dynamic does not apply"),
        (["--task=translation", "--lowercase"],
         "--lowercase=True does not apply to --task=translation with --backbone=ours"),
        (["--task=summarization", "--nolowercase"], "--lowercase=False does not apply"),
        (["--strategy=one_device", "--num_gpus=2"],
         "--num_gpus=2 does not apply to --strategy=one_device"),
        (["--train_data=a.tsv", "--eval_data=b.tsv", "--train_examples=256", "--eval_examples=32"],
         "--train_examples=256, --eval_examples=32 do not apply with --train_data: they size the "
         "DEMO data"),
        # Without --eval_data a --train_data job does not evaluate: no DEMO evaluation either.
        (["--train_data=a.tsv", "--eval_examples=32"],
         "--eval_examples=32 does not apply with --train_data"),
        (["--task=qa", "--train_data=a.json", "--train_examples=600"],
         "--train_examples=600 does not apply with --train_data"),
        (["--task=translation", "--train_data=a.en,a.de", "--eval_examples=16"],
         "--eval_examples=16 does not apply with --train_data"),
        (["--train_data=a.tsv", "--teacher=/t", "--augmented_copies=2", "--train_examples=400"],
         "--train_examples=400 does not apply with --train_data"),
        (["--teacher=/t", "--unlabelled_data=x.txt", "--train_examples=400"],
         "--train_examples=400 does not apply with --unlabelled_data: the student trains on its "
         "texts"),
    ],
)
def test_settings_that_cannot_work_are_rejected_naming_the_flag(argv, named):
    with pytest.raises(SettingsError) as error:
        parse_settings(argv)
    assert named in str(error.value)


def test_flags_that_apply_are_accepted():
    assert parse_settings(["--task=qa", "--padding=fixed"]).padding == "fixed"
    assert parse_settings(["--task=translation"]).lowercase is None
    assert parse_settings(["--strategy=one_device", "--num_gpus=1"]).num_gpus == 1
    assert parse_settings(["--task=ner", "--padding=dynamic", "--lowercase"]).lowercase
    # The DEMO sizes apply to DEMO data: the teacher varies its training texts, and
    # --unlabelled_data replaces those but not the DEMO evaluation.
    demo = parse_settings(["--task=qa", "--train_examples=64", "--eval_examples=8"])
    assert (demo.train_examples, demo.eval_examples) == (64, 8)
    assert parse_settings(
        ["--teacher=/t", "--augmented_copies=2", "--train_examples=400"]).train_examples == 400
    assert parse_settings(
        ["--teacher=/t", "--unlabelled_data=x.txt", "--eval_examples=64"]).eval_examples == 64


def test_the_plan_of_the_readme_job_evaluates_and_checkpoints_every_pass():
    plan = plan_steps(parse_settings([]), train_size=4000)
    assert (plan.steps_per_epoch, plan.total_steps) == (125, 375)
    assert (plan.eval_every, plan.checkpoint_every, plan.steps_per_loop) == (125, 125, 25)


def test_train_steps_that_are_not_whole_passes_still_evaluate_and_checkpoint_every_pass():
    plan = plan_steps(parse_settings(["--train_steps=300"]), train_size=4000)
    assert (plan.total_steps, plan.eval_every, plan.checkpoint_every) == (300, 125, 125)
    assert plan.steps_per_loop == 25
    # A prime number of steps: still a host loop of a pass (16 batches of 16).
    prime = plan_steps(parse_settings(["--train_steps=101", "--batch_size=16"]), train_size=256)
    assert (prime.eval_every, prime.checkpoint_every, prime.steps_per_loop) == (16, 16, 16)
    # A job shorter than a pass evaluates and checkpoints at its end.
    short = plan_steps(parse_settings(["--train_steps=10", "--batch_size=16"]), train_size=256)
    assert (short.eval_every, short.checkpoint_every, short.steps_per_loop) == (10, 10, 10)


def test_the_fit_loop_needs_intervals_that_fall_on_keras_epochs():
    # The last Keras epoch may be shorter: 30 steps are epochs of 20 and 10.
    assert plan_steps(
        parse_settings(["--train_steps=30", "--checkpoint_every_steps=20"]), train_size=4000
    ).checkpoint_every == 20
    for flags, names in [
        (["--eval_every_steps=30", "--checkpoint_every_steps=20"],
         r"--eval_every_steps\), 30 steps, must be a multiple of .*--checkpoint_every_steps"),
        (["--checkpoint_every_steps=20", "--steps_per_loop=8"],
         r"--checkpoint_every_steps\), 20 steps, must be a multiple of --steps_per_loop"),
    ]:
        with pytest.raises(SettingsError, match=rf"{names}.*--loop=custom"):
            plan_steps(parse_settings(["--train_steps=60", *flags]), train_size=4000)
        custom = parse_settings(["--train_steps=60", *flags, "--loop=custom"])
        assert plan_steps(custom, train_size=4000).checkpoint_every == 20


def test_a_batch_larger_than_the_data_is_rejected():
    with pytest.raises(SettingsError, match="--batch_size=32 is larger than the 10"):
        plan_steps(parse_settings([]), train_size=10)


def test_a_pretrained_encoder_learns_the_labels_at_a_lower_rate_unless_given_one():
    assert parse_settings(["--pretrain_steps=10"]).learning_rate == 5e-4
    assert parse_settings(["--pretrain_steps=10", "--learning_rate=1e-3"]).learning_rate == 1e-3
    assert parse_settings([]).learning_rate is None


def test_a_classifier_pools_by_the_maximum_after_pretraining_unless_told():
    assert parse_settings(["--pretrain_steps=10"]).pooling == "max"
    assert parse_settings(["--pretrain_steps=10", "--pooling=mean"]).pooling == "mean"
    assert parse_settings([]).pooling == "mean"
    assert parse_settings(["--task=ner"]).pooling is None
    for flags, names in [
        (["--task=ner"], "--pooling=max does not apply to --task=ner: only a classifier pools"),
        (["--teacher=/exports/classifier"], "the student pools as its teacher does"),
    ]:
        with pytest.raises(SettingsError, match=names):
            parse_settings(["--pooling=max", *flags])


def test_pretraining_is_refused_where_it_cannot_run():
    assert parse_settings(["--pretrain_steps=10"]).pretrain_steps == 10
    for flags, names in [
        (["--task=ner"], "not --task=ner"),
        (["--backbone=minilm"], "not a pretrained backbone or a student"),
        (["--teacher=/exports/classifier"], "not a pretrained backbone or a student"),
        (["--strategy=multi_worker_mirrored"], "keras-team/keras#20585"),
    ]:
        with pytest.raises(SettingsError, match=names):
            parse_settings(["--pretrain_steps=10", *flags])


@pytest.mark.parametrize(
    "others, name, value, parsed, message",
    [
        (["--teacher=/x"], "temperature", "0", "0.0", "--temperature must be > 0"),
        (["--teacher=/x"], "temperature", "-1.5", "-1.5", "--temperature must be > 0"),
        ([], "ema_momentum", "1", "1.0", "--ema_momentum must be < 1: at 1 the average keeps"),
        ([], "ema_momentum", "1.5", "1.5", "--ema_momentum must be < 1"),
    ],
)
def test_refused_values_are_named_on_the_command_line_and_in_a_config_file(
    others, name, value, parsed, message, tmp_path
):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings([*others, f"--{name}={value}"])
    path = tmp_path / "job.yaml"
    lines = [flag[2:].replace("=", ": ", 1) for flag in others] + [f"{name}: {value}"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SettingsError, match=re.escape(f"--config={path}: flag --{name}={parsed}: {message}")):
        parse_settings([f"--config={path}"])


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--strategy=mirrored", "--cpu_replicas=2"], "2 replicas (--strategy=mirrored)"),
        (["--strategy=mirrored", "--num_gpus=4"], "4 replicas (--strategy=mirrored)"),
        (["--strategy=tpu"], "several replicas (--strategy=tpu)"),
    ],
)
def test_float16_loss_scaling_is_refused_over_several_replicas(argv, named):
    with pytest.raises(SettingsError, match="mixed_bfloat16") as error:
        parse_settings([*argv, "--mixed_precision=mixed_float16"])
    assert "--mixed_precision=mixed_float16" in str(error.value) and named in str(error.value)
    # One replica, or bfloat16 (no loss scaling), trains.
    assert parse_settings([*argv, "--mixed_precision=mixed_bfloat16"])
    for one in (["--strategy=mirrored", "--cpu_replicas=1"], ["--strategy=one_device"],
                ["--strategy=multi_worker_mirrored"], []):
        assert parse_settings([*one, "--mixed_precision=mixed_float16"])


def test_float16_is_refused_once_the_strategy_shows_several_replicas():
    from trainers.config import check_precision_replicas

    settings = parse_settings(["--strategy=multi_worker_mirrored", "--mixed_precision=mixed_float16"])
    check_precision_replicas(settings, 1)
    with pytest.raises(SettingsError, match="over 2 replicas .*mixed_bfloat16"):
        check_precision_replicas(settings, 2)


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--num_heads=3", "--hidden_dim=16"], "--num_heads=3 must divide --hidden_dim=16"),
        (["--num_heads=4", "--num_kv_heads=3"], "--num_kv_heads=3 must divide --num_heads=4"),
        (["--num_kv_heads=2"], "--num_kv_heads=2 must divide --num_heads=1"),
        (["--task=translation", "--num_heads=3"], "--num_heads=3 must divide --hidden_dim=128"),
        (["--teacher=/t", "--num_heads=3"], "--num_heads=3 must divide the width of --student"),
    ],
)
def test_head_counts_that_do_not_divide_the_width_are_refused_naming_the_flags(argv, named):
    with pytest.raises(SettingsError, match=re.escape(named)):
        parse_settings(argv)
    assert parse_settings(["--num_heads=4", "--num_kv_heads=2", "--hidden_dim=16"]).num_heads == 4


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--task=translation", "--pair_fields=de,en"],
         "--pair_fields=de,en does not apply without --train_data"),
        (["--tpu_timeout_s=1"], "--tpu_timeout_s applies to --strategy=tpu"),
        (["--train_data=a.tsv", "--eval_every_steps=5"],
         "--eval_every_steps=5 does not apply with --train_data but no --eval_data"),
    ],
)
def test_flags_that_would_do_nothing_are_refused(argv, named):
    with pytest.raises(SettingsError, match=re.escape(named)):
        parse_settings(argv)


def test_the_flags_refused_alone_apply_with_what_they_need():
    assert parse_settings(["--strategy=tpu", "--tpu_timeout_s=5"]).tpu_timeout_s == 5
    assert parse_settings(
        ["--task=translation", "--train_data=a.tsv", "--pair_fields=de,en"]).pair_fields == "de,en"
    assert parse_settings(
        ["--train_data=a.tsv", "--eval_data=b.tsv", "--eval_every_steps=5"]).eval_every_steps == 5
    assert parse_settings(["--eval_every_steps=5"]).eval_every_steps == 5  # DEMO evaluation
