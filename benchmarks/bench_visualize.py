"""What the visualisation callback (ConvVisualizer, conf/callbacks/default.yaml) adds to an epoch.

    python benchmarks/bench_visualize.py --reps 3       # the default experiment (digits_convnet), 30 epochs

Each rep is two fits of `litzoo-train`'s default experiment in this process, as a user runs it (default
callbacks, TensorBoard logger): one with the callback drawing on every other epoch (every_n_epochs=2, its
5% time budget off, so each of those epochs pays the full price), so epochs with and without it alternate
in the same fit, and a control fit without the callback, whose odd/even difference is the noise floor. An epoch is timed from one `on_train_epoch_start` to the next
(validation, checkpoints and every callback included); the first epoch is left out (warm-up). The
end-of-fit pictures (filter patterns, Grad-CAM, mistakes) run once and are timed on their own.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch


class EpochStarts(pl.Callback):
    """perf_counter at each epoch start, and the time spent in on_fit_end by the callbacks before it."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.fit_end_at = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fit_end_at = time.perf_counter()


def fit(epochs: int, visualize: bool, root: str) -> tuple[list[float], float, float]:
    """Epoch durations (epochs 2..n-1), the seconds after training (on_fit_end) and the visualizer's own
    per-epoch seconds (its `spent`, all epochs)."""
    from litzoo.run.compose import compose_config
    from litzoo.run.build import build

    overrides = [f"paths.root_dir={root}", f"paths.output_dir={root}/run{time.perf_counter_ns()}",
                 "trainer.accelerator=cpu", f"trainer.max_epochs={epochs}"]
    # every other epoch, no time budget: each even epoch pays the full price of its pictures
    overrides += (["callbacks.conv_visualizer.every_n_epochs=2", "callbacks.conv_visualizer.max_overhead=null"]
                  if visualize else ["callbacks.conv_visualizer=null"])
    datamodule, task, trainer = build(compose_config(overrides))
    timer = EpochStarts()
    trainer.callbacks.insert(0, timer)  # first: its on_train_end runs before the visualizer's on_fit_end
    trainer.fit(task, datamodule=datamodule)
    fit_end = time.perf_counter() - timer.fit_end_at
    spent = sum(getattr(c, "spent", 0.0) for c in trainer.callbacks if type(c).__name__ == "ConvVisualizer")
    return [b - a for a, b in zip(timer.starts[1:], timer.starts[2:])], fit_end, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="litzoo-bench-vis-")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, default experiment, {args.epochs} epochs")
    with_vis, without_vis, control_odd, control_even, fit_ends, shares = [], [], [], [], [], []
    for rep in range(args.reps):
        times, fit_end, spent = fit(args.epochs, True, root)
        shares.append(spent / sum(times))
        # times[i] is epoch i + 2 (1-based); the callback is due on even epochs (every_n_epochs=2)
        with_vis += times[0::2]
        without_vis += times[1::2]
        fit_ends.append(fit_end)
        control, control_end, _ = fit(args.epochs, False, root)
        control_even += control[0::2]
        control_odd += control[1::2]
        extra = statistics.mean(times[0::2]) / statistics.mean(times[1::2]) - 1
        noise = statistics.mean(control[0::2]) / statistics.mean(control[1::2]) - 1
        print(f"rep {rep + 1}: epoch with {statistics.mean(times[0::2]) * 1e3:.0f} ms, without "
              f"{statistics.mean(times[1::2]) * 1e3:.0f} ms: {extra:+.1%} (control {noise:+.1%}); "
              f"callback's own time {spent * 1e3:.0f} ms = {shares[-1]:.1%} of training; "
              f"after training {fit_end:.2f} s (control {control_end:.2f} s)")
    for name, values in (("with callback", with_vis), ("without", without_vis), ("control even", control_even),
                         ("control odd", control_odd)):
        print(f"{name:>14}: median {statistics.median(values) * 1e3:.0f} ms, mean {statistics.mean(values) * 1e3:.0f} ms "
              f"(min {min(values) * 1e3:.0f}, max {max(values) * 1e3:.0f}, n={len(values)})")
    print(f"callback's own share of training time: median {statistics.median(shares):.1%} "
          f"(min {min(shares):.1%}, max {max(shares):.1%})")
    print(f"callback cost: {statistics.median(with_vis) / statistics.median(without_vis) - 1:+.1%} of an epoch "
          f"(medians); control {statistics.median(control_even) / statistics.median(control_odd) - 1:+.1%}; "
          f"end of fit once: {statistics.median(fit_ends):.2f} s")


if __name__ == "__main__":
    main()
