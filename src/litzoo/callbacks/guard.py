"""Stop a run at the first non-finite loss, before any checkpoint of the diverged model is written.

Keras' `TerminateOnNaN`, plus validation. Lightning orders checkpoint callbacks last, so raising here
(in `on_train_batch_end` / `on_validation_end`) happens before `last.ckpt` or a "best" checkpoint of
NaN weights could be saved: `last.ckpt` keeps the last finite epoch.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from litzoo.errors import DivergedError, diverged_message


def _lr(trainer: pl.Trainer) -> float | None:
    return float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else None


class DivergenceGuard(Callback):
    """Raises `DivergedError` on a NaN/Inf training loss (checked every `check_every` steps on GPU, every
    step on CPU where reading it costs nothing) or validation loss; the epoch mean catches the steps between."""

    def __init__(self, check_every: int = 1, gpu_check_every: int = 20) -> None:
        self.check_every, self.gpu_check_every = check_every, gpu_check_every

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        every = self.check_every if pl_module.device.type == "cpu" else self.gpu_check_every
        if isinstance(loss, torch.Tensor) and (every == 1 or trainer.global_step % every == 0 or trainer.is_last_batch):
            self._check(trainer, "training loss", float(loss.detach()))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss")
        if value is not None:
            self._check(trainer, "mean training loss of the epoch", float(value))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get("val/loss")
        if value is not None and not trainer.sanity_checking:
            self._check(trainer, "validation loss", float(value))

    @staticmethod
    def _check(trainer: pl.Trainer, what: str, value: float) -> None:
        if not math.isfinite(value):
            saved = any(Path(p).is_file() for cb in trainer.checkpoint_callbacks
                        for p in (getattr(cb, "best_model_path", ""), getattr(cb, "last_model_path", "")) if p)
            raise DivergedError(diverged_message(what, value, trainer.current_epoch + 1, trainer.global_step,
                                                 _lr(trainer), last_checkpoint=saved))
