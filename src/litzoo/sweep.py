"""Hydra multiruns as one unit: each job skips, resumes or re-runs itself from its record; one summary per sweep.

    litzoo-train -m optimizer=adam,rmsprop seed=1,2          # summary.csv + summary.md in the sweep folder
    litzoo-train -m optimizer=adam,rmsprop seed=1,2 hydra.sweep.dir=<that folder>   # resume the sweep
    litzoo-sweep <sweep folder>                               # the table of any sweep, also while it runs
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from litzoo import record
from litzoo.lock import LOCK_FILE, RunLocked, run_lock
from litzoo.sweep_table import format_table, summary_rows, swept_keys, write_summary

RUN_DIR_ENV = "LITZOO_RUN_DIR"  # the run folder every DDP rank of a sweep job uses (config._run_dir_resolver)
DDP_ENV = (RUN_DIR_ENV, "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "PL_GLOBAL_SEED")
KEEP_ON_RERUN = (".hydra", LOCK_FILE)  # a failed job re-runs in its own folder: everything else is its old attempt


def run_job(cfg: DictConfig, train_fn: Callable[[DictConfig], dict[str, Any]]) -> float | None:
    """One multirun job: skipped when its record says ok, or when another live process holds its folder's lock
    (litzoo.lock); resumed from last.ckpt when it was cut short (interrupted, killed), else run afresh. Never
    raises for a failed run (train wrote results.json), so the sweep goes on. Returns the objective, None when
    the job is not ok (Optuna records a failed trial: optuna 2.10 raises on NaN)."""
    run_dir = Path(cfg.paths.output_dir)
    try:
        with run_lock(run_dir):  # first: a job another process trains is left untouched
            results = _run_locked(cfg, train_fn, run_dir)
    except RunLocked as err:
        print(f"[sweep] {run_dir.name}: held by {err.holder}, skipped")
        return None
    write_summary(Path(HydraConfig.get().sweep.dir))  # kept current after every job: a crashed sweep has its table
    return objective_value(results, cfg) if results.get("status") == "ok" else None


def _run_locked(cfg: DictConfig, train_fn: Callable[[DictConfig], dict[str, Any]], run_dir: Path) -> dict[str, Any]:
    """run_job's work, under the job folder's lock: the record decides skip, resume or run afresh."""
    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    previous = record.record_or_unreadable(run_dir)
    status, last = previous.get("status"), run_dir / "checkpoints" / "last.ckpt"
    if status == "ok" and not _changed_keys(previous.get("overrides") or [], overrides):
        print(f"[sweep] {run_dir.name}: already ok, skipped")
        return previous
    cut_short = status in (None, "running", "interrupted", "ok")  # ok here: the same job, new runtime keys
    if cut_short:
        _check_runtime_only(run_dir, previous.get("overrides") or overrides, overrides)
    if cut_short and last.is_file():
        cfg = copy.deepcopy(cfg)
        cfg.ckpt_path = str(last)
        print(f"[sweep] {run_dir.name}: {'continuing' if status == 'ok' else 'resuming'} ({status or 'killed'}) from {last}")
    elif (previous or last.is_file()) and run_dir.resolve() == Path(hydra_cfg.runtime.output_dir).resolve():
        kept = _clear_attempt(run_dir)  # only ever in the job folder Hydra made for this job
        why = previous["error"] if status == "unreadable" else \
            f"previous attempt {status if status in ('failed', 'diverged') else 'killed'}"
        print(f"[sweep] {run_dir.name}: {why}; running it again from scratch (its files: {kept.relative_to(run_dir)}/)")
    _limit_threads(hydra_cfg.launcher)
    try:
        with _ddp_children_run_this_job(cfg, overrides, run_dir):
            return train_fn(cfg)
    except Exception as err:  # noqa: BLE001 - recorded, and the sweep goes on with the next job
        results = _failure_record(run_dir, overrides, err)
        print(f"[sweep] {run_dir.name}: {results['status']}: {str(results.get('error')).splitlines()[0][:300]}",
              file=sys.stderr)
        return results


def _changed_keys(before: list[str], now: list[str]) -> set[str]:
    split = lambda overrides: dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)  # noqa: E731
    a, b = split(before), split(now)
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def _check_runtime_only(run_dir: Path, before: list[str], now: list[str]) -> None:
    """A job continues from its checkpoint with new runtime keys only (trainer.max_epochs); any other change
    would put a different experiment in its folder (constants are not in folder names): refused, nothing
    touched."""
    from litzoo.config import is_runtime_key
    from litzoo.errors import LitzooError

    changed = sorted(k for k in _changed_keys(before, now) if not is_runtime_key(k))
    if changed:
        raise LitzooError(
            f"{run_dir} holds a run of this sweep job with other values of {', '.join(changed)} "
            f"(it ran with: {' '.join(before)}). Only runtime keys such as trainer.max_epochs may change "
            "when a sweep is re-run in its folder; start a new sweep (leave out hydra.sweep.dir) instead.")


def objective_value(results: dict[str, Any], cfg: DictConfig) -> float | None:
    """The sweep objective (`objective.metric`, default best/val_loss) from a run record."""
    metric = OmegaConf.select(cfg, "objective.metric", default="best/val_loss")
    value = (results.get("metrics") or {}).get(metric)
    return float(value) if value is not None else None


def _failure_record(run_dir: Path, overrides: list[str], err: Exception) -> dict[str, Any]:
    """The record train wrote; or, for a job refused before its run started, a `failed` one written here."""
    from litzoo.checks import explain

    results = record.record_or_unreadable(run_dir)
    if results.get("status") not in (None, "running", "unreadable"):
        return results
    return record.write_failure(run_dir, explain(err), overrides=overrides)


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


@contextmanager
def _ddp_children_run_this_job(cfg: DictConfig, overrides: list[str], run_dir: Path) -> Iterator[None]:
    """Lightning's DDP launcher re-executes sys.argv in every other rank: in a sweep that would start the
    whole multirun again. Make it this job as a single run in this job's folder (hydra.run.dir, which
    Lightning appends, resolves through RUN_DIR_ENV); afterwards drop the job's process group and the
    rank variables Lightning exported, or the next job would wait for ranks that have exited."""
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="") or "")
    if not strategy.startswith("ddp") or "spawn" in strategy:
        yield
        return
    argv, env = sys.argv[:], {k: os.environ.get(k) for k in DDP_ENV}
    sys.argv = [argv[0], *overrides, *([f"ckpt_path={cfg.ckpt_path}"] if cfg.get("ckpt_path") else [])]
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        sys.argv = argv
        for key, value in env.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def constant_override_keys(config: DictConfig) -> tuple[set[str], list[str]]:
    """(keys the multirun varies, keys its command line sets to one value)."""
    overrides = list(config.hydra.overrides.task)
    varying = swept_keys(overrides, OmegaConf.select(config, "hydra.sweeper.params"))
    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    return varying, [k for k in keys if k not in varying]


class SweepSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): job folders named by what varies, and the summary table at
    the end of every multirun, which exits non-zero (after all jobs ran) when a job did not finish ok."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _short_job_folders(config)
        if "optuna" in str(OmegaConf.select(config, "hydra.sweeper._target_", default="")):
            _optuna_follows_objective(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        table = write_summary(sweep_dir)
        print("\n" + format_table(table, shutil.get_terminal_size((120, 24)).columns))
        bad = [row for row in table.rows if row["status"] != "ok"]
        if bad:
            print(f"\n{len(bad)} of {len(table.rows)} jobs did not finish ok ({', '.join(sorted({r['status'] for r in bad}))}): "
                  f"see {sweep_dir / 'summary.md'}. Re-run the same command with hydra.sweep.dir={sweep_dir} "
                  "to resume interrupted jobs and re-run failed ones (ok jobs are skipped).", file=sys.stderr)
            raise SystemExit(1)  # Hydra's callbacks swallow Exceptions; SystemExit gets through


def _short_job_folders(config: DictConfig) -> None:
    """Keep constant overrides (trainer.max_epochs=3) out of every job's folder name (TensorBoard's run name).

    Jobs are composed again from hydra.overrides.hydra plus their own overrides: an exclude_keys override
    appended there reaches every job's override_dirname, with any launcher. Folders stay deterministic,
    so re-running the sweep finds them (give the same constants: they are no longer in the name).
    """
    varying, constant = constant_override_keys(config)
    if not varying or not constant:
        return
    excluded = list(config.hydra.job.config.override_dirname.exclude_keys) + constant
    with read_write(config), open_dict(config):
        config.hydra.overrides.hydra.append(
            "hydra.job.config.override_dirname.exclude_keys=[" + ",".join(f"'{k}'" for k in excluded) + "]")


def _optuna_follows_objective(config: DictConfig) -> None:
    """hydra/sweeper=optuna optimises train.yaml's `objective` (its direction, unless hydra.sweeper.direction
    is given), with a sampler seeded by `seed`: re-running the sweep asks the same trials, so it resumes."""
    given = {o.split("=", 1)[0].lstrip("+~") for o in config.hydra.overrides.hydra}
    with read_write(config), open_dict(config):
        if "hydra.sweeper.direction" not in given:
            config.hydra.sweeper.direction = OmegaConf.select(config, "objective.direction", default="minimize")
        sampler = config.hydra.sweeper.sampler
        if "seed" in sampler and sampler.seed is None and isinstance(config.get("seed"), int):
            config.hydra.sweeper.sampler.seed = config.seed


def main(argv: list[str] | None = None) -> None:
    """Console script `litzoo-sweep SWEEP_DIR`: rebuild summary.csv/.md of a sweep and print its table."""
    parser = argparse.ArgumentParser(prog="litzoo-sweep", description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. logs/digits_convnet/multiruns/<time>")
    args = parser.parse_args(argv)
    if not summary_rows(args.sweep_dir):
        sys.exit(f"litzoo-sweep: no jobs in {args.sweep_dir}: expected a multirun folder whose job folders hold "
                 ".hydra/ or results.json (litzoo-train -m ... writes them under logs/<name>/multiruns/<time>/).")
    table = write_summary(args.sweep_dir)
    print(format_table(table, shutil.get_terminal_size((120, 24)).columns))
    print(f"\nWritten: {args.sweep_dir / 'summary.csv'}, {args.sweep_dir / 'summary.md'}")
