"""A Keras-like progress display: Lightning's bar during the epoch, then one Keras line per epoch."""
from __future__ import annotations

import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm


def keras_line(epoch: int, max_epochs: int, seconds: float, metrics: dict[str, float]) -> str:
    """`Epoch 2/5 - 3.1s - loss: 0.1234 - acc: 0.9612 - val_loss: ...` (Keras' `fit` verbose=1 epoch line)."""
    parts = [f"Epoch {epoch}/{max_epochs}", f"{seconds:.1f}s"]
    for split, prefix in (("train", ""), ("val", "val_")):
        for key, value in sorted(metrics.items()):
            # `train/loss` is the epoch mean; its `_step`/`_epoch` twins would repeat it
            if key.startswith(f"{split}/") and not key.endswith(("_step", "_epoch")):
                parts.append(f"{prefix}{key.split('/', 1)[1]}: {value:.4f}")
    return " - ".join(parts)


class KerasProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar (metrics shown live) plus a permanent Keras-style line per epoch."""

    def __init__(self, refresh_rate: int = 20) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=False)
        self._epoch_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        line = keras_line(trainer.current_epoch + 1, trainer.max_epochs, time.perf_counter() - self._epoch_start, metrics)
        self._log_line(trainer, line)

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)  # Keras shows no validation bar: the epoch line carries val_ metrics

    @staticmethod
    def _log_line(trainer: pl.Trainer, line: str) -> None:
        if trainer.is_global_zero:
            Tqdm.write(line)  # clears the live bar first, so the line is not glued to it
