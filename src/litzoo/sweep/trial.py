"""Which Optuna trial a sweep job is, and its pruner: what the job needs to reach its trial through the storage.

The job reaches its trial through the study's storage URL, never an in-memory object, so pruning works for a
trial in this process, a fresh process of `hydra.sweeper.n_jobs`, a joblib or SLURM worker, and every DDP rank:
`trial_env` puts the storage, study, trial number and pruner into the job's environment (DDP ranks inherit it),
and litzoo.sweep.pruning.pruning_callbacks (called by litzoo.run.build) turns it into the callback.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litzoo.run.environ import environ

TRIAL_ENV = "LITZOO_OPTUNA_TRIAL"  # JSON: storage, study, trial, metric, pruner (set by trial_env)
PRUNERS = ("median", "hyperband", "none")
# a finished job's record status -> its trial's Optuna state; any other status: not finished (the trial stays RUNNING)
FINISHED = {"ok": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL", "diverged": "FAIL", "unreadable": "FAIL"}


def make_pruner(name: str, startup_trials: int = 3) -> Any:
    """Optuna's pruner for `hydra.sweeper.pruner`: median (after `startup_trials` completed trials), hyperband
    (its resources are epochs), none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    from litzoo.errors import LitzooError

    raise LitzooError(f"hydra.sweeper.pruner={name!r}: expected one of {', '.join(PRUNERS)}")


def is_optuna_sweep(hydra_cfg: Any) -> bool:
    """True in a job of litzoo's Optuna sweeper (hydra/sweeper=optuna)."""
    from omegaconf import OmegaConf

    return "litzoo_optuna_sweeper" in str(OmegaConf.select(hydra_cfg, "sweeper._target_", default=""))


@contextmanager
def trial_env(hydra_cfg: Any, metric: str) -> Iterator[None]:
    """While the job trains: its trial in TRIAL_ENV (hydra.job.num is the trial's number), when it is one."""
    if not is_optuna_sweep(hydra_cfg):
        yield
        return
    sweeper = hydra_cfg.sweeper
    with environ({TRIAL_ENV: json.dumps({
            "storage": str(sweeper.storage), "study": str(sweeper.study_name), "trial": int(hydra_cfg.job.num),
            "metric": metric, "pruner": str(sweeper.pruner), "startup_trials": int(sweeper.pruner_startup_trials)})}):
        yield


