"""LightningModules, one per task kind: classification (multiclass/binary) and regression.

The network, the optimizer partial and the scheduler partial come from config; one `step` serves all
splits. Metric names: `{train,val,test}/loss`, `/acc` (classification) or `/mae` (regression).

`channels_last` (config `task.channels_last`: auto | true | false) is applied here and only here: the
network's 4-D weights at setup, every 4-D input batch in `forward`. Same numbers (to float rounding), less
time on CPU (docs/speed.md): oneDNN's convolutions and pooling run on NHWC without reorders. `auto` turns it
on for networks with 2-D convolutions (on GPUs it is NVIDIA's advice for tensor cores under mixed precision).

How the optimizer and the schedule are stepped (`task.optimization`, the scheduler group's `interval`) lives in
litzoo.optimization; the task's data comes from the data module's declared contract (litzoo.data.base).
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from litzoo.class_weight import class_weights
from litzoo.data.glove import fill_pretrained_embeddings
from litzoo.heads import classification_kind, output_units
from litzoo.optimization import (
    OPTIMIZATION,
    OptimizerFactory,
    SchedulerFactory,
    Stepping,
)

CHANNELS_LAST = ("auto", True, False)


def use_channels_last(net: nn.Module, setting: bool | str) -> bool:
    """`task.channels_last` resolved for this network: `auto` means "has a 2-D convolution"."""
    if setting not in CHANNELS_LAST:
        raise ValueError(f"task.channels_last must be one of auto, true, false; got {setting!r}")
    if setting == "auto":
        return any(isinstance(m, nn.Conv2d) for m in net.modules())
    return bool(setting)


class Task(Stepping):
    """Shared plumbing: forward, one step for every split, optimizers from partials (the step: Stepping)."""

    metric_name = ""
    num_classes: int | None = None  # classifiers set it; None: no classes (regression)

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None,
                 scheduler_monitor: str = "val/loss", scheduler_interval: str = "epoch",
                 channels_last: bool | str = "auto", optimization: str = "direct") -> None:
        """`scheduler_interval`: the scheduler group's `interval`, handed over by litzoo.run.build
        (litzoo.optimization.scheduler_parts); configs stored before it lived there set it as a task key."""
        super().__init__()
        if optimization not in OPTIMIZATION:
            raise ValueError(f"task.optimization must be one of {', '.join(OPTIMIZATION)}; got {optimization!r}")
        self.net = net
        self.channels_last = use_channels_last(net, channels_last)
        self.optimization = optimization
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_monitor = scheduler_monitor
        self.scheduler_interval = scheduler_interval
        # keys are prefixed: ModuleDict refuses "train", an nn.Module method. nan_strategy="disable": a NaN
        # loss reaches the epoch mean (DivergenceGuard reports it)
        self.metrics = nn.ModuleDict({f"{split}_{kind}": self.make_metric() if kind == "metric"
                                      else torchmetrics.MeanMetric(nan_strategy="disable")
                                      for split in ("train", "val", "test") for kind in ("metric", "loss")})
        # Each step's (prediction, target, loss), handed to the metrics in one update when they are read: a
        # torchmetrics update is Python work every step, a list append nearly none (tensors stay on the device).
        self.pending: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {"train": [], "val": [], "test": []}

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around every hook it calls, ~16 times a step, and nn.Module's
        # __setattr__ checks each value against Parameter, Module and buffer: a hook's name is none of them
        if name == "_current_fx_name":
            self.__dict__[name] = value
        else:
            super().__setattr__(name, value)

    def make_metric(self) -> torchmetrics.Metric:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        # before Lightning builds the optimizer, whose state then takes the same layout; a checkpoint's
        # weights are copied into these tensors, so a resume keeps the layout
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        if stage == "fit" and datamodule is not None:  # before a resume restores the trained weights over them
            fill_pretrained_embeddings(self.net, datamodule.vocabulary)

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(loss, prediction in the form the metric takes)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and x.dim() == 4:  # (B, C, H, W), stored as (B, H, W, C)
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def step(self, batch: tuple[Tensor, Tensor], split: str) -> Tensor:
        x, y = batch
        loss, pred = self.loss_and_output(self(x), y)
        self.pending[split].append((pred.detach(), y, loss.detach()))  # detached: no step's graph is kept
        return loss

    def flush(self, split: str) -> None:
        """The split's pending steps into its metrics, as one update each."""
        pending = self.pending[split]
        if not pending:
            return
        preds, targets, losses = zip(*pending)
        pending.clear()
        self.metrics[f"{split}_metric"].update(torch.cat(preds), torch.cat(targets))
        # the epoch's loss is the mean over samples, as Keras reports it: each batch's loss counts once per sample
        # (MeanMetric's `weight` is no help: with nan_strategy="disable" torchmetrics 1.9 replaces it by ones)
        sizes = [len(t) for t in targets]
        per_sample = torch.stack(losses).float().repeat_interleave(
            torch.tensor(sizes, device=losses[0].device), output_size=sum(sizes))
        self.metrics[f"{split}_loss"].update(per_sample)

    def running_metrics(self, split: str) -> dict[str, float]:
        """The split's running means so far this epoch (the progress line); compute() syncs the device."""
        self.flush(split)
        names = {self.metric_name: f"{split}_metric", "loss": f"{split}_loss"}
        return {k: float(self.metrics[key].compute()) for k, key in sorted(names.items())
                if self.metrics[key].update_count}

    def _log_epoch(self, split: str) -> None:
        """Hand the split's accumulators to Lightning, which computes and resets them at the epoch's end."""
        self.flush(split)
        self.log(f"{split}/loss", self.metrics[f"{split}_loss"], on_step=False, on_epoch=True, prog_bar=True)
        self.log(f"{split}/{self.metric_name}", self.metrics[f"{split}_metric"], on_step=False, on_epoch=True,
                 prog_bar=True)

    def _log_step_loss(self, loss: Tensor) -> None:
        """`train/loss_step` every `log_every_n_steps`, at Lightning's step, straight to the loggers: what
        self.log(on_step=True) ends in, without its bookkeeping (docs/speed.md) (and without the `epoch` scalar it adds
        to every step's record; the epoch's own record has it)."""
        for logger in self.loggers:
            logger.log_metrics({"train/loss_step": float(loss.detach())}, step=self.global_step)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.step(batch, "train")
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:  # before this step counts itself
            self._log_step_loss(loss)
        if not self.automatic_optimization:
            self._optimize(loss)
            self._step_scheduler(batch_idx)
        return loss

    # Lightning inspects training_step's signature on every step (`_build_kwargs`): a stored one is read faster
    training_step.__signature__ = inspect.signature(training_step)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Hand the epoch's train accumulators over on the epoch's last batch, which is also the batch after
        which max_steps, max_time (Timer) or early stopping end the epoch early: the record of a partial
        epoch then holds that epoch's own numbers, not the previous epoch's."""
        trainer = self.trainer
        if (batch_idx == trainer.num_training_batches - 1 or trainer.should_stop
                or 0 < trainer.max_steps <= trainer.global_step):
            self._log_epoch("train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")


class ClassificationTask(Task):
    """Binary (one sigmoid unit -> BCEWithLogits) or multiclass (N softmax units -> CrossEntropy on logits)."""

    metric_name = "acc"

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, num_classes: int,
                 scheduler: SchedulerFactory | None = None, label_smoothing: float = 0.0,
                 class_weight: Any = None, **kwargs: Any) -> None:
        """`class_weight`: Keras' fit(class_weight=...), litzoo.class_weight (the training loss only)."""
        self.kind = classification_kind(output_units(net), getattr(net, "output_activation", None), num_classes)
        self.num_classes = num_classes
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"task.label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        super().__init__(net, optimizer, scheduler, **kwargs)
        self.class_weight_setting = class_weight
        self.register_buffer("class_weight", None, persistent=False)  # resolved at fit (balanced counts the data)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        if stage == "fit" and self.class_weight_setting is not None and datamodule is not None:
            labels = datamodule.splits["train"][1] if "train" in datamodule.splits else None
            self.class_weight = class_weights(self.class_weight_setting, self.num_classes, labels,
                                              datamodule.class_names).to(self.device)

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
            if self._weighted():
                losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                return (losses * self.class_weight[y]).mean(), logits.sigmoid()
            return F.binary_cross_entropy_with_logits(logits, target), logits.sigmoid()
        # torch's smoothing is Keras' categorical_crossentropy(label_smoothing=s): s spread over all classes
        if self._weighted():  # Keras: the weighted losses averaged over the batch (torch's weight= divides by their sum)
            losses = F.cross_entropy(out, y, label_smoothing=self.label_smoothing, reduction="none")
            return (losses * self.class_weight[y]).mean(), out.argmax(dim=-1)
        return F.cross_entropy(out, y, label_smoothing=self.label_smoothing), out.argmax(dim=-1)

    def _weighted(self) -> bool:
        """Class weights apply to training steps only, as Keras' fit applies them (not to validation or test)."""
        return self.training and self.class_weight is not None


class ScaledMAE(torchmetrics.MeanAbsoluteError):
    """MAE of predictions and targets multiplied by `scale` (a normalised target's std): original units."""

    scale = 1.0

    def update(self, preds: Tensor, target: Tensor) -> None:
        super().update(preds * self.scale, target * self.scale)


class RegressionTask(Task):
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
        datamodule = self.trainer.datamodule
        if self.target_scale is None and datamodule is not None and datamodule.target_scale is not None:
            self._set_scale(datamodule.target_scale)

    def make_metric(self) -> torchmetrics.Metric:
        return ScaledMAE()

    def loss_and_output(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        pred = out.float().reshape(y.shape)
        return self.loss_fn(pred, y.float()), pred

    def _log_reference(self, split: str) -> None:
        datamodule = self.trainer.datamodule
        for name, value in (datamodule.reference_metrics if datamodule is not None else {}).items():
            if name.startswith(f"{split}/"):
                self.log(name, float(value), on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_reference("val")

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_reference("test")
