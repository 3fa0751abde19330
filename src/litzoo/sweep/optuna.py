"""litzoo's Optuna search (`hydra/sweeper=optuna`): Hydra's sweep syntax, pruning, resume to the total, trials in
parallel. The Hydra plugin (hydra_plugins.litzoo_optuna_sweeper) only hands its calls to `OptunaSearch`.

The study's storage is the truth (default: `optuna.db`, SQLite, in the sweep folder): a re-run with
`hydra.sweep.dir=` loads it and goes on to `n_trials` in all. Finished trials (ok, pruned, failed, diverged)
stay; a trial the storage still has RUNNING was cut short (kill -9, Ctrl-C) and runs again in its folder, where
litzoo.sweep.jobs resumes it from last.ckpt. Trial k is job k (`hydra.job.num`), in `<k>_<overrides>/`.
"""
from __future__ import annotations

import logging
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from litzoo.errors import LitzooError
from litzoo.run import record
from litzoo.sweep.search_space import SearchSpace, parse_search_space
from litzoo.sweep.table import metric_value, objective_setting
from litzoo.sweep.trial import FINISHED, make_pruner

log = logging.getLogger(__name__)
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler", "cmaes": "CmaEsSampler",
            "qmc": "QMCSampler"}
SIGNATURE_ATTR = "litzoo_search"  # the study's user attribute: search space and constants it was started with
SUBDIR = "${hydra.job.num}_${hydra.job.override_dirname}"  # trial k's folder, the same on every re-run


class OptunaSearch:
    """The sweeper's work; its arguments are `hydra.sweeper.*` (conf/hydra/sweeper/optuna.yaml)."""

    def __init__(self, sampler: Any, direction: str | None, storage: str | None, study_name: str | None,
                 n_trials: int, n_jobs: int, pruner: str, pruner_startup_trials: int,
                 params: DictConfig | None) -> None:
        self.sampler_cfg, self.direction, self.storage, self.study_name = sampler, direction, storage, study_name
        self.n_trials, self.n_jobs, self.params = int(n_trials), max(int(n_jobs), 1), params
        self.pruner, self.pruner_startup_trials = str(pruner), int(pruner_startup_trials)
        make_pruner(self.pruner, self.pruner_startup_trials)  # a wrong name fails before anything starts

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]) -> None:
        """Run the search to n_trials in all; then the best parameters, importances and pictures."""
        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        try:
            space = parse_search_space(params + list(arguments))
            study = self._study(space)
        except LitzooError as err:  # a changed search, a sampler that cannot run: one paragraph, nothing run
            print(f"\nError: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        total = min(self.n_trials, math.prod(map(len, space.grid().values()))) if self._is_grid() else self.n_trials
        from litzoo.sweep.trials import run_trials

        run_trials(self, study, space, total)
        from litzoo.sweep.report import write_report

        write_report(study, Path(self.config.hydra.sweep.dir))

    def _is_grid(self) -> bool:
        return self._sampler_name() == "grid"

    def _sampler_name(self) -> str:
        cfg = self.sampler_cfg
        name = cfg if isinstance(cfg, str) else cfg.get("name") or str(cfg.get("_target_", "")).rsplit(".", 1)[-1]
        by_class = {v: k for k, v in SAMPLERS.items()}
        name = by_class.get(name, name)
        if name not in SAMPLERS:
            raise LitzooError(f"hydra.sweeper.sampler={name!r}: expected one of {', '.join(SAMPLERS)}")
        return name

    def _sampler(self, space: SearchSpace, done: int) -> Any:
        """The sampler, seeded by `seed` of the config unless hydra.sweeper.sampler.seed is given, plus the number
        of trials `done` before: a resumed search draws new values, not its first trials' again."""
        import optuna

        given = {} if isinstance(self.sampler_cfg, str) else OmegaConf.to_container(self.sampler_cfg)
        options = {k: v for k, v in given.items() if k not in ("name", "_target_", "_partial_")}
        if options.get("seed") is None and isinstance(self.config.get("seed"), int):
            options["seed"] = self.config.seed
        if options.get("seed") is not None:
            options["seed"] = int(options["seed"]) + done
        name = self._sampler_name()
        if name == "grid":
            options["search_space"] = space.grid()
        try:
            return getattr(optuna.samplers, SAMPLERS[name])(**options)
        except (ImportError, ModuleNotFoundError) as err:
            raise LitzooError(f"hydra.sweeper.sampler={name} needs a package that is not installed: {err}") from None

    def _study(self, space: SearchSpace) -> Any:
        """The study in its storage, created or loaded; a changed search space or constant refused first."""
        import hydra.core.utils as hydra_utils
        import optuna

        sweep_dir = Path(self.config.hydra.sweep.dir)
        objective = objective_setting(self.config)
        direction = self.direction or objective["direction"]
        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        name = self.study_name or str(self.config.get("name") or "litzoo")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # as Hydra's basic sweeper does (a custom sweeper must): the table reads the swept keys from it
        hydra_utils._save_config(self.config, "multirun.yaml", sweep_dir)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True,
                                    pruner=make_pruner(self.pruner, self.pruner_startup_trials))
        _check_same_search(study, space, sweep_dir)
        study.sampler = self._sampler(space, len(study.trials))
        self._tell_jobs(storage, name)
        print(f"[sweep] Optuna study {name!r} in {storage}: {len(study.trials)} trial(s) so far, "
              f"{direction} {objective['metric']}, "
              f"sampler {self._sampler_name()}, pruner {self.pruner}", flush=True)
        return study

    def _tell_jobs(self, storage: str, study_name: str) -> None:
        """Every job's hydra.sweeper.storage/study_name are this study's, and trial k's folder is `<k>_...`:
        jobs are composed again from hydra.overrides.hydra (as SweepSummary does for folder names)."""
        from litzoo.run.compose import override_key
        from litzoo.sweep.callback import _override_value

        given = {override_key(o) for o in self.config.hydra.overrides.hydra}
        extra = [f"hydra.sweeper.storage={_override_value(storage)}",
                 f"hydra.sweeper.study_name={_override_value(study_name)}"]
        if "hydra.sweep.subdir" not in given:
            extra.append(f"hydra.sweep.subdir='{SUBDIR}'")
        with read_write(self.config), open_dict(self.config):
            self.config.hydra.overrides.hydra.extend(extra)
            self.config.hydra.sweeper.storage, self.config.hydra.sweeper.study_name = storage, study_name


def _check_same_search(study: Any, space: SearchSpace, sweep_dir: Path) -> None:
    """A study started with another search space or other constants is refused before any trial runs."""
    from litzoo.sweep.jobs import SweepChanged

    now, before = space.signature(), study.user_attrs.get(SIGNATURE_ATTR)
    if before is None:
        study.set_user_attr(SIGNATURE_ATTR, now)
        return
    keys = sorted(set(now["space"]) | set(before["space"]))
    changed = [k for k in keys if now["space"].get(k) != before["space"].get(k)]
    changed += sorted(set(now["constants"]) ^ set(before["constants"]))
    if changed:
        raise SweepChanged(
            f"the Optuna study in {sweep_dir} was started with another search (changed: {', '.join(changed[:8])}; "
            f"it searched {before['space'] or 'nothing'} with {' '.join(before['constants']) or 'no constants'}). "
            "Give the same search space and constants to continue it, or start a new search "
            "(leave out hydra.sweep.dir).")


def trial_state(run_dir: Path) -> str | None:
    """The Optuna state a finished job's record gives its trial (COMPLETE, PRUNED, FAIL); None while it is not
    finished (running, interrupted, killed: the trial stays RUNNING and runs again on a re-run)."""
    return FINISHED.get(record.record_or_unreadable(run_dir).get("status"))


def objective_of(run_dir: Path, metric: str) -> float | None:
    return metric_value(record.record_or_unreadable(run_dir), metric)


def say(text: str) -> None:
    print(f"[sweep] {text}", file=sys.stderr, flush=True)
