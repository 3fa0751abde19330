"""litzoo's Optuna sweeper (hydra/sweeper=optuna): the search-space parser, pruning, resume to the total after
kill -9, trials in parallel processes, the grid sampler's last failing trial, a changed search refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from test_sweep import litzoo_train, summary, sweep_dir

OPTUNA = ["-m", "hydra/sweeper=optuna"]
FAST = ["trainer=debug", "test=false", "callbacks=minimal", "logger=none"]
# 3 short epochs a trial: enough epochs for the median pruner to compare trials
EPOCHS3 = ["trainer=cpu", "trainer.max_epochs=3", "+trainer.limit_train_batches=5", "+trainer.limit_val_batches=3",
           "test=false", "callbacks=minimal", "logger=none"]
WIDE_LR = "optimizer.lr=tag(log,interval(1e-5,3.0))"  # wide enough that some trials are bad


def study_trials(folder: Path) -> list:
    import optuna

    storage = f"sqlite:///{folder / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage).trials


def test_search_space_reads_hydras_sweep_syntax() -> None:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from litzoo.sweep.search_space import SearchSpaceError, parse_search_space

    space = parse_search_space(["optimizer.lr=tag(log,interval(1e-5,1e-1))", "a=interval(0.1,0.9)",
                                "b=int(interval(1,8))", "optimizer=adam,rmsprop", "c=choice(32,64)", "d=range(1,7,2)",
                                "e=range(0.5,2.0,0.5)", "trainer.max_epochs=3", "paths.root_dir=/x"])
    d = space.distributions
    assert d["optimizer.lr"] == FloatDistribution(1e-5, 1e-1, log=True)
    assert d["a"] == FloatDistribution(0.1, 0.9) and d["b"] == IntDistribution(1, 8)
    assert d["optimizer"] == CategoricalDistribution(["adam", "rmsprop"])
    assert d["c"] == CategoricalDistribution([32, 64])
    assert d["d"] == IntDistribution(1, 5, step=2)  # Hydra's range excludes its stop
    assert d["e"] == FloatDistribution(0.5, 1.5, step=0.5)
    assert space.constants == ["trainer.max_epochs=3", "paths.root_dir=/x"]
    assert space.overrides({"optimizer": "adam", "c": 32, "x": None, "y": True})[:4] == [
        "optimizer=adam", "c=32", "x=null", "y=true"]
    sig = space.signature()  # paths may change when a search is continued; the other constants may not
    assert sig["constants"] == ["trainer.max_epochs=3"] and set(sig["space"]) == set(d)
    grid = parse_search_space(["optimizer=adam,sgd", "d=range(1,7,2)"]).grid()
    assert grid == {"optimizer": ["adam", "sgd"], "d": [1, 3, 5]}
    with pytest.raises(SearchSpaceError, match="discrete"):
        space.grid()


def test_grid_search_whose_last_trial_fails_ends_cleanly_and_refuses_a_changed_search(tmp_path: Path) -> None:
    """Was (hydra-optuna-sweeper): the grid's last trial failing crashed the sweeper with a RuntimeError."""
    # both lr refused: the last fails; a one-value choice is still a searched parameter with its own column
    args = [*OPTUNA, "hydra/sweeper/sampler=grid", "optimizer.lr=-1,-2", "data.batch_size=choice(64)", *FAST]
    out = litzoo_train(tmp_path, *args)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    folder = sweep_dir(tmp_path)
    assert sorted(r["status"] for r in summary(folder)) == ["failed", "failed"]
    assert {r["data.batch_size"] for r in summary(folder)} == {"64"}  # multirun.yaml names the searched keys
    assert [t.state.name for t in study_trials(folder)] == ["FAIL", "FAIL"]

    changed = litzoo_train(tmp_path, *[a.replace("-1,-2", "-1,-3") for a in args], f"hydra.sweep.dir={folder}")
    assert changed.returncode == 1 and "Traceback" not in changed.stderr
    assert "started with another search (changed: optimizer.lr" in changed.stderr
    assert len(study_trials(folder)) == 2 and len(summary(folder)) == 2  # nothing touched


def test_parallel_trials_run_at_once_in_their_own_processes_with_a_share_of_the_cores(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    out = litzoo_train(tmp_path, *OPTUNA, "hydra/sweeper/sampler=grid", "hydra.sweeper.n_jobs=2", "optimizer=adam,sgd",
                       *FAST)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"2 trials at once, each in its own process with {max(cores // 2, 1)} thread(s)" in out.stdout
    folder = sweep_dir(tmp_path)
    rows = summary(folder)
    assert sorted(r["optimizer"] for r in rows) == ["adam", "sgd"] and {r["status"] for r in rows} == {"ok"}
    records = [json.loads((folder / r["run_dir"] / "results.json").read_text()) for r in rows]
    (s1, e1), (s2, e2) = ((datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["finished"]))
                          for r in records)
    assert s1 <= e2 and s2 <= e1  # the two trials overlapped in time
    assert {r["trial"] for r in rows} == {"0", "1"} and len(study_trials(folder)) == 2


@pytest.mark.slow
def test_median_pruner_prunes_bad_trials_and_a_pruned_trial_is_not_a_failure(tmp_path: Path) -> None:
    out = litzoo_train(tmp_path, *OPTUNA, "hydra.sweeper.n_trials=8", WIDE_LR, *EPOCHS3)
    assert out.returncode == 0, out.stderr[-3000:]  # every trial ok or pruned
    folder = sweep_dir(tmp_path)
    rows = summary(folder)
    statuses = {r["status"] for r in rows}
    assert len(rows) == 8 and "pruned" in statuses and statuses <= {"ok", "pruned"}
    pruned = next(r for r in rows if r["status"] == "pruned")
    record = json.loads((folder / pruned["run_dir"] / "results.json").read_text())
    assert record["status"] == "pruned" and record["pruned_epoch"] == record["epochs"] == int(pruned["epochs"]) < 3
    assert (folder / pruned["run_dir"] / "checkpoints" / "last.ckpt").is_file()  # its checkpoints are kept
    assert {t.state.name for t in study_trials(folder)} == {"COMPLETE", "PRUNED"}
    for picture in ("optimization_history.png", "param_importances.png"):
        assert (folder / picture).stat().st_size > 1000
    text = (folder / "summary.md").read_text()
    assert "Optuna best parameters: trial " in text and "Parameter importances (fANOVA): optimizer.lr" in text


@pytest.mark.slow
def test_search_killed_during_trial_4_resumes_to_its_total(tmp_path: Path) -> None:
    args = [*OPTUNA, "hydra.sweeper.n_trials=8", "hydra.sweeper.pruner=none", WIDE_LR, *EPOCHS3]
    cmd = [sys.executable, "-m", "litzoo.cli.train", *args, f"paths.root_dir={tmp_path}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # trial 3 (the 4th) has started and written its first checkpoint
            if line.startswith("Job 4/8"):
                break
        folder = sweep_dir(tmp_path)
        deadline = time.monotonic() + 120
        while not list(folder.glob("3_*/checkpoints/last.ckpt")) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    (trial3,) = folder.glob("3_*")
    assert json.loads((trial3 / "results.json").read_text())["status"] == "running"
    finished = {p.parent.name: p.stat().st_mtime_ns for p in folder.glob("[012]_*/results.json")}
    assert len(finished) == 3

    out = litzoo_train(tmp_path, *args, f"hydra.sweep.dir={folder}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(study_trials(folder)) == 8 and len(summary(folder)) == 8
    assert {t.state.name for t in study_trials(folder)} == {"COMPLETE"}
    assert {p.parent.name: p.stat().st_mtime_ns for p in folder.glob("[012]_*/results.json")} == finished  # not re-run
    resumed = json.loads((trial3 / "results.json").read_text())
    assert resumed["status"] == "ok" and resumed["resumes"][-1]["checkpoint"].endswith("last.ckpt")
    assert "Job 1/8" not in out.stdout and "Job 4/8" in out.stdout



def test_a_second_ctrl_c_does_not_cut_short_the_wait_for_stopping_trials() -> None:
    """Ctrl-C during n_jobs>1: the trials get SIGTERM and time to record themselves `interrupted` before the table
    is printed. A second SIGINT meanwhile (a terminal's Ctrl-C reaches every process; `timeout` forwards its own)
    used to raise inside that wait: the table could show a trial `running` whose record came after it."""
    from litzoo.sweep.processes import _stop

    class Trial:  # a trial process: the second Ctrl-C arrives as it is asked to stop
        alive, joined = True, False

        def is_alive(self) -> bool:
            return self.alive

        def terminate(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)

        def join(self, timeout: float | None = None) -> None:
            self.alive, self.joined = False, True

        def kill(self) -> None:
            self.alive = False

    class SecondCtrlC(Exception):
        pass

    def ctrl_c(signum: int, frame: object) -> None:  # stands for the KeyboardInterrupt a real one raises
        raise SecondCtrlC

    trial, before = Trial(), signal.signal(signal.SIGINT, ctrl_c)
    try:
        _stop({0: (trial, 0, Path("."))})
        assert trial.joined and signal.getsignal(signal.SIGINT) is ctrl_c  # waited; Ctrl-C works again after
    finally:
        signal.signal(signal.SIGINT, before)
