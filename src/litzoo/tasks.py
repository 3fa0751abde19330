"""LightningModules, one per task kind: classification (multiclass/binary) and regression.

The network, the optimizer partial and the scheduler partial come from config; one `step` serves all
splits. Metric names: `{train,val,test}/loss`, `/acc` (classification) or `/mae` (regression).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class _Task(pl.LightningModule):
    """Shared plumbing: forward, one step for every split, optimizers from partials."""

    metric_name = ""

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None,
                 scheduler_monitor: str = "val/loss", scheduler_interval: str = "epoch") -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_interval = scheduler_interval
        # keys are prefixed: ModuleDict refuses "train", an nn.Module method
        self.metrics = nn.ModuleDict({f"{split}_{kind}": self.make_metric() if kind == "metric" else torchmetrics.MeanMetric()
                                      for split in ("train", "val", "test") for kind in ("metric", "loss")})

    def make_metric(self) -> torchmetrics.Metric:
        raise NotImplementedError

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(loss, prediction in the form the metric takes)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def step(self, batch: tuple[Tensor, Tensor], split: str, batch_idx: int) -> Tensor:
        x, y = batch
        loss, pred = self.loss_and_output(self(x), y)
        metric, mean_loss = self.metrics[f"{split}_metric"], self.metrics[f"{split}_loss"]
        metric.update(pred, y)
        mean_loss.update(loss.detach(), weight=y.shape[0])
        # Each self.log costs ~0.7 ms on CPU: log the step loss only on the steps Lightning writes, and hand
        # the epoch accumulators (computed and reset by Lightning at epoch end) over once per epoch.
        if split == "train" and (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        if split != "train" or batch_idx == self.trainer.num_training_batches - 1:
            self.log(f"{split}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=True)
            self.log(f"{split}/{self.metric_name}", metric, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "train", batch_idx)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "val", batch_idx)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "test", batch_idx)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {
            "scheduler": scheduler, "monitor": self.scheduler_monitor, "interval": self.scheduler_interval}}


def classification_kind(units: int, activation: str | None, num_classes: int) -> str:
    """'binary' (one sigmoid unit -> BCEWithLogits) or 'categorical' (N softmax units -> cross-entropy).

    The output layer's activation was left to the loss by the builder (`net.output_activation`); a
    linear output is taken as the logits of the same loss (DLwP 6.4's `Dense(1)` + binary_crossentropy).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if units == 1 and activation in ("sigmoid", None) and num_classes == 2:
        return "binary"
    if units == num_classes and activation in ("softmax", None):
        return "categorical"
    raise ValueError(f"the model ends in {units} {activation or 'linear'} unit(s) but the data has {num_classes} "
                     f"classes. Valid: 1 sigmoid unit for 2 classes (binary cross-entropy) or {num_classes} softmax "
                     "units (cross-entropy); write the output layer as units: ${output_units:${data.num_classes}}, "
                     "activation: ${output_activation:${data.num_classes}} to follow the data.")


class ClassificationTask(_Task):
    """Binary (one sigmoid unit -> BCEWithLogits) or multiclass (N softmax units -> CrossEntropy on logits)."""

    metric_name = "acc"

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, num_classes: int,
                 scheduler: SchedulerFactory | None = None, **kwargs: Any) -> None:
        self.kind = classification_kind(_output_units(net), getattr(net, "output_activation", None), num_classes)
        self.num_classes = num_classes
        super().__init__(net, optimizer, scheduler, **kwargs)

    def make_metric(self) -> torchmetrics.Metric:
        if self.kind == "binary":
            return torchmetrics.classification.BinaryAccuracy()
        return torchmetrics.classification.MulticlassAccuracy(num_classes=self.num_classes, average="micro")

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        out = out.float()  # losses in fp32 under mixed precision
        if self.kind == "binary":  # Keras' Dense(1, activation='sigmoid') + binary_crossentropy: one logit each
            logits = out.squeeze(-1)
            return F.binary_cross_entropy_with_logits(logits, y.float()), logits.sigmoid()
        return F.cross_entropy(out, y), out.argmax(dim=-1)


class ScaledMAE(torchmetrics.MeanAbsoluteError):
    """MAE of predictions and targets multiplied by `scale` (a normalised target's std): original units."""

    scale = 1.0

    def update(self, preds: Tensor, target: Tensor) -> None:
        super().update(preds * self.scale, target * self.scale)


class RegressionTask(_Task):
    """Regression: MSE (Keras 'mse') or MAE (Keras 'mae') loss, MAE metric.

    When the data module normalises the target it exposes `target_scale` (the target's std): the loss
    stays in normalised units (as in DLwP 6.3) and the MAE metric is reported in the target's own units.
    Its `reference_metrics` (e.g. `val/baseline_mae`) are logged beside the model's, every run.
    """

    metric_name = "mae"

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, loss: str = "mse",
                 scheduler: SchedulerFactory | None = None, target_scale: float | None = None, **kwargs: Any) -> None:
        losses = {"mse": F.mse_loss, "mae": F.l1_loss}
        if loss not in losses:
            raise ValueError(f"unknown regression loss {loss!r}; valid: {sorted(losses)}")
        self.loss_fn = losses[loss]
        super().__init__(net, optimizer, scheduler, **kwargs)
        self.target_scale = target_scale
        self._set_scale(target_scale)

    def _set_scale(self, scale: float | None) -> None:
        for metric in self.metrics.values():
            metric.scale = 1.0 if scale is None else float(scale)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.target_scale is None and getattr(datamodule, "target_scale", None) is not None:
            self._set_scale(datamodule.target_scale)

    def make_metric(self) -> torchmetrics.Metric:
        return ScaledMAE()

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        pred = out.float().reshape(y.shape)
        return self.loss_fn(pred, y.float()), pred

    def _log_reference(self, split: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        for name, value in (getattr(datamodule, "reference_metrics", None) or {}).items():
            if name.startswith(f"{split}/"):
                self.log(name, float(value), on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self._log_reference("val")

    def on_test_epoch_end(self) -> None:
        self._log_reference("test")


def _output_units(net: nn.Module) -> int:
    shape = getattr(net, "output_shape", None)
    if shape is None:
        raise ValueError(f"{type(net).__name__} must expose `output_shape` (built by litzoo.models)")
    return int(shape[-1])
