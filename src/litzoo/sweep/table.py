"""A sweep's summary: one row per job (the overrides that vary, status, best epoch and its validation
metrics, test metrics, epochs, wall seconds, run folder, error), sorted by the sweep's objective.

Read from the job folders alone (results.json, .hydra/), so it can be rebuilt for any sweep, also while it
runs; `litzoo.sweep.jobs` writes it after every job and prints it at the end of the multirun. Every file is read
through `litzoo.run.record`: a job whose record cannot be used is `unreadable`, with the reason as its error; a
sweep-level file that cannot be used is named in a line below the table.
"""
from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litzoo.errors import LitzooError
from litzoo.run import lock, record
from litzoo.run.atomic import atomic_write_text
from litzoo.run.checks import explain
from litzoo.run.compose import split_override

DEFAULT_OBJECTIVE = {"metric": "best/val_loss", "direction": "minimize"}
# Printed columns dropped first when the table is wider than the terminal (the files keep them all).
DROP_FIRST = ("run_dir", "wall_s", "epochs", "test/loss", "best_epoch", "job", "trial")


@dataclass
class SweepTable:
    """The rows of a sweep, its column order, objective, (Optuna) best parameters and unreadable sweep files."""

    sweep_dir: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    objective: dict[str, str]
    optuna: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def summary_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One raw row per job folder (a folder holding .hydra/ or results.json) under `sweep_dir`."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return []
    jobs = {p.parent.parent for p in sweep_dir.rglob("overrides.yaml") if p.parent.name == ".hydra"}
    jobs |= {p.parent for p in sweep_dir.rglob(record.FILENAME)}
    jobs = {j for j in jobs if j != sweep_dir and not {".submitit", ".attempts"} & set(j.relative_to(sweep_dir).parts)}
    return [_row(job, sweep_dir) for job in sorted(jobs)]


def _row(job_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    problems: list[record.UnreadableRecord] = []  # any file of the job that cannot be used makes it `unreadable`
    rec = _read(record.read_results, job_dir, problems) or {}
    overrides = rec.get("overrides") or _overrides(job_dir / ".hydra" / "overrides.yaml", problems)
    hydra = _read(record.read_yaml, job_dir / ".hydra" / "hydra.yaml", problems)
    num = OmegaConf.select(hydra, "hydra.job.num", default=None, throw_on_resolution_failure=False
                           ) if isinstance(hydra, DictConfig) else None
    status = "unreadable" if problems else rec.get("status", "ok" if rec else "running")
    if status == "running":
        status = _running_or_killed(job_dir)
    metrics = rec.get("metrics") or {}
    error = (_line(problems[0], job_dir) if problems else rec.get("error") or "").strip().splitlines()
    return {"job": num if isinstance(num, int) else None, "overrides": dict(split_override(o) for o in overrides),
            "metrics": metrics, "status": status, "best_epoch": rec.get("best_epoch"),
            **{k: v for k, v in metrics.items() if k.startswith(("best/val_", "test/"))},
            "epochs": rec.get("epochs"), "wall_s": rec.get("wall_seconds"),
            "run_dir": str(job_dir.relative_to(sweep_dir)), "error": error[0] if error else ""}


def _read(reader: Callable[[Path], Any], path: Path, problems: list[record.UnreadableRecord]) -> Any:
    """reader(path) (record.read_results, record.read_yaml): None when absent or unreadable (then in `problems`)."""
    try:
        return reader(path)
    except record.UnreadableRecord as err:
        problems.append(err)
        return None


def _load(path: Path, problems: list[record.UnreadableRecord]) -> Any:
    return _read(record.read_yaml, path, problems)


def _overrides(path: Path, problems: list[record.UnreadableRecord]) -> list[str]:
    """Hydra's .hydra/overrides.yaml: a list of strings (interpolations left as written)."""
    cfg = _load(path, problems)
    overrides = OmegaConf.to_container(cfg) if cfg is not None else []
    if isinstance(overrides, list) and all(isinstance(o, str) for o in overrides):
        return overrides
    problems.append(record.UnreadableRecord(path, "not a list of overrides"))
    return []


def _line(problem: record.UnreadableRecord, folder: Path) -> str:
    """'<file, relative to the job or sweep folder> is unreadable: <reason>'."""
    path = problem.path.relative_to(folder) if problem.path.is_relative_to(folder) else problem.path
    return f"{path} is unreadable: {problem.reason}"


def _running_or_killed(job_dir: Path) -> str:
    """`running` while a live process holds the job folder's lock (on any host), else `interrupted` (killed)."""
    return "running" if lock.holder(job_dir) else "interrupted"


def build_table(sweep_dir: Path) -> SweepTable:
    """The sweep's rows, sorted by its objective (not-ok and missing values last)."""
    sweep_dir, problems = Path(sweep_dir), []
    rows = summary_rows(sweep_dir)
    objective = _objective(sweep_dir, problems)
    keys = list(dict.fromkeys(k for row in rows for k in row["overrides"]))
    swept = _swept_keys(sweep_dir, problems)
    varying = [k for k in keys if k in swept or len({row["overrides"].get(k) for row in rows}) > 1]
    for row in rows:
        row.update({k: row["overrides"].get(k) for k in varying})
    metrics = {k for row in rows for k in row if k.startswith(("best/val_", "test/"))}
    for row in rows:  # the objective is a column too, whichever metric it is (last/val_loss, ...)
        row[objective["metric"]] = row["metrics"].get(objective["metric"])
    metrics.add(objective["metric"])
    order = sorted(metrics, key=lambda k: (not k.startswith("best/"), not k.endswith("/val_loss") and not k.endswith("/loss"), k))
    sign = -1.0 if objective["direction"] == "maximize" else 1.0

    def rank(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row.get(objective["metric"])
        good = row["status"] == "ok" and isinstance(value, (int, float)) and math.isfinite(value)
        return (0 if good else 1, sign * value if good else 0.0, row["job"] if row["job"] is not None else 1 << 30)

    rows.sort(key=rank)
    optuna = _load(sweep_dir / "optimization_results.yaml", problems)
    optuna = OmegaConf.to_container(optuna) if isinstance(optuna, DictConfig) else {}
    first = "trial" if optuna or _is_optuna_search(sweep_dir, problems) else "job"  # an Optuna trial is its job
    for row in rows:
        row[first] = row["job"]
    columns = [first, *varying, "status", "best_epoch", *order, "epochs", "wall_s", "run_dir", "error"]
    notes = list(dict.fromkeys(_line(p, sweep_dir) for p in problems))
    return SweepTable(sweep_dir, columns, rows, objective, optuna, notes)


def swept_keys(task_overrides: list[str], params: Any = None) -> set[str]:
    """Keys a multirun command line sweeps (`a=1,2`, `interval(..)`) plus `hydra.sweeper.params` (Optuna's
    search space); keys as override_dirname sees them (no +/~)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    return {o.key_or_group for o in parsed if o.is_sweep_override()} | set(params or {})


def _swept_keys(sweep_dir: Path, problems: list[record.UnreadableRecord]) -> set[str]:
    """The swept keys of multirun.yaml (basic sweeper): known before every job has run."""
    cfg = _load(sweep_dir / "multirun.yaml", problems)
    if not isinstance(cfg, DictConfig):
        return set()
    select = lambda key: OmegaConf.select(cfg, key, throw_on_resolution_failure=False)  # noqa: E731
    return swept_keys(select("hydra.overrides.task") or [], select("hydra.sweeper.params"))


def _is_optuna_search(sweep_dir: Path, problems: list[record.UnreadableRecord]) -> bool:
    """True for a sweep of litzoo's Optuna sweeper (multirun.yaml)."""
    cfg = _load(sweep_dir / "multirun.yaml", problems)
    target = OmegaConf.select(cfg, "hydra.sweeper._target_", default="") if isinstance(cfg, DictConfig) else ""
    return "litzoo_optuna_sweeper" in str(target)


def metric_value(results: dict[str, Any], metric: str) -> float | None:
    """A record's value of `metric` (the sweep objective), None when absent or not finite: the one reading."""
    value = (results.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def objective_setting(cfg: DictConfig) -> dict[str, str]:
    """The config's `objective` ({'metric', 'direction'}), DEFAULT_OBJECTIVE for what it leaves out: the one reading."""
    given = cfg.get("objective") if isinstance(cfg, DictConfig) else None
    return {**DEFAULT_OBJECTIVE, **(OmegaConf.to_container(given, resolve=True) if isinstance(given, DictConfig) else {})}


def _objective(sweep_dir: Path, problems: list[record.UnreadableRecord]) -> dict[str, str]:
    """`objective` of the sweep's config (multirun.yaml, else the first job's .hydra/config.yaml)."""
    for path in [sweep_dir / "multirun.yaml", *sorted(sweep_dir.glob("*/.hydra/config.yaml"))]:
        cfg = _load(path, problems)
        if isinstance(cfg, DictConfig) and isinstance(cfg.get("objective"), DictConfig):
            return objective_setting(cfg)
    return dict(DEFAULT_OBJECTIVE)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if column == "wall_s" else f"{value:.4f}"
    return str(value)


def write_summary(sweep_dir: Path) -> SweepTable:
    """summary.csv and summary.md in the sweep folder (atomic: parallel jobs rewrite them)."""
    table = build_table(sweep_dir)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([[_cell(c, row.get(c)) for c in table.columns] for row in table.rows])
    atomic_write_text(table.sweep_dir / "summary.csv", out.getvalue())
    atomic_write_text(table.sweep_dir / "summary.md", _markdown(table))
    return table


def try_write_summary(sweep_dir: Path) -> tuple[SweepTable, str | None]:
    """write_summary, or the table and why it could not be written (a full disk: the old files stay whole),
    said in one line: a sweep and litzoo-sweep go on to print the table."""
    try:
        return write_summary(sweep_dir), None
    except (OSError, LitzooError) as err:
        problem = f"The summary was not updated: {explain(err)}"
        print(f"[sweep] {problem}", file=sys.stderr)
        return build_table(sweep_dir), problem


def _counts(table: SweepTable) -> str:
    statuses = [row["status"] for row in table.rows]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    return f"{len(statuses)} job{'s' * (len(statuses) != 1)}: {counts}" if statuses else "no jobs yet"


def _optuna_lines(table: SweepTable) -> list[str]:
    best = table.optuna.get("best_params")
    if best is None:
        return []
    params = ", ".join(f"{k}={v}" for k, v in best.items())
    trial = f"trial {table.optuna['best_trial']}: " if "best_trial" in table.optuna else ""
    lines = [f"Optuna best parameters: {trial}{params} ({table.objective['metric']} = {table.optuna.get('best_value')})"]
    importances = table.optuna.get("param_importances") or {}
    if importances:
        lines.append("Parameter importances (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()))
    return lines


def _markdown(table: SweepTable) -> str:
    esc = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = [f"# Sweep {table.sweep_dir}", "",
             f"Objective: {table.objective['metric']} ({table.objective['direction']}); {_counts(table)}.", "",
             "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(esc(_cell(c, row.get(c))) for c in table.columns) + " |" for row in table.rows]
    notes = _optuna_lines(table) + table.problems
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def format_table(table: SweepTable, width: int = 120) -> str:
    """The summary as aligned text no wider than `width` (columns of DROP_FIRST dropped until it fits),
    each not-ok job's error on a line of its own below."""
    shown = [c for c in table.columns if c != "error"]
    droppable = [c for c in DROP_FIRST if c in shown and c != table.objective["metric"]]
    while True:
        grid = [shown] + [[_cell(c, row.get(c)) for c in shown] for row in table.rows]
        widths = [max(len(r[j]) for r in grid) for j in range(len(shown))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in grid]
        if max(map(len, lines)) <= width or not droppable:
            break
        shown.remove(droppable.pop(0))
    first = table.columns[0]  # job, or trial
    label = lambda row: f"{first} {row['job']}" if row["job"] is not None else row["run_dir"]  # noqa: E731
    errors = [f"{label(row)} ({row['status']}): {row['error']}" for row in table.rows if row["error"]]
    errors = [e if len(e) <= width else e[: width - 3] + "..." for e in errors]
    head = f"Sweep {table.sweep_dir}  ({table.objective['metric']}, {table.objective['direction']}; {_counts(table)})"
    return "\n".join([head, *lines, *errors, *_optuna_lines(table), *table.problems])
