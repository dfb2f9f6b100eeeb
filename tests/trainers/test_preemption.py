"""Tests that a stopped job resumes where it was, in both loops: the job runs as a process, is
stopped again and again at random moments, mid-save included, by SIGTERM (a preemption notice,
on which it saves a checkpoint) and SIGKILL, and is started again on its model_dir until it
finishes with the weights of a job that was never stopped."""

import os
import random
import re
import signal
import time

import pytest

from tests.trainers.jobs import TINY, run_job, start_job

# Dropout stays on (its default): a resumed job must draw the same dropout masks too; and it
# ends on the weights' moving average, which a resumed job must carry on from the same state.
FLAGS = [
    *TINY, "--train_steps=240", "--checkpoint_every_steps=20", "--eval_every_steps=240",
    "--steps_per_loop=5", "--ema_momentum=0.9",
]
# Each loop gets both signals, one at a random moment and one in the middle of a save; between
# them, each signal comes both ways.
STOPS = {
    "fit": ("SIGTERM", "SIGKILL mid-save"),
    "custom": ("SIGKILL", "SIGTERM mid-save"),
}
PREEMPTED_EXIT_CODE = 42


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Each loop's job run without a stop, both started at once: `{loop: (process, log path)}`."""
    directory = tmp_path_factory.mktemp("references")
    jobs = {}
    for loop in STOPS:
        log, flags = directory / f"{loop}.log", [*FLAGS, f"--loop={loop}"]
        jobs[loop] = start_job(log, *flags, f"--model_dir={directory / loop}"), log
    yield jobs
    for job, _ in jobs.values():
        if job.poll() is None:
            job.kill()
            job.wait()


def wait_for(condition, job, log, every=0.01, timeout=240):
    """Polls `condition()` every `every` seconds until it holds; fails if `job`
    (writing to `log`) ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert job.poll() is None, f"the job ended too early: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "timed out waiting for the job"
        time.sleep(every)


def saved_step(model_dir):
    """The step of the latest checkpoint whose save finished (0 for none).

    TensorFlow names it in the `checkpoint` file once the checkpoint is whole,
    and replaces that file atomically.
    """
    try:
        state = (model_dir / "checkpoints" / "checkpoint").read_text()
    except FileNotFoundError:
        return 0
    return int(re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state, re.M).group(1))


def saving(model_dir, since):
    """Whether a save is under way: files of a checkpoint newer than the one the state names.

    Only files written after `since` count: a job killed mid-save leaves some behind.
    """
    saved = saved_step(model_dir)
    if not (model_dir / "checkpoints").is_dir():
        return False
    for entry in os.scandir(model_dir / "checkpoints"):
        match = re.match(r"ckpt-(\d+)(_temp|\.)|checkpoint\.tmp", entry.name)
        try:
            fresh = entry.stat().st_mtime >= since
        except FileNotFoundError:  # Renamed or deleted by the save under way.
            return True
        if match and fresh and (match.group(1) is None or int(match.group(1)) > saved):
            return True
    return False


def stop_mid_save(job, log, model_dir, since, signal_number):
    """Sends `signal_number` to `job` while it is saving a checkpoint.

    The job is frozen (SIGSTOP) at the first sign of a save; if the save is
    still unfinished it gets the signal, else it runs on to the next save.
    """
    while True:
        wait_for(lambda: saving(model_dir, since), job, log, every=0.0005)  # A save takes ms.
        job.send_signal(signal.SIGSTOP)
        wait_for(lambda: _process_state(job.pid) == "T", job, log, every=0.0005)
        if saving(model_dir, since):
            job.send_signal(signal_number)
            job.send_signal(signal.SIGCONT)
            return
        job.send_signal(signal.SIGCONT)


def stop_job(job, log, model_dir, saved, started, stop, moments):
    """Stops `job`, started at time `started` on `model_dir` saved at step `saved`, as `stop` says.

    A random stop comes after one or two more checkpoints and a random
    fraction of a host loop.
    """
    kind = signal.SIGTERM if stop.startswith("SIGTERM") else signal.SIGKILL
    if stop.endswith("mid-save"):
        stop_mid_save(job, log, model_dir, started, kind)
        return
    checkpoints_to_wait = moments.randint(1, 2)
    wait_for(lambda: saved_step(model_dir) >= saved + 20 * checkpoints_to_wait, job, log)
    time.sleep(moments.uniform(0, 0.05))
    job.send_signal(kind)


def _process_state(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def start_step(log):
    match = re.search(r"^(?:Custom loop|model\.fit): from step (\d+) to 240\.$", log, re.M)
    assert match, log[-3000:]
    return int(match.group(1))


def weights_digest(output):
    match = re.search(r"^Trained 240 steps; weights digest (\w+)\.$", output, re.M)
    assert match, output[-3000:]
    return match.group(1)


@pytest.mark.parametrize("loop", list(STOPS))
def test_a_job_stopped_again_and_again_ends_with_the_weights_of_one_never_stopped(
    tmp_path, loop, references
):
    flags = [*FLAGS, f"--loop={loop}"]
    moments = random.Random()
    model_dir = tmp_path / "model"
    saved = 0
    for index, stop in enumerate(STOPS[loop]):
        log_path, started = tmp_path / f"stopped_{index}.log", time.time()
        job = start_job(log_path, *flags, f"--model_dir={model_dir}")
        try:
            stop_job(job, log_path, model_dir, saved, started, stop, moments)
            job.wait(timeout=120)
        finally:  # Not left behind, stopped, when an assertion fails.
            if job.poll() is None:
                job.kill()
                job.wait()
        log = log_path.read_text()
        # No step lost or repeated: each run starts at the step the one before saved last.
        assert start_step(log) == saved, f"{stop}: {log[-3000:]}"
        saved = saved_step(model_dir)
        if stop.startswith("SIGTERM"):
            preempted = re.search(r"Preempted: saved \S+ at step (\d+); exiting", log)
            assert job.returncode == PREEMPTED_EXIT_CODE and preempted, log[-3000:]
            assert int(preempted.group(1)) == saved
        else:
            assert job.returncode == -signal.SIGKILL
        assert 0 < saved < 240, f"{stop}: {log[-3000:]}"

    # The newest checkpoint damaged (a truncated file): the job resumes from the one before.
    checkpoints = model_dir / "checkpoints"
    (checkpoints / f"ckpt-{saved}.data-00000-of-00001").write_bytes(b"")
    state = (checkpoints / "checkpoint").read_text()
    previous = re.findall(r'^all_model_checkpoint_paths: "ckpt-(\d+)"', state, re.M)[-2]
    last = run_job(*flags, f"--model_dir={model_dir}")
    assert last.returncode == 0, last.stderr[-3000:]
    assert f"Skipped the unreadable checkpoint {checkpoints / f'ckpt-{saved}'}." in last.stdout
    assert start_step(last.stdout) == int(previous)

    reference, reference_log = references[loop]
    assert reference.wait(timeout=240) == 0, reference_log.read_text()[-3000:]
    assert weights_digest(last.stdout) == weights_digest(reference_log.read_text())


def test_a_fit_job_preempted_mid_epoch_trains_on_from_its_weights_not_their_average(
    tmp_path, references
):
    # The resumed job's first fit trains the rest of the epoch and, as every fit
    # does, ends by writing the moving average into the model; the job goes on
    # from the weights, as the one never stopped did.
    flags = [*FLAGS, "--loop=fit", f"--model_dir={tmp_path}"]
    saved = 0
    while saved % 20 == 0:  # stopped at a checkpoint boundary: again, until mid-epoch
        log_path = tmp_path / f"preempted_after_{saved}.log"
        job = start_job(log_path, *flags)
        try:
            wait_for(lambda: saved_step(tmp_path) > saved, job, log_path)
            job.send_signal(signal.SIGTERM)
            assert job.wait(timeout=120) == PREEMPTED_EXIT_CODE, log_path.read_text()[-3000:]
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
        saved = saved_step(tmp_path)
    last = run_job(*flags)
    assert last.returncode == 0, last.stderr[-3000:]
    assert start_step(last.stdout) == saved
    reference, reference_log = references["fit"]
    assert reference.wait(timeout=240) == 0, reference_log.read_text()[-3000:]
    assert weights_digest(last.stdout) == weights_digest(reference_log.read_text())


class SecondsClock:
    """A stand-in for the `time` module whose clock reads one second later at each reading."""

    def __init__(self):
        self.seconds = 0.0

    def monotonic(self):
        self.seconds += 1.0
        return self.seconds


def test_the_first_progress_line_of_a_resumed_job_measures_from_the_restored_step(
    tmp_path, monkeypatch, capsys
):
    from trainers import progress
    from trainers.config import parse_settings
    from trainers.train import train

    flags = [
        *TINY, "--loop=custom", "--checkpoint_every_steps=10", "--eval_every_steps=10",
        "--steps_per_loop=5", f"--model_dir={tmp_path}",
    ]
    train(parse_settings([*flags, "--train_steps=10"]))
    monkeypatch.setattr(progress, "time", SecondsClock())
    capsys.readouterr()
    train(parse_settings([*flags, "--train_steps=20"]))
    output = capsys.readouterr().out
    assert "Custom loop: from step 10 to 20." in output
    # One second between the line's creation and its first reading: the 5 steps of one loop.
    lines = re.findall(r"^step (\d+)/20 \| ([0-9.]+) steps/s .* ETA (\S+)$", output, re.M)
    assert lines[0] == ("15", "5.0", "0:00:01"), output[-3000:]


def step_checkpoints(directory, restore_from, steps=()):
    """A `CheckpointManager` of one variable, `step`, that saved it at each of `steps`."""
    import tensorflow as tf

    from trainers.checkpointing import CheckpointManager

    step = tf.Variable(0, dtype=tf.int64)
    manager = CheckpointManager(
        tf.train.Checkpoint(step=step), str(directory), str(restore_from), max_to_keep=3
    )
    for value in steps:
        step.assign(value)
        manager.save(checkpoint_number=value)
    return manager


def test_a_torn_checkpoint_file_falls_back_to_the_checkpoints_in_the_directory(tmp_path):
    step_checkpoints(tmp_path, tmp_path, steps=[20, 40])
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-')
    restored = step_checkpoints(tmp_path / "restored", restore_from=tmp_path)
    assert restored.restore_or_initialize() == str(tmp_path / "ckpt-40")
    assert int(restored.checkpoint.step.numpy()) == 40


def test_the_files_of_a_first_save_that_never_finished_are_not_restored(tmp_path):
    (tmp_path / "ckpt-20.index").write_bytes(b"\x00" * 10)  # No `checkpoint` file yet.
    assert step_checkpoints(tmp_path, tmp_path).restore_or_initialize() is None


def test_checkpoints_none_of_which_reads_back_are_kept_not_trained_over(tmp_path):
    from trainers.config import SettingsError

    step_checkpoints(tmp_path, tmp_path, steps=[20, 40])
    for data in tmp_path.glob("ckpt-*.data-*"):
        data.write_bytes(b"")
    restored = step_checkpoints(tmp_path / "restored", restore_from=tmp_path)
    with pytest.raises(SettingsError, match=rf"No checkpoint in {tmp_path} can be restored"):
        restored.restore_or_initialize()
    assert sorted(path.name for path in tmp_path.glob("ckpt-*.index")) == [
        "ckpt-20.index", "ckpt-40.index"
    ]
