"""The Lightning side of a trial: report the objective every epoch, stop when pruned (see litzoo.sweep.trial).

A pruned trial ends after the epoch that was judged (its checkpoints written), is not tested, and is recorded
`pruned` (litzoo.run.fit). Rank 0 talks to the storage; every DDP rank follows its decision.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer

from litzoo.sweep.trial import TRIAL_ENV, make_pruner


def pruning_callbacks() -> list[Callback]:
    """[TrialPruning] inside an Optuna trial's job (TRIAL_ENV set), else []."""
    spec = os.environ.get(TRIAL_ENV)
    return [TrialPruning(**json.loads(spec))] if spec else []


class TrialPruning(Callback):
    """Reports the sweep objective after every epoch to the trial (rank 0, through the storage) and stops the
    run after that epoch when the pruner says so (every rank: the decision is broadcast)."""

    def __init__(self, storage: str, study: str, trial: int, metric: str, pruner: str, startup_trials: int) -> None:
        self.storage, self.study_name, self.number, self.metric = storage, study, trial, metric
        self.pruner, self.startup_trials = pruner, startup_trials
        self.pruned_epoch: int | None = None
        self._trial: Any = None

    def _open(self) -> Any:
        import optuna

        if self._trial is None:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage,
                                      sampler=optuna.samplers.RandomSampler(),  # never samples: reports only
                                      pruner=make_pruner(self.pruner, self.startup_trials))
            trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, self.number)
            self._trial = optuna.trial.Trial(study, trial_id)
        return self._trial

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero:
            value, epoch = self._objective(trainer)
            if value is not None:
                trial = self._open()
                trial.report(value, epoch)
                # after the last epoch the trial is complete: pruning it would only cost its test
                last = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
                prune = (last is None or epoch < last) and trial.should_prune()
        if trainer.world_size > 1:
            prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            self.pruned_epoch = trainer.current_epoch + 1
            trainer.should_stop = True
            if trainer.is_global_zero:
                print(f"[sweep] trial {self.number} pruned after epoch {self.pruned_epoch} "
                      f"({self.metric}, pruner: {self.pruner})", flush=True)

    def _objective(self, trainer: Trainer) -> tuple[float | None, int]:
        """The objective as results.json would give it were the run to stop now (litzoo.run.record)."""
        from litzoo.callbacks.history import History
        from litzoo.run.record import labelled_metrics

        history = next(c for c in trainer.callbacks if isinstance(c, History))
        value = labelled_metrics(history.rows, {}).get(self.metric)
        epoch = history.rows[-1]["epoch"] if history.rows else trainer.current_epoch + 1
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        return (float(value) if ok else None), int(epoch)


def pruned_epoch(trainer: Trainer) -> int | None:
    """The epoch after which the pruner stopped this run, None when it did not."""
    return next((c.pruned_epoch for c in trainer.callbacks if isinstance(c, TrialPruning)), None)
