"""A sweep survives what real sweeps meet: a DDP rank that fails or is killed, Ctrl-C and SIGTERM (SLURM's time
limit), a re-run with a changed setting, a sweep over experiments. Faults are injected into every process of
the command (DDP ranks included) by a sitecustomize module that reads LITZOO_TEST_* variables."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakedata import write_mnist

FAST = ["trainer=debug", "test=false", "callbacks=minimal", "logger=none"]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=1",
       "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2", "test=false", "callbacks=minimal",
       "logger=none"]
FAULTS = r'''
"""litzoo's test faults (tests/test_sweep_faults.py), in every Python process of the command under test."""
import errno, io, os, signal, sys, time

class _FullFile:
    """A file on a full disk: opening works, every write fails with ENOSPC, as on a real one."""
    def __init__(self, f):
        self._f = f
    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._f.close()
    def __getattr__(self, name):
        return getattr(self._f, name)

def _full_disk(spec):
    """'pattern@n;...': writes to a path containing a pattern fail, after its first n."""
    rules = {}
    for item in spec.split(";"):
        pattern, _, allowed = item.partition("@")
        rules[pattern] = int(allowed or 0)
    real_open = io.open
    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, int) or not any(c in mode for c in "wax+"):
            return f
        for pattern in rules:
            if pattern in os.fsdecode(file):
                rules[pattern] -= 1
                return f if rules[pattern] >= 0 else _FullFile(f)
        return f
    import builtins
    builtins.open = io.open = full_open

def _steps(spec, slow):
    """'token:action;...': at each optimizer step of a process whose argv holds `token`: raise (every rank) or
    kill1 (rank 1 SIGKILLs itself); `slow` seconds of sleep per step."""
    import torch.optim
    rules = dict(item.split(":") for item in spec.split(";") if item)
    real_step = torch.optim.RMSprop.step
    def step(self, *args, **kwargs):
        for token, action in rules.items():
            if token in sys.argv and action == "raise":
                raise ValueError("injected: a bad value only caught at fit time")
            if token in sys.argv and action == "kill1" and os.environ.get("LOCAL_RANK") == "1":
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(slow)
        return real_step(self, *args, **kwargs)
    torch.optim.RMSprop.step = step

if os.environ.get("LITZOO_TEST_FULL"):
    _full_disk(os.environ["LITZOO_TEST_FULL"])
if os.environ.get("LITZOO_TEST_STEPS") or os.environ.get("LITZOO_TEST_SLOW_STEP"):
    _steps(os.environ.get("LITZOO_TEST_STEPS", ""), float(os.environ.get("LITZOO_TEST_SLOW_STEP", "0")))
'''


def command(tmp_path: Path, *args: str, faults: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """`litzoo-train ARGS` with logs under tmp_path, and the faults (LITZOO_TEST_*) in every process it starts."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(FAULTS)
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(
        [str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]), **(faults or {})}
    env.pop("HYDRA_FULL_ERROR", None)
    return [sys.executable, "-m", "litzoo.cli.train", *args, f"paths.root_dir={tmp_path}"], env


def litzoo_train(tmp_path: Path, *args: str, faults: dict[str, str] | None = None,
                 timeout: int = 300) -> subprocess.CompletedProcess:
    cmd, env = command(tmp_path, *args, faults=faults)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)


def processes_of(tmp_path: Path) -> list[str]:
    """Command lines of live processes that mention tmp_path (the sweep, its ranks): /proc, no psutil."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if str(tmp_path) in cmdline and entry.name != str(os.getpid()) and "State:\tZ" not in status:
            found.append(f"{entry.name}: {cmdline}")
    return found


def no_process_left(tmp_path: Path, wait_s: float = 15) -> list[str]:
    deadline = time.time() + wait_s
    while (left := processes_of(tmp_path)) and time.time() < deadline:
        time.sleep(0.2)
    return left


def summary(folder: Path) -> dict[str, dict[str, str]]:
    """summary.csv's rows by run folder."""
    with open(folder / "summary.csv", newline="") as f:
        return {row["run_dir"]: row for row in csv.DictReader(f)}


def the_sweep(tmp_path: Path, name: str = "digits_convnet") -> Path:
    (found,) = (tmp_path / "logs" / name / "multiruns").iterdir()
    return found


def wait_for(path_glob: str, root: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not list(root.glob(path_glob)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert list(root.glob(path_glob)), f"{path_glob} never appeared (exit {proc.poll()})"


@pytest.mark.slow
def test_ddp_jobs_that_fail_or_lose_a_rank_never_take_the_sweep_down(tmp_path: Path) -> None:
    """Was: exit 137 (Lightning's observer SIGKILLs the main process when a rank exits non-zero), no table, the
    job's record left `running`, later jobs never ran, a rank-1 process left training on its own."""
    out = litzoo_train(tmp_path, "-m", *DDP, "seed=1,2,3",
                       faults={"LITZOO_TEST_STEPS": "seed=1:kill1;seed=2:raise"})
    assert out.returncode == 1, out.stderr[-3000:]
    rows = summary(the_sweep(tmp_path))
    assert {k: r["status"] for k, r in rows.items()} == {"seed=1": "interrupted", "seed=2": "failed", "seed=3": "ok"}
    assert "DDP rank 1 (pid " in rows["seed=1"]["error"] and "was killed by SIGKILL" in rows["seed=1"]["error"]
    assert "injected: a bad value only caught at fit time" in rows["seed=2"]["error"]  # rank 0's own error
    assert "Traceback" not in out.stderr
    assert no_process_left(tmp_path) == []


def test_kill_9_of_a_ddp_sweep_takes_its_ranks_with_it(tmp_path: Path) -> None:
    """Was: rank 1 trained on alone (it only noticed at its next collective, here 30 s away)."""
    cmd, env = command(tmp_path, "-m", *DDP, "seed=1,2", faults={"LITZOO_TEST_SLOW_STEP": "30"})
    sweep = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any("train_ddp_process_1" in p for p in processes_of(tmp_path)) and time.time() < deadline:
        time.sleep(0.2)
    assert any("train_ddp_process_1" in p for p in processes_of(tmp_path)), "rank 1 never started"
    sweep.kill()
    sweep.wait()
    assert no_process_left(tmp_path, wait_s=3) == []


def test_ddp_spawn_is_refused_with_the_reason(make_cfg) -> None:
    """Was: a PicklingError on a lambda of models/layers.py; pickled, the run would be recorded with 0 epochs (its
    epoch history stays in the spawned processes)."""
    from litzoo.run.checks import validate_config
    from litzoo.errors import LitzooError

    with pytest.raises(LitzooError, match=r"trainer.strategy='ddp_spawn' is not valid: .*epoch history"):
        validate_config(make_cfg("trainer=ddp", "trainer.strategy=ddp_spawn"))
    validate_config(make_cfg("trainer=ddp"))


def _signal_a_sweep(tmp_path: Path, sig: int, epochs: int, slow_step: str) -> tuple[subprocess.Popen, str, str]:
    """A two-job sweep, signalled once its first job has written last.ckpt: (process, stdout, stderr)."""
    cmd, env = command(tmp_path, "-m", "optimizer.lr=1e-3,2e-3", *FAST, f"trainer.max_epochs={epochs}",
                       faults={"LITZOO_TEST_SLOW_STEP": slow_step})
    sweep = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("logs/*/multiruns/*/optimizer.lr=0.001/checkpoints/last.ckpt", tmp_path, sweep)
    sweep.send_signal(sig)
    out, err = sweep.communicate(timeout=120)
    return sweep, out, err


def test_sigterm_ends_a_sweep_with_its_table_and_the_job_interrupted(tmp_path: Path) -> None:
    """Was: exit 143 with no record of the signal, no table (summary.csv of the job before), no resume line."""
    sweep, out, err = _signal_a_sweep(tmp_path, signal.SIGTERM, epochs=3, slow_step="0.2")
    assert sweep.returncode == 143, err[-3000:]
    folder = the_sweep(tmp_path)
    job = summary(folder)["optimizer.lr=0.001"]
    assert job["status"] == "interrupted" and job["error"] == "interrupted (SIGTERM)"
    assert "Traceback" not in err and "Traceback" not in out
    (line,) = [line for line in err.splitlines() if line.startswith("Interrupted (SIGTERM)")]
    assert f"hydra.sweep.dir={folder}" in line and "job 1/2 (optimizer.lr=0.001)" in line
    assert no_process_left(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_ends_a_sweep_and_the_rerun_resumes_the_job(tmp_path: Path) -> None:
    sweep, _, err = _signal_a_sweep(tmp_path, signal.SIGINT, epochs=2, slow_step="0.3")
    assert sweep.returncode == 130 and "Traceback" not in err, err[-3000:]
    folder = the_sweep(tmp_path)
    assert summary(folder)["optimizer.lr=0.001"]["error"] == "interrupted (SIGINT)"
    out = litzoo_train(tmp_path, "-m", "optimizer.lr=1e-3,2e-3", *FAST, "trainer.max_epochs=2",
                       f"hydra.sweep.dir={folder}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "optimizer.lr=0.001: resuming (interrupted) from " in out.stdout
    assert {r["status"] for r in summary(folder).values()} == {"ok"}


def test_sigterm_during_a_single_run_is_recorded_as_sigterm(tmp_path: Path) -> None:
    """Was: recorded as "interrupted by the user (Ctrl-C)" (the default handler: no record at all)."""
    run = tmp_path / "run"
    cmd, env = command(tmp_path, *FAST, "trainer.max_epochs=3", f"hydra.run.dir={run}",
                       faults={"LITZOO_TEST_SLOW_STEP": "0.2"})
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("run/checkpoints/last.ckpt", tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "interrupted" and results["error"] == "interrupted (SIGTERM)"
    assert "Interrupted (SIGTERM)" in err and "Traceback" not in err


def test_a_rerun_with_a_changed_setting_is_refused_once_without_a_traceback(tmp_path: Path) -> None:
    """Was: the refusal printed twice, inside a Hydra traceback."""
    folder = tmp_path / "sweep"
    job = folder / "optimizer.lr=0.001"
    job.mkdir(parents=True)
    (job / "results.json").write_text(json.dumps(
        {"status": "ok", "overrides": ["optimizer.lr=0.001", *FAST], "metrics": {"best/val_loss": 0.5}}))
    out = litzoo_train(tmp_path, "-m", "optimizer.lr=1e-3,2e-3", *FAST, "data.batch_size=32",
                       f"hydra.sweep.dir={folder}")
    assert out.returncode == 1
    assert out.stderr.count("other values of data.batch_size") == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert not (folder / "optimizer.lr=0.002").exists()  # the sweep stopped at the refusal


def test_a_sweep_over_experiments_gives_each_job_its_folder_and_row(tmp_path: Path) -> None:
    """lightning-hydra-template's test_experiments. Was: every job after the first refused (all shared the
    sweep folder: `experiment` left out of the folder names), or the jobs scattered over logs/<name>/ and the
    table said "no jobs yet"."""
    write_mnist(tmp_path / "data")
    out = litzoo_train(tmp_path, "-m", "experiment=digits_convnet,mnist_convnet", "++trainer.fast_dev_run=true",
                       "callbacks=minimal", "logger=none")
    assert out.returncode == 0, out.stderr[-3000:]
    (folder,) = (tmp_path / "logs" / "multiruns").iterdir()  # no one experiment's folder
    rows = summary(folder)
    assert {k: r["status"] for k, r in rows.items()} == {"experiment=digits_convnet": "ok",
                                                         "experiment=mnist_convnet": "ok"}
    assert {r["experiment"] for r in rows.values()} == {"digits_convnet", "mnist_convnet"}
    assert not (tmp_path / "logs" / "digits_convnet").exists() and not (tmp_path / "logs" / "mnist_convnet").exists()
    assert "Job 1/2: experiment=digits_convnet" in out.stdout and "Job 2/2: experiment=mnist_convnet" in out.stdout


def test_first_showing_answers_once_per_sweep_and_text(tmp_path: Path) -> None:
    from litzoo.sweep.jobs import ACTIVE, first_showing

    assert first_showing("summary") and first_showing("summary")  # outside a sweep: always shown
    ACTIVE.reset(tmp_path)
    try:
        assert first_showing("summary") and not first_showing("summary") and first_showing("another model")
    finally:
        ACTIVE.reset()
    assert first_showing("summary")


def test_a_sweep_prints_the_model_summary_once(tmp_path: Path) -> None:
    out = litzoo_train(tmp_path, "-m", "optimizer=adam,rmsprop", *FAST)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Job 1/2: optimizer=adam" in out.stdout and "Job 2/2: optimizer=rmsprop" in out.stdout
    assert out.stdout.count("Total params") == 1
