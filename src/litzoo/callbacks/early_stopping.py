"""Keras' `EarlyStopping(monitor, patience, min_delta, mode, restore_best_weights)` on Lightning's EarlyStopping.

Off by default (`patience: null` in conf/callbacks/default.yaml): `callbacks.early_stopping.patience=3` turns it
on. The rule is Keras': an epoch improves when the monitored value beats the best by more than `min_delta`;
after `patience` epochs without improvement training stops at the end of that epoch. Keras' metric names
(`val_loss`, `val_accuracy`) are read as litzoo's (`val/loss`, `val/acc`).

Exact resume: the counter, the best value and (with `restore_best_weights`) the best weights are callback
state in every checkpoint, so a resumed run stops at the same epoch as an uninterrupted one. Which checkpoint
is *tested* does not change: the best by `callbacks.model_checkpoint.monitor`, as the record says.
"""
from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping

from litzoo.callbacks.history import keras_key
from litzoo.errors import LitzooError

MONITORS = ("val/loss", "val/acc", "val/mae", "train/loss", "train/acc", "train/mae")
# what a Keras user types first -> litzoo's logged names: history.csv's column names, and Keras' `accuracy`
KERAS_NAMES = {keras_key(m): m for m in MONITORS} | {"val_accuracy": "val/acc", "accuracy": "train/acc"}
MODES = ("min", "max", "auto")


class KerasEarlyStopping(EarlyStopping):
    """Stop when `monitor` has not improved for `patience` epochs; `patience: null` is off."""

    def __init__(self, monitor: str = "val/loss", patience: int | None = None, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        monitor = KERAS_NAMES.get(monitor, monitor)
        if monitor not in MONITORS:
            raise LitzooError(f"callbacks.early_stopping.monitor={monitor!r} is not a metric litzoo logs; valid: "
                              f"{', '.join(MONITORS)} (or Keras' names {', '.join(KERAS_NAMES)}).")
        if mode not in MODES:
            raise LitzooError(f"callbacks.early_stopping.mode={mode!r}: valid are {', '.join(MODES)}.")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 0):
            raise LitzooError(f"callbacks.early_stopping.patience={patience!r}: a whole number of epochs >= 0, "
                              "or null (early stopping off).")
        if mode == "auto":  # Keras: 'acc' in the name is maximised, anything else minimised
            mode = "max" if monitor.endswith("acc") else "min"
        # check_finite off: a NaN is litzoo's DivergenceGuard's to report (status `diverged`), not a quiet stop
        super().__init__(monitor=monitor, patience=patience or 0, min_delta=min_delta, mode=mode,
                         check_finite=False, verbose=False)
        self.active = patience is not None
        self.restore_best_weights = restore_best_weights
        self.best_epoch: int | None = None  # counted from 1, as the record does
        self.best_weights: dict[str, torch.Tensor] | None = None
        # the epoch (from 1) at whose end this session stopped training; not callback state: testing the best
        # checkpoint restores every callback's state as it was at that epoch (Lightning), which would erase it
        self.stopped_early_at: int | None = None

    def _should_skip_check(self, trainer: pl.Trainer) -> bool:
        return not self.active or super()._should_skip_check(trainer)

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        stopped_before = trainer.should_stop
        super()._run_early_stopping_check(trainer)
        if self.wait_count == 0:  # this epoch improved (Lightning resets the count only then)
            self.best_epoch = trainer.current_epoch + 1
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().to("cpu", copy=True)
                                     for k, v in trainer.lightning_module.state_dict().items()}
        if trainer.should_stop and not stopped_before and self.stopped_epoch == trainer.current_epoch:
            self.stopped_early_at = trainer.current_epoch + 1
            self._restore(trainer)

    def _restore(self, trainer: pl.Trainer) -> None:
        """Keras restores the best epoch's weights when it stops early (not when training simply ends)."""
        if not (self.restore_best_weights and self.best_weights is not None):
            return
        trainer.lightning_module.load_state_dict(self.best_weights)
        if trainer.is_global_zero:
            print(f"Restoring model weights from the end of the best epoch: {self.best_epoch}.", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_epoch, self.best_weights = state_dict.get("best_epoch"), state_dict.get("best_weights")
