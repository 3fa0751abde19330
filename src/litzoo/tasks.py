"""LightningModules, one per task kind: classification (multiclass/binary) and regression.

The network, the optimizer partial and the scheduler partial come from config; one `step` serves all
splits. Metric names: `{train,val,test}/loss`, `/acc` (classification) or `/mae` (regression).

`channels_last` (config `task.channels_last`: auto | true | false) is applied here and only here: the
network's 4-D weights at setup, every 4-D input batch in `forward`. Same numbers (to float rounding),
less time: on a 2-core Xeon (torch 2.14, CPU) the MNIST convnet's epoch took 7.8 s instead of 9.9 s
(benchmarks/bench_epoch.py) and the cats-vs-dogs convnet trained 92 instead of 72 images/s
(benchmarks/bench_image_pipeline.py): oneDNN's convolutions and pooling run on NHWC without reorders.
`auto` turns it on for networks with 2-D convolutions (on GPUs it is NVIDIA's advice for tensor cores
under mixed precision; not measured here).
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
CHANNELS_LAST = ("auto", True, False)


def use_channels_last(net: nn.Module, setting: bool | str) -> bool:
    """`task.channels_last` resolved for this network: `auto` means "has a 2-D convolution"."""
    if setting not in CHANNELS_LAST:
        raise ValueError(f"task.channels_last must be one of auto, true, false; got {setting!r}")
    if setting == "auto":
        return any(isinstance(m, nn.Conv2d) for m in net.modules())
    return bool(setting)


class _Task(pl.LightningModule):
    """Shared plumbing: forward, one step for every split, optimizers from partials."""

    metric_name = ""

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None,
                 scheduler_monitor: str = "val/loss", scheduler_interval: str = "epoch",
                 channels_last: bool | str = "auto") -> None:
        super().__init__()
        self.net = net
        self.channels_last = use_channels_last(net, channels_last)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_interval = scheduler_interval
        # keys are prefixed: ModuleDict refuses "train", an nn.Module method. nan_strategy="disable": a NaN
        # loss reaches the epoch mean (DivergenceGuard reports it), and no `isnan().any()` host sync is
        # paid every step on a GPU
        self.metrics = nn.ModuleDict({f"{split}_{kind}": self.make_metric() if kind == "metric"
                                      else torchmetrics.MeanMetric(nan_strategy="disable")
                                      for split in ("train", "val", "test") for kind in ("metric", "loss")})

    def make_metric(self) -> torchmetrics.Metric:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        # before Lightning builds the optimizer, whose state then takes the same layout; a checkpoint's
        # weights are copied into these tensors, so a resume keeps the layout
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(loss, prediction in the form the metric takes)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and x.dim() == 4:  # (B, C, H, W), stored as (B, H, W, C)
            x = x.contiguous(memory_format=torch.channels_last)
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
        if split != "train":
            self._log_epoch(split)
        return loss

    def _log_epoch(self, split: str) -> None:
        self.log(f"{split}/loss", self.metrics[f"{split}_loss"], on_step=False, on_epoch=True, prog_bar=True)
        self.log(f"{split}/{self.metric_name}", self.metrics[f"{split}_metric"], on_step=False, on_epoch=True,
                 prog_bar=True)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Hand the epoch's train accumulators over on the epoch's last batch, which is also the batch after
        which max_steps, max_time (Timer) or early stopping end the epoch early: the record of a partial
        epoch then holds that epoch's own numbers, not the previous epoch's."""
        trainer = self.trainer
        if (batch_idx == trainer.num_training_batches - 1 or trainer.should_stop
                or 0 < trainer.max_steps <= trainer.global_step):
            self._log_epoch("train")

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
        extra = {}
        if self.scheduler_interval == "step" and "total_steps" in getattr(self.scheduler_factory, "keywords", {}):
            # a per-step schedule over the whole run (OneCycleLR): its length is known to the trainer only
            extra["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, **extra)
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
                 scheduler: SchedulerFactory | None = None, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        self.kind = classification_kind(_output_units(net), getattr(net, "output_activation", None), num_classes)
        self.num_classes = num_classes
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"task.label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        super().__init__(net, optimizer, scheduler, **kwargs)

    def make_metric(self) -> torchmetrics.Metric:
        # labels are range-checked once when the data loads (check_labels) and predictions are argmax
        # indices: the per-step validation (a torch.unique, a host sync on a GPU) would find nothing
        if self.kind == "binary":
            return torchmetrics.classification.BinaryAccuracy(validate_args=False)
        return torchmetrics.classification.MulticlassAccuracy(num_classes=self.num_classes, average="micro",
                                                              validate_args=False)

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        out = out.float()  # losses in fp32 under mixed precision
        if self.kind == "binary":  # Keras' Dense(1, activation='sigmoid') + binary_crossentropy: one logit each
            logits = out.squeeze(-1)
            # Keras' binary_crossentropy(label_smoothing=s): targets squeezed towards 0.5
            target = y.float() * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
            return F.binary_cross_entropy_with_logits(logits, target), logits.sigmoid()
        # torch's smoothing is Keras' categorical_crossentropy(label_smoothing=s): s spread over all classes
        return F.cross_entropy(out, y, label_smoothing=self.label_smoothing), out.argmax(dim=-1)


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
        super().setup(stage)
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
