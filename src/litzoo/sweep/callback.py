"""A Hydra multirun as one sweep: its folder, its jobs' folders and count, and how it ends.

`SweepSummary` (conf/hydra/default.yaml) shapes the multirun before any job runs and prints the table at the
end; `interrupted` ends it after Ctrl-C or SIGTERM (litzoo.run.fit.main). One job of it: litzoo.sweep.jobs.run_job.
"""
from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from litzoo.errors import LitzooError
from litzoo.run import record
from litzoo.run.atomic import atomic_write_text
from litzoo.run.compose import override_key
from litzoo.run.runtime_keys import WHERE_AND_WATCH
from litzoo.run.signals import exit_code, stop_signal
from litzoo.sweep import jobs as sweep
from litzoo.sweep.table import format_table, swept_keys, try_write_summary
from litzoo.sweep.trial import is_optuna_sweep


def constant_override_keys(config: DictConfig) -> tuple[set[str], list[str]]:
    """(keys the multirun varies, keys its command line sets to one value)."""
    overrides = list(config.hydra.overrides.task)
    varying = swept_keys(overrides, OmegaConf.select(config, "hydra.sweeper.params"))
    keys = [override_key(o) for o in overrides]
    return varying, [k for k in keys if k not in varying]


class SweepSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): one folder per sweep and per job, named by what varies, the
    number of jobs for their 'Job 3/4' line, and the summary table at the end of every multirun, which exits
    non-zero (after all jobs ran) when a job did not finish ok."""

    def __init__(self) -> None:
        self.hydra_save_config: Callable[..., None] | None = None  # Hydra's own, while the multirun runs

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _one_sweep_folder(config)
        _short_job_folders(config)
        _count_jobs(config)
        sweep.ACTIVE.reset(Path(config.hydra.sweep.dir))
        self.hydra_save_config = _atomic_hydra_files()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import hydra.core.utils as hydra_utils

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep.ACTIVE.reset()
        if self.hydra_save_config is not None:
            hydra_utils._save_config = self.hydra_save_config
        table, problem = try_write_summary(sweep_dir)
        print("\n" + format_table(table, shutil.get_terminal_size((120, 24)).columns))
        bad = [row for row in table.rows if row["status"] not in ("ok", "pruned")]  # pruned: the search's choice
        if bad:
            rerun = "finished trials are kept" if is_optuna_sweep(config.hydra) else \
                "failed ones run again, ok jobs are skipped"
            print(f"\n{len(bad)} of {len(table.rows)} jobs did not finish ok ({', '.join(sorted({r['status'] for r in bad}))}): "
                  f"see {sweep_dir / 'summary.md'}. Re-run the same command with hydra.sweep.dir={sweep_dir} "
                  f"to resume interrupted jobs ({rerun}).", file=sys.stderr)
        if bad or problem:
            raise SystemExit(1)  # Hydra's callbacks swallow Exceptions; SystemExit gets through


def interrupted(err: BaseException) -> int:
    """After Ctrl-C or SIGTERM ended litzoo-train (the job was recorded by run_job): the sweep's table, one line
    on how to resume, no traceback. Returns the exit code (130 SIGINT, 143 SIGTERM)."""
    sig = stop_signal(err)
    for stop in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the table short: we exit next
        signal.signal(stop, signal.SIG_IGN)
    if sweep.ACTIVE.dir is None:
        print(f"\nInterrupted ({sig}).", file=sys.stderr)
        return exit_code(sig)
    table, _ = try_write_summary(sweep.ACTIVE.dir)
    print("\n" + format_table(table, shutil.get_terminal_size((120, 24)).columns))
    where = f" in {sweep.ACTIVE.job}, which is recorded `interrupted`" if sweep.ACTIVE.job else ""
    print(f"\nInterrupted ({sig}): the sweep stopped{where}. Resume it (interrupted jobs continue from their "
          f"last.ckpt, ok jobs are skipped): {_resume_command(sweep.ACTIVE.dir)}", file=sys.stderr)
    return exit_code(sig)


def _resume_command(sweep_dir: Path) -> str:
    args = [a for a in sys.argv[1:] if not a.startswith("hydra.sweep.dir=")]
    return shlex.join(["litzoo-train", *args, f"hydra.sweep.dir={_override_value(str(sweep_dir))}"])


def _override_value(text: str) -> str:
    """`text` as a Hydra override value: as it is when plain, else quoted the way Hydra's parser reads back."""
    from hydra.core.override_parser.types import Quote, QuotedString

    return text if re.fullmatch(r"[\w/.+@%-]+", text) else QuotedString(text=text, quote=Quote.single).with_quotes()


def _short_job_folders(config: DictConfig) -> None:
    """The one rule for a job's folder name (TensorBoard's run name): the overrides that vary. Constants
    (trainer.max_epochs=3) stay out of it; a lone job is named by its settings, without where it reads and
    writes (litzoo.run.runtime_keys.WHERE_AND_WATCH: paths, ckpt_path, logger, ...). A varying key always names
    the folder, a path included, so two jobs never share one.

    Jobs are composed again from hydra.overrides.hydra plus their own overrides: an exclude_keys override
    appended there reaches every job's override_dirname, with any launcher. Folders stay deterministic,
    so re-running the sweep finds them (give the same constants: they are no longer in the name).
    """
    varying, constant = constant_override_keys(config)
    excluded = constant if varying else [k for k in constant if k.startswith(WHERE_AND_WATCH)]
    if not excluded:
        return
    with read_write(config), open_dict(config):
        config.hydra.overrides.hydra.append(
            "hydra.job.config.override_dirname.exclude_keys=[" + ",".join(f"'{k}'" for k in excluded) + "]")


def _one_sweep_folder(config: DictConfig) -> None:
    """Every job in the one sweep folder: jobs compose their config again, and hydra.sweep.dir interpolates
    ${name}, which each experiment of `-m experiment=a,b` sets differently (the jobs scattered over
    logs/a/ and logs/b/). The folder is resolved once, here; a sweep over experiments goes to
    <paths.log_dir>/multiruns/<time>, no one experiment's folder. A hydra.sweep.dir given is kept as it is."""
    if any(override_key(o) == "hydra.sweep.dir" for o in config.hydra.overrides.hydra):
        return
    folder = Path(config.hydra.sweep.dir)
    if "experiment" in constant_override_keys(config)[0]:
        folder = Path(config.paths.log_dir) / "multiruns" / folder.name
    with read_write(config), open_dict(config):
        config.hydra.sweep.dir = str(folder)
        config.hydra.overrides.hydra.append(f"hydra.sweep.dir={_override_value(str(folder))}")


def _count_jobs(config: DictConfig) -> None:
    """The number of jobs, into every job's environment (JOBS_ENV): the basic sweeper's product of the swept
    values, Optuna's n_trials; unknown for other sweepers."""
    sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if "optuna" in sweeper:
        total = int(config.hydra.sweeper.n_trials)
    elif sweeper.endswith("BasicSweeper"):
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        params = [f"{k}={v}" for k, v in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items()]
        parsed = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
        total = sum(len(batch) for batch in BasicSweeper.split_arguments(parsed, None))
    else:
        return
    with read_write(config), open_dict(config):
        config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{sweep.JOBS_ENV}={total}")


def _atomic_hydra_files() -> Callable[..., None]:
    """Hydra writes each job's .hydra/*.yaml with a plain open(): a full disk left a truncated file and crashed
    the sweep inside Hydra, with a traceback and no record. Written through litzoo.run.atomic here; a failure
    stops the sweep in one paragraph, the job recorded `failed` if its folder still takes a record. Returns
    Hydra's own function (put back at the end of the multirun)."""
    import hydra.core.utils as hydra_utils

    def save_config(cfg: DictConfig, filename: str, output_dir: Path) -> None:
        try:
            atomic_write_text(Path(output_dir) / filename, OmegaConf.to_yaml(cfg))
        except (OSError, LitzooError) as err:
            _stop(Path(output_dir).parent, err)

    original, hydra_utils._save_config = hydra_utils._save_config, save_config
    return original


def _stop(run_dir: Path, err: Exception) -> None:
    """End the sweep for an error outside any job's training: the job's record, the table, one paragraph."""
    from litzoo.run.checks import explain

    with contextlib.suppress(OSError, LitzooError):
        record.write_failure(run_dir, explain(err), overrides=list(HydraConfig.get().overrides.task))
    if sweep.ACTIVE.dir is not None:
        table, _ = try_write_summary(sweep.ACTIVE.dir)
        print("\n" + format_table(table, shutil.get_terminal_size((120, 24)).columns))
    print(f"\nError: {explain(err)}", file=sys.stderr)
    raise SystemExit(1)
