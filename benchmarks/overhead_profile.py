"""Where a litzoo step's time goes (`bench_overhead.py --profile`): each part timed on the live trainer.

In the middle of the epoch, every part of a step that is not the network's arithmetic is called on its own, a
thousand times, with the real trainer, task, callbacks and batch, and its CPU time per call is taken (the best of
five runs, so a busy machine disturbs it less than it disturbs a whole step). cProfile's listing of the same steps
follows; cProfile slows every Python call, so its numbers say where, not how much.
"""
from __future__ import annotations

import copy
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.trainer import call

from litzoo.run.environ import environ
from litzoo.run.step_cost import NVML_CHECK


def per_call(fn: Callable[[], Any], calls: int = 1000, repeats: int = 5) -> float:
    """µs of CPU time per call: the best of `repeats` runs of `calls` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, time.process_time() - start)
    return best / calls * 1e6


def cycling(loader: Any) -> Callable[[], Any]:
    """next() over a loader that starts again when it runs out."""
    state = {"it": iter(loader)}

    def fetch() -> Any:
        try:
            return next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            return next(state["it"])
    return fetch


def parts(trainer: pl.Trainer, task: pl.LightningModule, batch: Any, outputs: Any, i: int) -> list[tuple[str, Any, float]]:
    """(part, what to call, calls per step); `i` is a batch index in the middle of the epoch."""
    cbs = {type(c).__name__: c for c in trainer.callbacks}
    x, y = batch
    pending = task.pending["train"]
    metric, mean = copy.deepcopy(task.metrics["train_metric"]), copy.deepcopy(task.metrics["train_loss"])
    with torch.no_grad():
        pred, loss = task.net(x).argmax(-1), F.cross_entropy(task.net(x), y)

    def step() -> None:
        task.step(batch, "train")
        pending.pop()

    n = len(trainer.callbacks)
    return [
        ("Lightning: a callback hook round over the callbacks", lambda: call._call_callback_hooks(
            trainer, "on_train_batch_start", batch, i), 2),
        (f"  (of which dispatch alone: {n} no-op callbacks)", lambda: [call._call_callback_hooks(
            trainer, "on_before_zero_grad", None)], 0),
        ("Lightning: a module hook call", lambda: call._call_lightning_module_hook(
            trainer, "on_train_batch_end", outputs, batch, i), 2),
        ("Lightning: batch hooks, selected and called", lambda: call._call_strategy_hook(
            trainer, "batch_to_device", task._on_before_batch_transfer(batch, dataloader_idx=0), dataloader_idx=0), 1),
        ("  litzoo's batch hooks themselves", lambda: trainer.datamodule.on_after_batch_transfer(
            trainer.datamodule.transfer_batch_to_device(batch, task.device, 0), 0), 0),
        ("Lightning: training_step's signature (_build_kwargs)", lambda: trainer.fit_loop.epoch_loop._build_kwargs(
            {}, batch, i), 1),
        ("Lightning: logger connector, end of batch", trainer._logger_connector.on_batch_end, 1),
        ("sampler + loader: the next batch", cycling(trainer.train_dataloader), 1),
        ("task: forward, loss, prediction, pending metrics", step, 1),
        ("  the plain loop's forward + cross-entropy", lambda: F.cross_entropy(task.net(x), y), 0),
        ("  (before: torchmetrics update of accuracy and mean loss)",
         lambda: (metric.update(pred, y), mean.update(loss, weight=len(y))), 0),
        ("task: train/loss_step to TensorBoard", lambda: task._log_step_loss(loss), 1 / trainer.log_every_n_steps),
        ("task: on_train_batch_end", lambda: task.on_train_batch_end(outputs, batch, i), 1),
        ("progress line (a step between redraws)", lambda: cbs["KerasProgressBar"].on_train_batch_end(
            trainer, task, outputs, batch, i), 1),
        ("divergence check", lambda: cbs["DivergenceGuard"].on_train_batch_end(trainer, task, outputs, batch, i), 1),
        ("torch: the optimizer's accelerator check, during a fit", accelerator_check, 1),
        ("  (with Lightning's NVML variable: the plain loop's)", lambda: with_nvml_check(accelerator_check), 0),
        ("LR monitor + augmentation preview (batch start)", lambda: (
            cbs["LearningRateMonitor"].on_train_batch_start(trainer, task, batch, i),
            cbs["AugmentationPreview"].on_train_batch_start(trainer, task, batch, i)), 1),
    ]


def accelerator_check() -> Any:
    """What RMSprop's and Adam's step ask first (their CUDA-graph capture check); the plain loop asks it too."""
    return torch.accelerator.current_accelerator(check_available=True)


def with_nvml_check(fn: Callable[[], Any]) -> Any:
    """`fn` with the variable importing Lightning sets (litzoo.run.step_cost unsets it during a fit where NVML
    cannot be loaded)."""
    with environ({NVML_CHECK: "1"}):
        return fn()


class PartsProbe(pl.Callback):
    """Times `parts` once, at batch `at` of the first epoch (after the profiled steps), as if at batch `index`."""

    def __init__(self, at: int, index: int) -> None:
        self.at, self.index, self.busy = at, index, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx != self.at or trainer.current_epoch or self.busy:
            return
        self.busy = True  # the hook rounds timed below call this hook again
        rows = [(label, per_call(fn), n) for label, fn, n in parts(trainer, pl_module, batch, outputs, self.index)]
        print(f"\nparts of a litzoo step, CPU µs (best of 5 x 1000 calls on the live trainer, {len(trainer.callbacks)} "
              "callbacks); indented rows are details or comparisons, not added")
        print(f"  {'part':58s} {'µs/call':>8s} {'calls':>6s} {'µs/step':>8s}")
        for label, us, n in rows:
            print(f"  {label:58s} {us:8.1f} {n:6.2g} {us * n:8.1f}" if n else f"  {label:58s} {us:8.1f}")
        print(f"  {'sum':58s} {'':8s} {'':6s} {sum(us * n for _, us, n in rows):8.1f}", flush=True)
        trainer.progress_bar_callback.on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # its count
        self.busy = False


def top_functions(path: str, steps: int, count: int = 25) -> None:
    """cProfile's listing of the timed steps, by own time per step."""
    stats = pstats.Stats(path).stats  # {(file, line, name): (calls, primitive calls, own time, cumulative, callers)}
    total = sum(v[2] for v in stats.values())
    print(f"\ncProfile of litzoo's {steps} steps ({total / steps * 1e6:.0f} µs/step under cProfile); top functions by "
          "own time:")
    for (file, line, name), v in sorted(stats.items(), key=lambda kv: -kv[1][2])[:count]:
        where = "/".join(Path(file).parts[-2:])
        print(f"  {v[2] / steps * 1e6:6.1f} µs/step  {v[0] / steps:5.1f} calls/step  {where}:{line}({name})")
