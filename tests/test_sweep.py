"""Sweeps as a unit: the summary of ok/diverged/failed jobs, resuming a sweep, Optuna, 2-process DDP."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from litzoo.cli import sweep
from litzoo.run.lock import LOCK_FILE, run_lock
from test_locks import HOLD

FAST = ["trainer=debug", "test=false"]  # 1 epoch of 5 batches: each job takes seconds


def litzoo_train(tmp_path: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`litzoo-train ARGS` in a subprocess, logs under tmp_path, wide terminal."""
    cmd = [sys.executable, "-m", "litzoo.cli.train", *args, f"paths.root_dir={tmp_path}"]
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)


def sweep_dir(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "logs" / "digits_convnet" / "multiruns").iterdir()
    return found


def summary(folder: Path) -> list[dict[str, str]]:
    with open(folder / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_with_diverged_and_invalid_jobs_summarises_all_and_exits_nonzero(tmp_path: Path, capsys) -> None:
    out = litzoo_train(tmp_path, "-m", "optimizer.lr=1e-3,1e6,-1,abc", *FAST)
    assert out.returncode == 1, out.stderr[-3000:]
    folder = sweep_dir(tmp_path)
    rows = summary(folder)
    assert {r["optimizer.lr"]: r["status"] for r in rows} == {
        "0.001": "ok", "1000000.0": "diverged", "-1": "failed", "abc": "failed"}
    assert rows[0]["status"] == "ok" and float(rows[0]["best/val_loss"]) > 0  # sorted by the objective
    assert all(r["error"] for r in rows[1:]) and "learning rate" in rows[1]["error"]
    assert sorted(r["run_dir"] for r in rows)[0] == "optimizer.lr=-1"  # constant trainer=debug left out
    assert "4 jobs: 1 ok, 1 diverged, 2 failed" in out.stdout and "did not finish ok" in out.stderr
    assert (folder / "summary.md").read_text().count("\n| ") == 5  # header + 4 jobs
    sweep.main([str(folder)])  # the command rebuilds the same table for any sweep folder
    assert "1000000.0" in capsys.readouterr().out


def test_summary_of_a_running_sweep_tells_running_from_killed_jobs(tmp_path: Path, capsys) -> None:
    from omegaconf import OmegaConf

    from litzoo.run import record

    def job(name: str, status: str | None, pid: int | None = None) -> Path:
        folder = tmp_path / f"optimizer.lr={name}"
        (folder / ".hydra").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create([f"optimizer.lr={name}"]), folder / ".hydra" / "overrides.yaml")
        if status:
            record.write_results(folder, {"status": status, "overrides": [f"optimizer.lr={name}"],
                                          "metrics": {"best/val_loss": 0.5} if status == "ok" else {}})
        if pid:  # the holder line a killed process leaves behind; its lock went with it
            (folder / LOCK_FILE).write_text(f"{pid}@{socket.gethostname()} since 2026-01-01T00:00:00+00:00\n")
        return folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    job("0.1", "ok")
    running = job("0.2", "running")
    job("0.3", "running", int(dead.stdout))  # its process is gone: killed
    job("0.4", None)  # Hydra made the folder; the job never wrote a record
    with run_lock(running):  # this process trains it: still running
        sweep.main([str(tmp_path)])
    statuses = {r["optimizer.lr"]: r["status"] for r in summary(tmp_path)}
    assert statuses == {"0.1": "ok", "0.2": "running", "0.3": "interrupted", "0.4": "interrupted"}
    assert "4 jobs: 1 ok, 1 running, 2 interrupted" in capsys.readouterr().out


def test_rerun_skips_ok_jobs_resumes_killed_and_reruns_failed(tmp_path: Path) -> None:
    args = ["-m", "optimizer.lr=1e-3,2e-3,-1", *FAST]
    assert litzoo_train(tmp_path, *args).returncode == 1
    folder = sweep_dir(tmp_path)
    records = {p.parent.name: p for p in folder.glob("*/results.json")}
    assert len(records) == 3
    killed = records.pop("optimizer.lr=0.002")
    killed.unlink()  # as after kill -9 before the record was written: checkpoints/last.ckpt remains
    before = {name: p.stat().st_mtime_ns for name, p in records.items()}

    out = litzoo_train(tmp_path, *args, f"hydra.sweep.dir={folder}")
    assert out.returncode == 1, out.stderr[-3000:]
    assert "optimizer.lr=0.001: already ok, skipped" in out.stdout
    assert records["optimizer.lr=0.001"].stat().st_mtime_ns == before["optimizer.lr=0.001"]
    assert records["optimizer.lr=-1"].stat().st_mtime_ns != before["optimizer.lr=-1"]  # failed: run again
    kept = folder / "optimizer.lr=-1" / ".attempts" / "1" / "results.json"  # the first attempt's record is kept
    assert json.loads(kept.read_text())["status"] == "failed"
    resumed = json.loads(killed.read_text())
    assert resumed["status"] == "ok" and resumed["resumes"][-1]["checkpoint"].endswith("last.ckpt")
    assert sorted(r["status"] for r in summary(folder)) == ["failed", "ok", "ok"]


def test_rerun_reruns_an_unreadable_job_and_skips_a_job_another_process_holds(tmp_path: Path) -> None:
    """Was: a results.json holding a JSON list crashed the job with an AttributeError; a job folder another
    process trained in was trained again by the re-run."""
    args = ["-m", "optimizer.lr=1e-3,2e-3", *FAST]
    assert litzoo_train(tmp_path, *args).returncode == 0
    folder = sweep_dir(tmp_path)
    bad, held = folder / "optimizer.lr=0.001", folder / "optimizer.lr=0.002"
    (bad / "results.json").write_text("[1, 2]\n")
    (held / "results.json").unlink()  # as if killed: a re-run would resume it from its last.ckpt
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = {p: p.stat().st_mtime_ns for p in held.rglob("*") if ".hydra" not in p.parts}  # Hydra rewrites .hydra/
        out = litzoo_train(tmp_path, *args, f"hydra.sweep.dir={folder}")
        assert out.returncode == 1, out.stderr[-3000:]  # the held job is not ok (yet): as for any sweep
        assert f"optimizer.lr=0.002: held by pid {holder.pid} on {socket.gethostname()} since " in out.stdout
        assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
        assert "optimizer.lr=0.001: " in out.stdout and "results.json is unreadable: not a JSON object" in out.stdout
        assert json.loads((bad / ".attempts" / "1" / "results.json").read_text()) == [1, 2]  # kept, moved aside
        assert json.loads((bad / "results.json").read_text())["status"] == "ok"  # run again from scratch
        assert {p: p.stat().st_mtime_ns for p in held.rglob("*") if ".hydra" not in p.parts} == before
        assert {r["optimizer.lr"]: r["status"] for r in summary(folder)} == {"0.001": "ok", "0.002": "running"}
    finally:
        holder.kill()
        holder.wait()
    sweep.main([str(folder)])  # its holder is gone: the job was killed
    assert {r["optimizer.lr"]: r["status"] for r in summary(folder)} == {"0.001": "ok", "0.002": "interrupted"}


def test_optuna_reports_failed_trials_and_best_parameters(tmp_path: Path) -> None:
    # a learning rate of -1 is refused (a failed trial), 1e-3 trains: the grid runs both
    out = litzoo_train(tmp_path, "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", "optimizer.lr=1e-3,-1", *FAST)
    assert out.returncode == 1, out.stderr[-3000:]  # a trial was not ok; the study itself completed
    folder = sweep_dir(tmp_path)
    rows = summary(folder)
    assert [(r["optimizer.lr"], r["status"]) for r in rows] == [("0.001", "ok"), ("-1", "failed")]
    best = (folder / "optimization_results.yaml").read_text()
    assert "optimizer.lr: 0.001" in best and f"best_trial: {rows[0]['trial']}" in best
    assert f"Optuna best parameters: trial {rows[0]['trial']}: optimizer.lr=0.001" in (folder / "summary.md").read_text()


@pytest.mark.slow
def test_optuna_search_rerun_goes_on_to_its_total(tmp_path: Path) -> None:
    args = ["-m", "hydra/sweeper=optuna", "optimizer.lr=tag(log,interval(1e-4,1e-2))", *FAST]
    assert litzoo_train(tmp_path, *args, "hydra.sweeper.n_trials=2").returncode == 0
    folder = sweep_dir(tmp_path)
    out = litzoo_train(tmp_path, *args, "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={folder}")
    assert out.returncode == 0 and "2 trial(s) so far" in out.stdout and out.stdout.count("\nJob ") == 1
    rows = summary(folder)
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2"]
    assert len({r["optimizer.lr"] for r in rows}) == 3  # the resumed sampler draws new values, not trial 0's again


def test_two_process_ddp_run_shares_one_run_dir_and_reduces_metrics(tmp_path: Path, make_cfg) -> None:
    from hydra.utils import instantiate

    from litzoo.cli.eval import evaluate

    out = litzoo_train(tmp_path, "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    (run,) = (tmp_path / "logs" / "digits_convnet" / "runs").iterdir()  # one folder for both ranks
    assert (run / "train_ddp_process_1.log").is_file()  # rank 1 ran there too
    ddp = json.loads((run / "results.json").read_text())
    data = instantiate(make_cfg().data)
    data.setup("fit")
    single_steps = len(data.train_dataloader())  # one process: 18 batches of 64
    assert ddp["status"] == "ok" and ddp["global_step"] == -(-single_steps // 2)  # each rank: half the batches
    # test/acc is reduced over both ranks' halves of the test set: one process testing the same checkpoint
    # agrees, up to the one sample DDP repeats to split 359 samples evenly
    assert evaluate(run)["test/acc"] == pytest.approx(ddp["metrics"]["test/acc"], abs=1.5 / 359)


@pytest.mark.slow
def test_ddp_accuracy_is_comparable_to_one_process(tmp_path: Path) -> None:
    args = ["trainer.accelerator=cpu", "trainer.max_epochs=3"]
    assert litzoo_train(tmp_path, "trainer=ddp", *args, f"hydra.run.dir={tmp_path / 'ddp'}").returncode == 0
    assert litzoo_train(tmp_path, *args, f"hydra.run.dir={tmp_path / 'one'}").returncode == 0
    ddp, one = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("ddp", "one"))
    assert 2 * ddp["global_step"] == one["global_step"]
    # same epochs, half the steps (twice the batch): a little behind, same league
    assert ddp["metrics"]["test/acc"] > 0.5 and abs(ddp["metrics"]["test/acc"] - one["metrics"]["test/acc"]) < 0.25
