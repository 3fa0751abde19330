"""What the model learned, in TensorBoard while it trains (DLwP 5.4), with the functions of `litzoo-visualize`.

Every `every_n_epochs`, after validation: `activations/<layer>` of the first fixed image and
`confusion_matrix/val`, counted from the predictions validation makes anyway (a forward hook, no extra
pass). On small data they are a noticeable share of an epoch (docs/speed.md), so the callback skips an epoch's
pictures while their running total exceeds `max_overhead` (5%) of the training time; on larger data every epoch
gets them. After the test: `confusion_matrix` (test split). Once at the end of fit: `filters/<layer>` (of
the layers training changes), `gradcam/val_<i>`, `mistakes` (from the last validation epoch's own
predictions), and for text models `text_heatmap/<i>` and the embedding projector; these and the final
activations are also written as PNG files into the run's `visualizations/`. Each part applies only where
it can: conv layers for activations, filters and Grad-CAM; a classifier for the rest.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from litzoo.heads import class_probabilities
from litzoo.run.loggers import tensorboard_writer
from litzoo.visual.compute import confusion_counts
from litzoo.visual.inputs import Mistakes
from litzoo.visual.layers import trainable_conv_layers
from litzoo.visual.report import (
    Publisher,
    Settings,
    Subject,
    default_filter_layers,
    write_activations,
    write_all,
    write_confusion,
    write_mistakes,
)


class ConvVisualizer(Callback):
    """DLwP 5.4's pictures over training; every part can be switched off (see conf/callbacks/default.yaml)."""

    def __init__(self, every_n_epochs: int = 1, images: int = 2, activations: bool = True,
                 confusion_matrix: bool = True, filters: int = 16, steps: int = 40, step: float = 10.0,
                 gradcam: bool = True, mistakes: int = 16, text: bool = True, max_channels: int = 32,
                 max_overhead: float | None = 0.05) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs, self.images, self.max_overhead = every_n_epochs, images, max_overhead
        self.activations, self.confusion_matrix, self.max_channels = activations, confusion_matrix, max_channels
        self.settings = Settings(activations=False, max_channels=max_channels, filters=filters, steps=steps, step=step,
                                 gradcam=gradcam, text=text, mistakes=mistakes, confusion_split=None)
        self.batch: tuple[Tensor, Tensor] | None = None
        self.counts: Tensor | None = None
        self.mistakes = self.val_mistakes = Mistakes(0)
        self.handle: RemovableHandle | None = None
        self.last_out: Tensor | None = None
        self.subject: Subject | None = None
        self.drawing = False
        self.started, self.spent = time.perf_counter(), 0.0  # seconds of training, of it in per-epoch pictures

    def _subject(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Subject:
        if self.subject is None or self.subject.net is not pl_module.net:
            self.subject = Subject(pl_module.net, trainer.datamodule, pl_module.num_classes)
        return self.subject

    def _publisher(self, trainer: pl.Trainer, folder: bool, tensorboard: bool = True) -> Publisher:
        writer = tensorboard_writer(trainer.logger) if tensorboard else None
        path = Path(trainer.default_root_dir) / "visualizations" if folder and trainer.is_global_zero else None
        return Publisher(path, writer, trainer.global_step)

    # -- the predictions validation and test make anyway, seen through a forward hook (no extra pass)
    def _start_counting(self, pl_module: pl.LightningModule, mistakes: int = 0) -> None:
        self.counts, self.mistakes = None, Mistakes(mistakes)
        if pl_module.num_classes and self.handle is None:
            self.handle = pl_module.net.register_forward_hook(lambda _m, _i, out: setattr(self, "last_out", out))

    def _count(self, pl_module: pl.LightningModule, batch: Any) -> None:
        if self.handle is None or self.last_out is None:
            return
        probs = class_probabilities(self.last_out.detach())
        counts = confusion_counts(batch[1], probs.argmax(1), pl_module.num_classes)
        self.counts = counts if self.counts is None else self.counts + counts
        if batch[0].dim() == 4:
            self.mistakes.update(batch[0], batch[1], probs)
        self.last_out = None

    def _stop_counting(self) -> Tensor | None:
        if self.handle is not None:
            self.handle.remove()
        self.handle, self.last_out = None, None
        return self.counts

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started, self.spent = time.perf_counter(), 0.0

    def _due(self, trainer: pl.Trainer) -> bool:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return False
        training = time.perf_counter() - self.started - self.spent
        return not self.max_overhead or self.spent <= self.max_overhead * training

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.drawing = self._due(trainer)
        if (self.confusion_matrix and self.drawing) or self.settings.mistakes:
            self._start_counting(pl_module, self.settings.mistakes)  # mistakes: the last epoch's are drawn at the end

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.batch is None and batch_idx == 0 and not trainer.sanity_checking:
            self.batch = (batch[0][: self.images].detach().clone(), batch[1][: self.images].detach().clone())

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self._count(pl_module, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        counts = self._stop_counting()
        self.val_mistakes = self.mistakes
        subject, publish = self._subject(trainer, pl_module), self._publisher(trainer, folder=False)
        if not self.drawing or publish.writer is None:
            return
        start = time.perf_counter()
        if self.activations and self.batch is not None:
            write_activations(subject, self.batch[0][:1], publish, self.max_channels)
        if counts is not None and self.confusion_matrix:
            write_confusion(subject, counts, publish, "confusion_matrix/val", "validation")
        self.spent += time.perf_counter() - start

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.confusion_matrix:
            self._start_counting(pl_module)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._count(pl_module, batch)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        counts = self._stop_counting()
        if counts is not None:
            write_confusion(self._subject(trainer, pl_module), counts, self._publisher(trainer, folder=True),
                            "confusion_matrix", "test")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Filter patterns, Grad-CAM, mistakes and text pictures of the final model, once."""
        if self.batch is None or trainer.interrupted or not trainer.is_global_zero:
            return
        subject = self._subject(trainer, pl_module)
        # a frozen base's filter patterns are its pretrained ones, the same after any training: litzoo-visualize draws those
        layers = [n for n in default_filter_layers(list(subject.layers)) if n in trainable_conv_layers(pl_module.net)]
        settings = replace(self.settings, filter_layers=layers, filters=self.settings.filters if layers else 0,
                           mistakes=0)
        x, y = (t.to(pl_module.device) for t in self.batch)
        if self.activations:  # TensorBoard has these from the last epoch already: PNG files only
            write_activations(subject, x, self._publisher(trainer, folder=True, tensorboard=False), self.max_channels)
        publish = self._publisher(trainer, folder=True)
        with torch.inference_mode(False):
            write_all(subject, publish, x, y, settings)
        if self.settings.mistakes and self.val_mistakes.seen:  # a perfect epoch draws "no mistakes", not nothing
            write_mistakes(subject, self.val_mistakes, publish, "validation")
