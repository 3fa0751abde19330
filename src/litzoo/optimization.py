"""How a task steps its optimizer and its learning-rate schedule (`task.optimization`, the scheduler group).

`optimization` (config `task.optimization`): `direct` (default) steps the optimizer in `training_step`
(Lightning's manual optimization). On one device, without a gradient scaler and with no callback listening to
the hooks Lightning calls around backward and step, it calls zero_grad, backward and step itself; otherwise it
goes through Lightning's `manual_backward` and `optimizer.step()`, which call those hooks and the 16-mixed
scaler. `lightning` is Lightning's automatic optimization, taken also whenever the Trainer is asked for
gradient accumulation or clipping (Lightning offers those only there). Either way the learning-rate schedule,
the step count, the logs and the checkpoints are the same; see docs/speed.md for what `direct` saves.

The scheduler group holds all of a schedule's settings: the scheduler's own arguments and `interval` (litzoo's
key: stepped after every optimizer `step` or every `epoch`). A length the config leaves `null` (OneCycleLR's
`total_steps`) is derived from the trainer here, and only then.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor

from litzoo.callbacks.checkpoints import epoch_completed

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]
OPTIMIZATION = ("direct", "lightning")
INTERVALS = ("epoch", "step")
# What Lightning calls around each optimizer step: the direct step calls none of them, so it is taken only when
# no callback (first tuple) and not the task (both) override one.
STEP_HOOKS = ("on_before_zero_grad", "on_before_backward", "on_after_backward", "on_before_optimizer_step")
TASK_STEP_HOOKS = STEP_HOOKS + ("backward", "optimizer_step", "optimizer_zero_grad", "configure_gradient_clipping")


def scheduler_parts(node: Mapping[str, Any] | None, task_interval: str | None = None
                    ) -> tuple[SchedulerFactory | None, str]:
    """(scheduler partial, interval) from the scheduler group; `interval` is taken off before instantiation.

    Configs stored before the group held `interval` set `task.scheduler_interval` (`task_interval`), and their
    task replaced a per-step schedule's `total_steps` with the run's length: such a config is read as it ran.
    """
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    if not node:  # scheduler=none composes to an empty node
        return None, task_interval or "epoch"
    kwargs = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    interval = kwargs.pop("interval", None)
    if interval is None:
        interval = task_interval or "epoch"
        if interval == "step" and "total_steps" in kwargs:
            kwargs["total_steps"] = None
    elif task_interval not in (None, interval):
        raise ValueError(f"task.scheduler_interval={task_interval!r} disagrees with scheduler.interval={interval!r}: "
                         "the scheduler group says when it is stepped; leave task.scheduler_interval out.")
    if interval not in INTERVALS:
        raise ValueError(f"scheduler.interval must be one of {', '.join(INTERVALS)}; got {interval!r}")
    return instantiate(kwargs), interval


def derived_lengths(factory: SchedulerFactory, trainer: Any, interval: str) -> dict[str, int]:
    """{'total_steps': n} when the scheduler's config leaves `total_steps: null`: the trainer's optimizer steps
    (interval step) or its epochs (interval epoch). Nothing for a value the config gives: that one is used."""
    keywords = factory.keywords if isinstance(factory, functools.partial) else {}
    if "total_steps" not in keywords or keywords["total_steps"] is not None:
        return {}
    steps = trainer.estimated_stepping_batches if interval == "step" else trainer.max_epochs
    if steps is None or not 0 < steps < math.inf:
        raise ValueError(f"scheduler.total_steps=null follows the run's length, which is open-ended here "
                         f"(trainer.max_epochs={trainer.max_epochs}): set trainer.max_epochs or trainer.max_steps, "
                         "or scheduler.total_steps.")
    return {"total_steps": int(steps)}


def direct_step_is_exact(trainer: pl.Trainer, task: pl.LightningModule) -> bool:
    """Whether zero_grad, backward and step called directly do all that Lightning's manual optimization does: one
    device, no gradient scaler (32-true, bf16-mixed), nobody listening to the hooks around them."""
    precision = trainer.precision_plugin
    plain = type(precision) is Precision or (type(precision) is MixedPrecision and precision.scaler is None)
    listened = any(is_overridden(hook, cb, pl.Callback) for cb in trainer.callbacks for hook in STEP_HOOKS) or any(
        is_overridden(hook, task, pl.LightningModule) for hook in TASK_STEP_HOOKS)
    return type(trainer.strategy) is SingleDeviceStrategy and plain and not listened


class Stepping(pl.LightningModule):
    """The optimizer step and the schedule of a task: Lightning's automatic optimization, or the direct step with
    the schedule stepped as Lightning would. The task sets the attributes below from its config."""

    optimization: str  # direct | lightning
    optimizer_factory: OptimizerFactory
    scheduler_factory: SchedulerFactory | None
    scheduler_monitor: str
    scheduler_interval: str  # the scheduler group's `interval`
    _direct = False  # the direct step is exact for this trainer (on_train_start)

    @property
    def automatic_optimization(self) -> bool:
        """Lightning's automatic optimization for `optimization=lightning` and for the Trainer's gradient
        accumulation or clipping, which Lightning offers only there; litzoo's own step otherwise."""
        trainer = self._trainer
        return self.optimization == "lightning" or (trainer is not None and (
            trainer.accumulate_grad_batches != 1 or bool(trainer.gradient_clip_val)))

    def on_train_start(self) -> None:
        self._direct = not self.automatic_optimization and direct_step_is_exact(self.trainer, self)

    def _optimize(self, loss: Tensor) -> None:
        optimizer = self.optimizers()
        if not self._direct:  # the hooks, the DDP reducer and the 16-mixed scaler: Lightning's own calls
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            return
        raw = optimizer.optimizer
        raw.zero_grad()
        loss.backward()
        optimizer._on_before_step()  # Lightning's step count (global_step), as optimizer.step() keeps it
        raw.step()
        optimizer._on_after_step()

    def _step_scheduler(self, batch_idx: int) -> None:
        """Lightning's schedule, which manual optimization leaves to the module: a per-step scheduler after every
        step, a per-epoch one after the epoch's last step (ReduceLROnPlateau: in on_train_epoch_end)."""
        scheduler = self._scheduler()
        if scheduler is None:
            return
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        last_batch = batch_idx + 1 >= self.trainer.num_training_batches or self.trainer.is_last_batch
        if self.scheduler_interval == "step" or (last_batch and not plateau):
            self.lr_scheduler_step(scheduler, self._monitored() if plateau else None)

    def _scheduler(self) -> Any:
        configs = self.trainer.lr_scheduler_configs
        return configs[0].scheduler if configs else None

    def _monitored(self) -> Tensor:
        value = self.trainer.callback_metrics.get(self.scheduler_monitor)
        if value is None:
            raise ValueError(f"ReduceLROnPlateau follows task.scheduler_monitor={self.scheduler_monitor!r}, which this "
                             f"epoch did not produce; available: {', '.join(sorted(self.trainer.callback_metrics))}")
        return value

    def on_train_epoch_end(self) -> None:
        # ReduceLROnPlateau of a direct run: after validation and the History row (which records the epoch's
        # learning rate), before the checkpoints, so a resume continues from the stepped state
        scheduler = None if self.automatic_optimization else self._scheduler()
        if (isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and self.scheduler_interval == "epoch"
                and epoch_completed(self.trainer)):
            self.lr_scheduler_step(scheduler, self._monitored())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A checkpoint of the other optimization mode counts its steps in the other loop: carry them over, so
        global_step (max_steps, the logs' x axis, OneCycleLR's position) continues where it was."""
        loops = (checkpoint.get("loops") or {}).get("fit_loop") or {}
        auto = (loops.get("epoch_loop.automatic_optimization.optim_progress") or {}).get("optimizer", {}).get("step")
        manual = loops.get("epoch_loop.manual_optimization.optim_step_progress")
        if not auto or not manual:
            return
        source, target = (manual, auto) if self.automatic_optimization else (auto, manual)
        if source["total"]["completed"] > target["total"]["completed"]:
            for key in ("total", "current"):
                target[key].update({k: v for k, v in source[key].items() if k in target[key]})

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer, **derived_lengths(
            self.scheduler_factory, self.trainer, self.scheduler_interval))
        if not self.automatic_optimization:  # stepped by _step_scheduler
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return {"optimizer": optimizer, "lr_scheduler": {
            "scheduler": scheduler, "monitor": self.scheduler_monitor, "interval": self.scheduler_interval}}
