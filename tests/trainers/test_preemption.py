"""Tests that a stopped job resumes where it was: the job runs as a process, is sent SIGTERM
(a preemption notice) or SIGKILL once it has checkpointed, and is started again on its model_dir."""

import json
import re
import signal
import time

from tests.trainers.jobs import TINY, epoch_losses, progress_losses, run_job, start_job

# Enough steps that the loss falls well below its start before the job is stopped.
RESUMABLE = [
    *TINY, "--train_examples=512", "--train_steps=600", "--checkpoint_every_steps=100",
    "--learning_rate=5e-3", "--dropout=0",
]


def wait_for(condition, job, timeout=240):
    """Polls `condition()` until it holds; fails if `job` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert job.poll() is None, f"the job ended (code {job.returncode}) too early"
        assert time.monotonic() < deadline, "timed out waiting for the job"
        time.sleep(0.02)


def latest_checkpoint_step(model_dir):
    indexes = (model_dir / "checkpoints").glob("ckpt-*.index")
    return max((int(path.stem.split("-")[1]) for path in indexes), default=0)


def backed_up_epochs(model_dir):
    try:
        return json.loads((model_dir / "backup" / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError):  # Not written yet, or being written.
        return 0


def loss_at(losses, step):
    """The last logged loss at or before `step`."""
    return [loss for logged_step, loss in losses if logged_step <= step][-1]


def assert_loss_curve_continues(initial, last_before, first_after):
    assert abs(first_after - last_before) < abs(first_after - initial), (
        f"after resuming the loss is {first_after:.3f}: it continues neither from "
        f"{last_before:.3f} before the stop (from {initial:.3f} at the start)"
    )


def test_the_custom_loop_resumes_after_sigterm_and_after_sigkill(tmp_path):
    model_dir = tmp_path / "model"
    flags = [*RESUMABLE, "--loop=custom", "--steps_per_loop=20", f"--model_dir={model_dir}"]

    # SIGTERM: the preemption handler saves a checkpoint and exits.
    first = start_job(tmp_path / "first.log", *flags)
    wait_for(lambda: latest_checkpoint_step(model_dir) >= 200, first)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=120)
    first_log = (tmp_path / "first.log").read_text()
    preempted = re.search(r"Preempted: saved \S+ at step (\d+); exiting", first_log)
    assert first.returncode != 0 and preempted, first_log[-3000:]
    preempted_step = int(preempted.group(1))
    assert 200 <= preempted_step < 600

    # SIGKILL: nothing is saved; the next run resumes from the last periodic checkpoint.
    second = start_job(tmp_path / "second.log", *flags)
    wait_for(lambda: latest_checkpoint_step(model_dir) >= preempted_step + 100, second)
    second.kill()
    second.wait(timeout=60)
    killed_step = latest_checkpoint_step(model_dir)

    third = run_job(*flags)
    assert third.returncode == 0, third.stderr[-3000:]

    second_log = (tmp_path / "second.log").read_text()
    assert f"Custom loop: from step {preempted_step} to 600." in second_log
    assert f"Custom loop: from step {killed_step} to 600." in third.stdout
    assert "Trained 600 steps" in third.stdout
    assert latest_checkpoint_step(model_dir) == 600
    assert (model_dir / "summaries" / "train").is_dir()
    first_losses, second_losses = progress_losses(first_log), progress_losses(second_log)
    third_losses = progress_losses(third.stdout)
    initial = first_losses[0][1]
    assert_loss_curve_continues(initial, loss_at(first_losses, preempted_step), second_losses[0][1])
    assert_loss_curve_continues(initial, loss_at(second_losses, killed_step), third_losses[0][1])


def test_the_fit_loop_resumes_from_its_backup_after_sigterm(tmp_path):
    model_dir = tmp_path / "model"
    flags = [*RESUMABLE, "--loop=fit", f"--model_dir={model_dir}"]

    first = start_job(tmp_path / "first.log", *flags)
    wait_for(lambda: backed_up_epochs(model_dir) >= 2, first)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)
    epochs_done = backed_up_epochs(model_dir)
    assert 2 <= epochs_done < 6

    second = run_job(*flags)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"Resuming model.fit at step {epochs_done * 100}" in second.stdout
    resumed_losses = epoch_losses(second.stdout)
    assert [epoch for epoch, _ in resumed_losses] == list(range(epochs_done + 1, 7))
    assert "Trained 600 steps" in second.stdout
    assert (model_dir / "summaries" / "train").is_dir()
    first_losses = dict(epoch_losses((tmp_path / "first.log").read_text()))
    assert_loss_curve_continues(first_losses[1], first_losses[epochs_done], resumed_losses[0][1])
