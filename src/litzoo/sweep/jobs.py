"""Hydra multiruns as one unit: each job skips, resumes or re-runs itself from its record; one summary per sweep.

    litzoo-train -m optimizer=adam,rmsprop seed=1,2          # summary.csv + summary.md in the sweep folder
    litzoo-train -m optimizer=adam,rmsprop seed=1,2 hydra.sweep.dir=<that folder>   # resume the sweep
    litzoo-sweep <sweep folder>                               # the table of any sweep, also while it runs

This module runs one job (`run_job`); litzoo.sweep.callback shapes the multirun around its jobs and ends it.
"""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from litzoo.errors import LitzooError
from litzoo.run import ranks, record
from litzoo.run.compose import override_key
from litzoo.run.lock import LOCK_FILE, RunLocked, run_lock
from litzoo.run.signals import sigterm_interrupts, stop_signal, stops_held
from litzoo.sweep.table import metric_value, objective_setting, try_write_summary
from litzoo.sweep.trial import FINISHED, is_optuna_sweep, trial_env

KEEP_ON_RERUN = (".hydra", LOCK_FILE)  # a failed job re-runs in its own folder: everything else is its old attempt
JOBS_ENV = "LITZOO_SWEEP_JOBS"  # the number of jobs, set in every job's environment (hydra.job.env_set)


class SweepChanged(LitzooError):
    """A sweep re-run in its folder with other settings than its jobs ran with: refused before any job."""


@dataclass
class ActiveSweep:
    """The multirun this process runs, for its end after Ctrl-C, SIGTERM or a full disk. `dir` is None outside
    one, and in a launcher's worker process (joblib, submitit), which runs jobs but not the multirun."""

    dir: Path | None = None
    job: str | None = None  # "job 3/4 (optimizer=adam seed=2)" while it runs
    summaries: set[str] = field(default_factory=set)  # model summaries this sweep printed

    def reset(self, sweep_dir: Path | None = None) -> None:
        """A new multirun in `sweep_dir` (None: none any more)."""
        self.dir, self.job, self.summaries = sweep_dir, None, set()


ACTIVE = ActiveSweep()


def run_job(cfg: DictConfig, train_fn: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """One multirun job: skipped when its record says ok, or when another live process holds its folder's lock
    (litzoo.run.lock); resumed from last.ckpt when it was cut short (interrupted, killed), else run afresh. Never
    raises for a failed job (recorded, also when its own files could not be written), so the sweep goes on.
    Ctrl-C or SIGTERM is recorded (`interrupted (SIGTERM)`) and ends the sweep; in a launcher's worker process
    (joblib, submitit) it ends only the job, quietly. Returns the objective, None when the job is not ok
    (litzoo's Optuna sweeper reads the trial's end from its record)."""
    run_dir, hydra_cfg = Path(cfg.paths.output_dir), HydraConfig.get()
    overrides, sweep_dir = list(hydra_cfg.overrides.task), Path(hydra_cfg.sweep.dir)
    ACTIVE.job = _announce(hydra_cfg)
    try:
        with sigterm_interrupts(), run_lock(run_dir):  # the lock first: a job another process trains is left alone
            results = _run_locked(cfg, train_fn, run_dir)
    except RunLocked as err:
        print(f"[sweep] {run_dir.name}: held by {err.holder}, skipped")
        return None
    except SweepChanged as err:  # every job would be refused alike: said once, and the sweep stops
        print(f"\nError: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # recorded by _run_locked
        if ACTIVE.dir is not None:  # this process runs the sweep: litzoo.sweep.callback.interrupted ends it
            raise
        with stops_held():  # after the sweep process wrote it: this job's end is in the last table
            try_write_summary(sweep_dir)
        return None
    except Exception as err:  # noqa: BLE001 - the job's own files could not be written (a full disk)
        results = _failed(run_dir, overrides, err)
    ACTIVE.job = None
    try_write_summary(sweep_dir)  # kept current after every job: a crashed sweep has its table
    return objective_value(results, cfg) if results.get("status") == "ok" else None


def _announce(hydra_cfg: DictConfig) -> str:
    """Print 'Job 3/4: optimizer=adam seed=2' (the overrides that vary); returns 'job 3/4 (...)'."""
    excluded = set(hydra_cfg.job.config.override_dirname.exclude_keys)
    shown = " ".join(o for o in hydra_cfg.overrides.task if override_key(o) not in excluded)
    total = os.environ.get(JOBS_ENV)
    number = f"{hydra_cfg.job.num + 1}" + (f"/{total}" if total else "")
    print(f"\nJob {number}: {shown}", flush=True)
    return f"job {number} ({shown})"


def _run_locked(cfg: DictConfig, train_fn: Callable[[DictConfig], dict[str, Any]], run_dir: Path) -> dict[str, Any]:
    """run_job's work, under the job folder's lock: the record decides skip, resume or run afresh."""
    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    previous = record.record_or_unreadable(run_dir)
    status, last = previous.get("status"), run_dir / "checkpoints" / "last.ckpt"
    before = previous.get("overrides") or overrides
    cut_short = status in (None, "running", "interrupted", "ok")  # ok here: the same job, new runtime keys
    changed = _check_runtime_only(run_dir, before, overrides) if cut_short and set(before) != set(overrides) else []
    if (status == "ok" and not changed) or (status in FINISHED and is_optuna_sweep(hydra_cfg)):
        # an Optuna trial is never run again once finished: here its end was recorded, but not told to the study
        print(f"[sweep] {run_dir.name}: already {status}, skipped")
        return previous
    if cut_short and last.is_file():
        cfg = copy.deepcopy(cfg)
        cfg.ckpt_path = str(last)
        print(f"[sweep] {run_dir.name}: {'continuing' if status == 'ok' else 'resuming'} ({status or 'killed'}) from {last}")
    elif (previous or last.is_file()) and run_dir.resolve() == Path(hydra_cfg.runtime.output_dir).resolve():
        kept = _clear_attempt(run_dir)  # only ever in the job folder Hydra made for this job
        why = previous["error"] if status == "unreadable" else \
            f"previous attempt {status if status in ('failed', 'diverged', 'interrupted') else 'killed'}"
        print(f"[sweep] {run_dir.name}: {why}; running it again from scratch (its files: {kept.relative_to(run_dir)}/)")
    _limit_threads(hydra_cfg.launcher)
    try:
        with ranks.sweep_job(cfg, overrides, run_dir), trial_env(hydra_cfg, objective_metric(cfg)):
            return train_fn(cfg)
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM: the job is recorded, the sweep ends (`interrupted`)
        with stops_held():
            _record_interrupt(run_dir, overrides, stop_signal(err))
        raise
    except Exception as err:  # noqa: BLE001 - recorded, and the sweep goes on with the next job
        return _failed(run_dir, overrides, err)


def _check_runtime_only(run_dir: Path, before: list[str], now: list[str]) -> list[str]:
    """The settings this job's re-run changes (litzoo.run.resume.changed_settings, the rule a resume follows).
    Runtime keys (trainer.max_epochs) continue the job from its checkpoint; any other change would put a
    different experiment in its folder (constants are not in folder names): refused, nothing touched."""
    from litzoo.run.resume import changed_settings

    changed, refused, _, _ = changed_settings(before, now, run_dir)
    if refused:
        raise SweepChanged(
            f"{run_dir} holds a run of this sweep job with other values of {', '.join(refused[:8])} "
            f"(it ran with: {' '.join(before)}). Only runtime keys such as trainer.max_epochs may change "
            "when a sweep is re-run in its folder; start a new sweep (leave out hydra.sweep.dir) instead.")
    return changed


def objective_metric(cfg: DictConfig) -> str:
    """The sweep objective's metric (`objective.metric`; litzoo.sweep.table.DEFAULT_OBJECTIVE without one)."""
    return str(objective_setting(cfg)["metric"])


def objective_value(results: dict[str, Any], cfg: DictConfig) -> float | None:
    """The sweep objective of a record."""
    return metric_value(results, objective_metric(cfg))


def _failed(run_dir: Path, overrides: list[str], err: Exception) -> dict[str, Any]:
    """The record of a failed job (train's, else one written here if the folder still takes it), in one line."""
    from litzoo.run.checks import explain

    results = record.record_or_unreadable(run_dir)
    if results.get("status") in (None, "running", "unreadable"):
        results, unrecorded = {"status": "failed", "error": explain(err)}, ""
        try:
            results = record.write_failure(run_dir, results["error"], overrides=overrides)
        except (OSError, LitzooError) as write_err:
            why = explain(write_err)
            unrecorded = " (so it could not be recorded)" if why == results["error"] else f" (not recorded: {why})"
        print(f"[sweep] {run_dir.name}: failed: {results['error']}{unrecorded}", file=sys.stderr)
        return results
    print(f"[sweep] {run_dir.name}: {results['status']}: {str(results.get('error')).splitlines()[0][:300]}",
          file=sys.stderr)
    return results


def _record_interrupt(run_dir: Path, overrides: list[str], sig: str) -> None:
    """A job interrupted before train recorded it (or killed while it did) is recorded `interrupted (SIG...)`."""
    results = record.record_or_unreadable(run_dir)
    if results.get("status") not in (None, "running"):
        return  # train's own record: `interrupted (SIGTERM)`
    results.update(status="interrupted", error=f"interrupted ({sig})", run_dir=str(run_dir.resolve()),
                   overrides=results.get("overrides") or overrides, finished=record.now())
    with contextlib.suppress(OSError, LitzooError):  # the sweep's end says what could not be written
        record.write_results(run_dir, results)


def _clear_attempt(run_dir: Path) -> Path:
    """Move a failed attempt's files (checkpoints, record, events) to `.attempts/<n>/`, so the re-run starts
    clean and nothing the earlier attempt wrote is lost."""
    attempts = run_dir / ".attempts"
    target = attempts / str(len(list(attempts.glob("*"))) + 1 if attempts.is_dir() else 1)
    target.mkdir(parents=True)
    for path in run_dir.iterdir():
        if path.name in KEEP_ON_RERUN or path.suffix == ".log" or path == attempts:
            continue
        shutil.move(str(path), target / path.name)
    return target


def _limit_threads(launcher: DictConfig) -> None:
    """Jobs side by side share the cores: each of joblib's n_jobs jobs gets cores // n_jobs threads (2 jobs on
    2 cores: one thread each; loky sets OMP_NUM_THREADS the same way unless it is set), each submitit job
    its cpus_per_task."""
    target = str(launcher.get("_target_", ""))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if "joblib" in target:
        n_jobs = int(launcher.get("n_jobs") or -1)
        n_jobs = n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)  # joblib: -1 = all cores, -2 = all but one
        threads, why = max(cores // n_jobs, 1), f"{n_jobs} parallel jobs on {cores} cores"
    elif "submitit" in target and launcher.get("cpus_per_task"):
        threads, why = int(launcher.cpus_per_task), "cpus_per_task"
    else:
        return
    import torch

    torch.set_num_threads(threads)
    print(f"[sweep] {why}: {threads} thread(s) in this job")


def first_showing(text: str) -> bool:
    """True unless this sweep already printed `text` (the model summary: once per sweep and model, not per job)."""
    if ACTIVE.dir is None:
        return True
    seen = text in ACTIVE.summaries
    ACTIVE.summaries.add(text)
    return not seen


