"""Learning curves like the seed notes' plot (DLwP 3.4/5.2: `history['loss']` against `history['val_loss']`).

Training and validation loss share one chart, accuracy (or MAE, with the naive baseline) another: in
TensorBoard's CUSTOM SCALARS tab (a layout written once per run) and as `learning_curves.png` in the run
directory, drawn at the end of fit (and when fit stops on an error) from the `History` callback's rows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from pytorch_lightning.callbacks import Callback

from litzoo.callbacks.history import History
from litzoo.run.atomic import atomic_write
from litzoo.run.loggers import tensorboard_writer

FILENAME = "learning_curves.png"
_TITLES = {"loss": "loss", "acc": "accuracy", "mae": "MAE"}


def tensorboard_layout(metric: str) -> dict[str, dict[str, list[Any]]]:
    """Custom-scalars layout: train/val loss on one chart, train/val `metric` (+ baseline MAE) on another."""
    def tags(name: str) -> list[str]:
        # regexes matched from the start: anchored, so `train/loss` does not also take `train/loss_step`
        return [f"^train/{name}$", f"^val/{name}$"] + (["^val/baseline_mae$"] if name == "mae" else [])

    return {"Learning curves": {_TITLES.get(name, name): ["Multiline", tags(name)] for name in ("loss", metric)}}


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) is not None else math.nan for r in rows]


def plot_learning_curves(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """DLwP's two plots side by side: training as dots, validation as a line, per epoch (from 1)."""
    metric = next((k for k in ("acc", "mae") if any(k in r for r in rows)), None)
    charts = ["loss"] + ([metric] if metric else [])
    epochs = [int(r["epoch"]) for r in rows]
    fig = Figure(figsize=(5.5 * len(charts), 4), dpi=100)
    FigureCanvasAgg(fig)  # a figure of its own: no pyplot state shared between runs in one process
    for ax, key in zip(fig.subplots(1, len(charts), squeeze=False)[0], charts):
        title = _TITLES[key]
        ax.plot(epochs, _column(rows, key), "bo", label=f"Training {title}")
        ax.plot(epochs, _column(rows, f"val_{key}"), "b", label=f"Validation {title}")
        if key == "mae" and any("val_baseline_mae" in r for r in rows):
            ax.plot(epochs, _column(rows, "val_baseline_mae"), "k--", label="Baseline (naive) MAE")
        ax.set_title(f"Training and validation {title}")
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))


class LearningCurves(Callback):
    """The CUSTOM SCALARS layout at fit start; `learning_curves.png` in `dirpath` when fit ends or fails."""

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / FILENAME

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = tensorboard_writer(trainer.logger)
        if writer is not None:  # rank zero only (litzoo.run.loggers)
            writer.add_custom_scalars(tensorboard_layout(pl_module.metric_name))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._plot(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._plot(trainer)  # an interrupted or diverged run keeps its curves up to the failure

    def _plot(self, trainer: pl.Trainer) -> None:
        history = next((c for c in trainer.callbacks if isinstance(c, History)), None)
        if trainer.is_global_zero and history and history.rows:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            plot_learning_curves(history.rows, self.path)
