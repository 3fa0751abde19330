"""Running an Optuna search's trials: which trial comes next, where it runs, what the study is told after it.

Trials that a killed sweep left RUNNING in the storage come first (same number, same parameters, same folder),
then new ones until the study holds `total`. With Hydra's basic launcher and `n_jobs` > 1 each trial is a fresh
process (litzoo.sweep.processes); with any other launcher (joblib, SLURM) trials go through it, `n_jobs` at a
time; with one job at a time they run in this process, as Hydra runs multirun jobs.
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litzoo.sweep.optuna import objective_of, say, trial_state
from litzoo.sweep.search_space import SearchSpace
from litzoo.sweep.table import objective_setting

if TYPE_CHECKING:
    from litzoo.sweep.optuna import OptunaSearch

Trial = tuple[int, dict[str, Any]]  # (number, parameters)


def run_trials(search: OptunaSearch, study: Any, space: SearchSpace, total: int) -> None:
    """Run trials until the study holds `total` and none this sweep can finish is left RUNNING."""
    metric = objective_setting(search.config)["metric"]
    next_trial = _trial_source(study, space, total)

    def tell(number: int, run_dir: Path) -> None:
        _tell(study, number, run_dir, metric)

    if search.n_jobs > 1 and str(search.config.hydra.launcher._target_).endswith("BasicLauncher"):
        from litzoo.sweep.processes import run_in_processes

        run_in_processes(search, space, next_trial, tell)
        return
    while batch := [t for t in (next_trial() for _ in range(search.n_jobs)) if t is not None]:
        for _, group in groupby(enumerate(batch), key=lambda it: it[1][0] - it[0]):  # runs of consecutive numbers
            trials = [t for _, t in group]
            returns = search.launcher.launch([space.overrides(p) for _, p in trials], initial_job_idx=trials[0][0])
            for (number, _), ret in zip(trials, returns):
                tell(number, Path(ret.hydra_cfg.hydra.runtime.output_dir))


def _trial_source(study: Any, space: SearchSpace, total: int) -> Callable[[], Trial | None]:
    """A function giving the next trial to run, None when there is none: first the trials a killed sweep left
    RUNNING (once each), then new ones while the study holds fewer than `total`."""
    import optuna

    stale = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
    if stale:
        say(f"{len(stale)} trial(s) cut short before ({', '.join(str(t.number) for t in stale)}): run again in "
            "their folders (resumed from last.ckpt where they have one)")

    def next_trial() -> Trial | None:
        if stale:
            frozen = stale.pop(0)
            return frozen.number, _complete_params(study, frozen, space)
        if len(study.get_trials(deepcopy=False)) >= total:
            return None
        trial = study.ask(space.distributions)
        return trial.number, dict(trial.params)

    return next_trial


def _complete_params(study: Any, frozen: Any, space: SearchSpace) -> dict[str, Any]:
    """A RUNNING trial's parameters; one killed between its creation and its last suggestion gets the rest now."""
    missing = [name for name in space.distributions if name not in frozen.params]
    if not missing:
        return {name: frozen.params[name] for name in space.distributions}
    import optuna

    trial = optuna.trial.Trial(study, frozen._trial_id)
    for name in missing:
        trial._suggest(name, space.distributions[name])
    return {name: trial.params[name] for name in space.distributions}


def _tell(study: Any, number: int, run_dir: Path, metric: str) -> None:
    """The study learns how trial `number` ended, from its record; a trial not finished stays RUNNING."""
    import optuna

    state = trial_state(run_dir)
    if state is None:
        say(f"trial {number} did not finish ({run_dir.name}); it runs again when the search is re-run")
        return
    value = objective_of(run_dir, metric) if state == "COMPLETE" else None
    if state == "COMPLETE" and value is None:
        state = "FAIL"  # ok, but without the objective (objective.metric names no metric of the record)
        say(f"trial {number}: no finite {metric} in {run_dir / 'results.json'}; told to Optuna as failed")
    try:
        study.tell(number, state=optuna.trial.TrialState[state], values=value, skip_if_finished=True)
    except RuntimeError as err:  # the grid sampler stops the study after its last point: the state is stored
        if "Study.stop" not in str(err):
            raise
