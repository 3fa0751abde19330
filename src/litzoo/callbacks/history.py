"""Keras' `History` as a file: `history.csv` in the run directory, one row per completed epoch.

Columns use Keras' names (`loss`, `acc`, `val_loss`, `val_acc`, or `mae` for regression), then the
learning rate, the epoch's wall seconds and its training `steps` (batches); epochs are numbered from 1. An
epoch that max_steps, max_time or early stopping ended early has fewer steps than the others (partial), and
its own metrics; `val_*` cells are empty for an epoch without validation (check_val_every_n_epoch). A resumed run reads the rows
already on disk and continues them, so `rows` always covers the whole run (the best epoch is found there).
"""
from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from litzoo.run.atomic import atomic_write_text

FILENAME = "history.csv"


def keras_key(name: str) -> str | None:
    """`train/loss` -> `loss`, `val/acc` -> `val_acc`; step values and other splits -> None."""
    split, _, metric = name.partition("/")
    if not metric or metric.endswith(("_step", "_epoch")) or split not in ("train", "val"):
        return None
    return metric if split == "train" else f"val_{metric}"


def epoch_values(callback_metrics: Mapping[str, Any], validated: bool) -> dict[str, float]:
    """The epoch's metrics under Keras' names, train first, then val only when validation ran in this epoch
    (else Lightning still holds an earlier epoch's `val/*`)."""
    out: dict[str, float] = {}
    for name, value in sorted(callback_metrics.items()):
        key = keras_key(name)
        if key and value.numel() == 1 and (validated or not key.startswith("val_")):
            out[key] = float(value)
    return dict(sorted(out.items(), key=lambda kv: kv[0].startswith("val_")))


def steps_done(trainer: pl.Trainer) -> int:
    """Training batches run in the current epoch so far."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.completed


def read_history(path: Path) -> list[dict[str, Any]]:
    """Rows of a history.csv as numbers (empty cells -> NaN); [] when the file does not exist."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k in ("epoch", "steps") and v else float(v) if v not in ("", None) else math.nan)
             for k, v in r.items()} for r in rows]


class History(Callback):
    """Collects each epoch's train/val metrics, learning rate and seconds; writes them to `history.csv`."""

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / FILENAME
        self.rows: list[dict[str, Any]] = []
        self._start = time.perf_counter()
        self._val_epoch = -1

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            # a resumed run continues the file; rows past the checkpoint's epoch were never checkpointed
            self.rows = read_history(self.path)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        done = trainer.current_epoch  # epochs completed by the checkpoint we resumed from (0 when fresh)
        if len(self.rows) > done:
            self.rows = self.rows[:done]
            if trainer.is_global_zero:
                self._rewrite()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1,
                               **epoch_values(trainer.callback_metrics, self._val_epoch == trainer.current_epoch)}
        optimizers = trainer.optimizers
        row["lr"] = float(optimizers[0].param_groups[0]["lr"]) if optimizers else math.nan
        row["seconds"] = round(time.perf_counter() - self._start, 3)
        row["steps"] = steps_done(trainer)
        self.rows.append(row)
        if trainer.is_global_zero:
            self._rewrite()  # the whole file each epoch (a few KiB), atomically: never a half-written row

    def _columns(self) -> list[str]:
        keys = {k for r in self.rows for k in r} - {"epoch", "lr", "seconds", "steps"}
        train = sorted(k for k in keys if not k.startswith("val_"))
        train = ["loss", *[k for k in train if k != "loss"]] if "loss" in train else train
        val = [f"val_{k}" for k in train if f"val_{k}" in keys]
        return ["epoch", *train, *val, *sorted(keys - set(train) - set(val)), "lr", "seconds", "steps"]

    def _rewrite(self) -> None:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, self._columns(), restval="")
        writer.writeheader()
        writer.writerows({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                         for r in self.rows)
        atomic_write_text(self.path, out.getvalue())
