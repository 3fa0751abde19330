"""Keras' progress display (`Model.fit(verbose=1)`): one live line per epoch that ends as the epoch's record.

    Epoch 3/30  12/18 ━━━━━━━━━━━━━━━━━━━━ 0s 41ms/step - acc: 0.9700 - loss: 0.0900
    Epoch 3/30  18/18 ━━━━━━━━━━━━━━━━━━━━ 1s 41ms/step - acc: 0.9700 - loss: 0.0900 - val_acc: ... - val_loss: ...

In a terminal the first line is redrawn in place (at most every `refresh_s`, cut to the width, never
wrapped) and becomes the second after validation (in a narrow terminal the bar gives way, then the `val_`
metrics go on a second line rather than being cut; train.log keeps the whole line). Piped output (CI, nohup, a file) has no redraws: the
epoch line, plus a progress line every `log_every_s` in long epochs. Being a Lightning `ProgressBar`, it
replaces Lightning's TQDM bar.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks.progress import ProgressBar

from litzoo.callbacks.history import epoch_values
from litzoo.run import console
from litzoo.tasks import Task

BAR_WIDTH = 20  # Keras' Progbar
_DONE, _TODO, _RESET = "\x1b[32m", "\x1b[2m", "\x1b[0m"


def format_duration(seconds: float) -> str:
    """Keras Progbar's ETA / elapsed time: `7s`, `1:05`, `1:02:03`."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s}s"


def format_step_time(seconds: float) -> str:
    """Keras Progbar's time per step: `2s/step`, `41ms/step`, `850us/step`."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    return f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3 else f"{seconds * 1e6:.0f}us/step"


def format_metrics(metrics: Mapping[str, float]) -> str:
    """` - acc: 0.9700 - loss: 0.0900` (Keras: 4 decimals, scientific below 1e-3)."""
    return "".join(f" - {k}: {v:.4f}" if abs(v) >= 1e-3 or v == 0 else f" - {k}: {v:.4e}"
                   for k, v in metrics.items())


def keras_line(label: str, step: int, total: int | float, seconds: float, step_seconds: float,
               metrics: Mapping[str, float], width: int | None = None, color: bool = False) -> str:
    """One Keras Progbar line; with a `width` the bar shrinks, then goes, then the line is cut (`…`) to fit."""
    known = total not in (0, float("inf"))
    count = f"{step:{len(str(int(total)))}d}/{int(total)}" if known else str(step)
    head = f"{label}  {count} "
    tail = f"{format_duration(seconds)} {format_step_time(step_seconds)}{format_metrics(metrics)}"
    bar = BAR_WIDTH if width is None else min(BAR_WIDTH, width - 2 - len(head) - len(tail))
    if not known or bar < 5:
        return fit([(head + tail, "")], width)
    done = min(bar, bar * step // int(total))
    # uncoloured, the part still to go is drawn thinner, so a piped progress line still shows how far it is
    return fit([(head, ""), ("━" * done, _DONE), (("━" if color else "─") * (bar - done), _TODO),
                (" " + tail, "")], width, color)


def epoch_lines(label: str, step: int, total: int | float, seconds: float, step_seconds: float,
                metrics: Mapping[str, float], width: int) -> list[str]:
    """The finished epoch on a terminal: one line if it fits (the bar gives way first), else the `val_` metrics
    on a second, indented line rather than cut off; each line cut to `width` if still too long."""
    line = keras_line(label, step, total, seconds, step_seconds, metrics, width, color=True)
    val = {k: v for k, v in metrics.items() if k.startswith("val_")}
    if not line.endswith("…") or not val:
        return [line]
    train = {k: v for k, v in metrics.items() if k not in val}
    indent = " " * (len(label) + 2)
    return [keras_line(label, step, total, seconds, step_seconds, train, width, color=True),
            fit([(indent + format_metrics(val).removeprefix(" - "), "")], width)]


def fit(segments: list[tuple[str, str]], width: int | None, color: bool = False) -> str:
    """Join (text, ANSI style) segments, cut to `width` - 1 visible characters (terminals wrap on the last one)."""
    room = sys.maxsize if width is None else max(width - 1, 1)
    cut = sum(len(text) for text, _ in segments) > room
    room -= cut
    parts = []
    for text, style in segments:
        text, room = text[:room], room - len(text[:room])
        if text:
            parts.append(f"{style}{text}{_RESET}" if color and style else text)
    return "".join(parts) + ("…" if cut else "")


def running_metrics(pl_module: pl.LightningModule, split: str) -> dict[str, float]:
    """The epoch's running means so far (Keras shows them live): a litzoo task's (`litzoo.tasks`), none otherwise."""
    return pl_module.running_metrics(split) if isinstance(pl_module, Task) else {}


class KerasProgressBar(ProgressBar):
    """Keras' `fit(verbose=1)` display: a live line per epoch, kept as the epoch's line with val metrics and time."""

    def __init__(self, refresh_s: float = 0.15, log_every_s: float = 30.0) -> None:
        super().__init__()
        self.refresh_s, self.log_every_s = refresh_s, log_every_s
        self._enabled = self._interactive = True
        self._start = self._last_step = self._last_shown = 0.0
        self._steps = 0
        self._val_epoch = -1

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        console.clear_live()
        print(*args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restart()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._tick(trainer, pl_module, batch_idx + 1, "train")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Runs after validation: the permanent epoch line with val metrics and the whole epoch's time."""
        if not self._enabled:
            return
        metrics = epoch_values(trainer.callback_metrics, self._val_epoch == trainer.current_epoch)
        args = (self._epoch_label(trainer), self._steps, self.total_train_batches, time.perf_counter() - self._start,
                (self._last_step - self._start) / max(self._steps, 1), metrics)
        full = keras_line(*args)
        if self._interactive:
            shown = epoch_lines(*args, width=shutil.get_terminal_size().columns)
            console.write_line("\n".join(shown), full)
        else:
            console.write_line(full)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_epoch = trainer.current_epoch  # the epoch line shows val_* only of its own epoch

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restart()

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        # Keras' evaluate() line, live only: the end summary reports the test metrics
        self._tick(trainer, pl_module, batch_idx + 1, "test", dataloader_idx)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        console.clear_live()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        console.end_live()  # keep how far the epoch got, above the error

    @staticmethod
    def _epoch_label(trainer: pl.Trainer) -> str:
        epochs = trainer.max_epochs
        return f"Epoch {trainer.current_epoch + 1}" + (f"/{epochs}" if epochs and epochs > 0 else "")

    def _restart(self) -> None:
        self._start = self._last_step = self._last_shown = time.perf_counter()
        self._steps = 0
        self._interactive = console.is_interactive()  # once per epoch: a system call

    def _tick(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int, split: str,
              dataloader_idx: int = 0) -> None:
        """Count a step; redraw the live line (terminal) or print a progress line (piped) when it is due. Runs
        every step: what the line needs (label, total, metrics) is looked up only when it is drawn."""
        now = self._last_step = time.perf_counter()
        self._steps = step
        interactive = self._interactive
        due = now - self._last_shown >= (self.refresh_s if interactive else self.log_every_s)
        if not self._enabled or not (due or interactive):
            return
        total = self.total_train_batches if split == "train" else trainer.num_test_batches[dataloader_idx]
        # a terminal also shows an epoch's last step: that line stays up while validation runs
        if not (due or step == total):
            return
        self._last_shown = now
        label = self._epoch_label(trainer) if split == "train" else "Test"
        step_seconds = (now - self._start) / step
        eta = step_seconds * (total - step) if total != float("inf") else now - self._start
        metrics = running_metrics(pl_module, split)
        if interactive:
            width = shutil.get_terminal_size().columns
            console.draw_live(keras_line(label, step, total, eta, step_seconds, metrics, width, color=True))
        else:
            console.write_line(keras_line(label, step, total, eta, step_seconds, metrics))
