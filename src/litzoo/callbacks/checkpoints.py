"""Checkpoints that survive a moved run directory: Keras' `save_best_only` and a true `last.ckpt`.

Lightning 2.6's `save_last=True` rewrites `last.ckpt` only in steps where a top-k checkpoint was saved, so
after epochs without improvement `last.ckpt` is stale. litzoo uses two callbacks instead (conf/callbacks):
one keeps the best by `val/loss`, the other (`monitor: null`, filename `last`) rewrites `last.ckpt` at the
end of every epoch. Both remap their stored paths when the run directory was moved or renamed, where
Lightning would drop the best-score tracking (and report a worse checkpoint as best).

`last.ckpt` (monitor null) is written only when an epoch completed: a run that max_steps, max_time or early
stopping ends mid-epoch keeps the previous epoch's, so a resume repeats the partial epoch from its start,
with the same batches in the same order (each epoch's order depends only on the seed and the epoch), and
stays exact. The partial epoch is in history.csv, marked by its `steps`.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


def epoch_completed(trainer: pl.Trainer) -> bool:
    """True when every training batch of the current epoch has run (also after validation at its end)."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.completed >= trainer.num_training_batches


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose restored state follows the run directory to wherever it is now."""

    @cached_property
    def state_key(self) -> str:
        # Lightning formats it for every hook call of every step (its profiler's label); what it is made of is
        # fixed at construction
        return super().state_key

    def _should_skip_saving_checkpoint(self, trainer: pl.Trainer) -> bool:
        return super()._should_skip_saving_checkpoint(trainer) or (self.monitor is None and not epoch_completed(trainer))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and Path(old) != Path(self.dirpath):
            state_dict = {**state_dict, "dirpath": self.dirpath,
                          **{k: self._moved(state_dict.get(k), old) for k in
                             ("best_model_path", "kth_best_model_path", "last_model_path")},
                          "best_k_models": {self._moved(p, old): v for p, v in state_dict.get("best_k_models", {}).items()}}
        super().load_state_dict(state_dict)

    def _moved(self, path: str | None, old_dir: str) -> str | None:
        if not path:
            return path
        try:
            return str(Path(self.dirpath) / Path(path).relative_to(old_dir))
        except ValueError:  # a file outside the old checkpoint folder: leave it as it was
            return path
