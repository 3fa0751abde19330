"""`hydra/sweeper=optuna`: the Hydra Sweeper interface over litzoo.sweep.optuna.OptunaSearch."""
from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Optuna search over Hydra's sweep syntax, with pruning, resume to n_trials and parallel trials."""

    def __init__(self, **kwargs: Any) -> None:
        from litzoo.sweep.optuna import OptunaSearch

        self.search = OptunaSearch(**kwargs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.sweep(arguments)
