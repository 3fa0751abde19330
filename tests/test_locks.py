"""One writer per run folder (litzoo.run.lock): a second process is refused naming the holder, a killed holder's
lock is taken over, nested use in one process keeps the lock, two resumes of one run never interleave."""
from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litzoo.run.lock import LOCK_FILE, RunLocked, holder, run_lock

HOLD = """import sys, time
from litzoo.run.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(300)
"""
FAST = ("++trainer.limit_train_batches=4", "data.batch_size=32", "callbacks=minimal", "logger=none")


def hold_in_child(run_dir: Path) -> subprocess.Popen:
    """Another process that takes `run_dir`'s lock with litzoo's own API and sleeps."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def holder_seen_by_another_process(run_dir: Path) -> str:
    code = "import sys\nfrom litzoo.run.lock import holder\nprint(holder(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True).stdout.strip()


def test_a_second_process_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    try:
        named = f"pid {child.pid} on {socket.gethostname()} since "
        assert holder(tmp_path).startswith(named)
        with pytest.raises(RunLocked, match="is in use: " + named) as refused:
            with run_lock(tmp_path):
                pytest.fail("entered a folder another process holds")
        assert "history.csv" in str(refused.value) and "\n" not in str(refused.value)  # one paragraph
    finally:
        child.send_signal(signal.SIGKILL)  # no clean-up in the child: the kernel drops its lock
        child.wait()
    assert f"{child.pid}@" in (tmp_path / LOCK_FILE).read_text()  # the killed holder's line is still there
    assert holder(tmp_path) is None  # ... but nobody holds the lock
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().startswith(f"{os.getpid()}@{socket.gethostname()} since ")
    assert (tmp_path / LOCK_FILE).read_text() == ""  # free again


def test_a_stale_lock_file_of_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text(f"999999999@{socket.gethostname()} since 2026-01-01T00:00:00+00:00\n")
    assert holder(tmp_path) is None
    with run_lock(tmp_path):
        assert holder(tmp_path).startswith(f"pid {os.getpid()} ")


def test_nested_locks_in_one_process_keep_the_lock(tmp_path: Path) -> None:
    """POSIX locks: closing any descriptor of the file drops the process's lock. The inner run_lock (train()
    inside a sweep's run_job) must not open and close the file again."""
    with run_lock(tmp_path):
        with run_lock(tmp_path):
            pass
        assert holder_seen_by_another_process(tmp_path).startswith(f"pid {os.getpid()} ")
        assert holder(tmp_path).startswith(f"pid {os.getpid()} ")  # asking in this process keeps it too
        assert holder_seen_by_another_process(tmp_path).startswith(f"pid {os.getpid()} ")
    assert holder_seen_by_another_process(tmp_path) == "None"


def test_ddp_ranks_other_than_zero_do_not_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    child = hold_in_child(tmp_path)  # rank zero of the run
    try:
        monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
        with run_lock(tmp_path):  # rank 1 works in the same folder
            pass
    finally:
        child.kill()
        child.wait()


def epochs_in(run: Path) -> list[int]:
    with open(run / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_two_resumes_of_one_run_at_once_one_is_refused(make_cfg, tmp_path: Path) -> None:
    from litzoo.run.fit import train

    run = tmp_path / "run"
    train(make_cfg(*FAST, "trainer.max_epochs=1"))
    cmd = [sys.executable, "-m", "litzoo.cli.train", f"ckpt_path={run}", "trainer.max_epochs=500"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    deadline = time.time() + 240
    while all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.2)
    refused = next((p for p in procs if p.poll() is not None), None)
    winner = next(p for p in procs if p is not refused)
    while len(epochs_in(run)) < 3 and winner.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    winner.send_signal(signal.SIGINT)  # 500 epochs: the winner is still training
    winner.communicate(timeout=120)
    assert refused is not None, "neither resume finished"
    _, err = refused.communicate()
    assert refused.returncode == 1, err[-2000:]
    assert f"is in use: pid {winner.pid} on {socket.gethostname()} since " in err and "Traceback" not in err
    assert winner.returncode == 130
    epochs = epochs_in(run)
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 3  # one writer: no duplicate epochs
