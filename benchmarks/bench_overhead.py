"""Per-step overhead: a hand-written loop vs bare Lightning vs litzoo, on a network whose compute is negligible.

    make bench                                              # CPU, 1 thread, 800 steps, 3 alternating reps
    python benchmarks/bench_overhead.py --data-dir ../shared/data --reps 3
    python benchmarks/bench_overhead.py --device cuda       # the same on a GPU (tensors resident there)
    python benchmarks/bench_overhead.py --profile           # + cProfile of litzoo's steps, by component

The network is Flatten then Dense(10) (7,850 params), batch 64, so a step's arithmetic takes a few µs and the
time per step is the framework's. All three train it on the same in-memory MNIST tensors (real MNIST when found,
else MNIST-shaped random images written as IDX files), alternating plain, bare Lightning, litzoo in every rep:

- plain: index a resident tensor with a shuffled index, forward, cross-entropy, zero_grad, backward, step;
  also without the `PYTORCH_NVML_BASED_CUDA_CHECK` variable importing Lightning sets (a second row, "no NVML":
  what a script that never imports Lightning pays; litzoo unsets it while fitting where NVML cannot be loaded);
- bare Lightning: a minimal LightningModule, `Trainer(logger=False)`, no checkpoint, no progress bar,
  a `TensorDataset` loader;
- litzoo: `litzoo.run.fit.train()` as a user runs it (default callbacks, TensorBoard logger, the progress line)
  with `model.layers` = Flatten + Dense(10).

Each side trains `steps + 1` batches in one epoch and the time from the start of batch 0 to the start of batch
`steps` is taken, i.e. `steps` whole steps including the loader, every hook and the optimizer; what happens
after the epoch (validation, checkpoints, pictures, test) is not timed.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_epoch import find_mnist, hardware  # noqa: E402

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
LAYERS = [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]


def clock() -> tuple[float, float]:
    """(wall, CPU) seconds: the CPU time of this process is what the steps cost, less disturbed on a busy machine."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


class StepTimer(pl.Callback):
    """(wall, CPU) seconds from the start of batch 0 to the start of batch `steps` of the first epoch, into
    `StepTimer.seconds` (litzoo builds its callbacks from the config, so the result goes to the class); with
    `profile`, a cProfile of those steps is written to that file."""

    seconds: list[tuple[float, float]] = []

    def __init__(self, steps: int, profile: str | None = None) -> None:
        self.steps, self.profile, self.t0 = steps, profile, (0.0, 0.0)
        self.profiler = cProfile.Profile() if profile else None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch:
            return
        if batch_idx == 0:
            self.t0 = clock()
            if self.profiler:
                self.profiler.enable()
        elif batch_idx == self.steps:
            sync(pl_module.device)
            StepTimer.seconds.append(since(self.t0))
            if self.profiler:
                self.profiler.disable()
                self.profiler.dump_stats(self.profile)


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def optimizer(params) -> torch.optim.Optimizer:
    """litzoo's default (Keras') RMSprop, on every side."""
    return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, seed: int) -> tuple[float, float]:
    """The hand-written loop: (wall, CPU) seconds for `steps` steps."""
    torch.manual_seed(seed)
    net = tiny_net().to(x.device)
    opt = optimizer(net.parameters())
    order = torch.randperm(len(x), device=x.device).split(batch_size)
    sync(x.device)
    start = clock()
    for idx in order[:steps]:
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(x.device)
    return since(start)


def plain_without_nvml_check(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int,
                             seed: int) -> tuple[float, float]:
    """The plain loop as a script that never imported Lightning runs it: importing Lightning sets
    PYTORCH_NVML_BASED_CUDA_CHECK=1, and where NVML cannot be loaded every optimizer step then pays a failed search
    for it (litzoo.run.step_cost, which turns that off during litzoo's fit)."""
    before = os.environ.pop(NVML_CHECK, None)  # (not litzoo.run.environ: this also measures earlier litzoos)
    try:
        return plain(x, y, steps, batch_size, seed)
    finally:
        if before is not None:
            os.environ[NVML_CHECK] = before


def bare_lightning(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, seed: int) -> tuple[float, float]:
    """A minimal LightningModule and Trainer: (wall, CPU) seconds for `steps` steps."""
    from torch.utils.data import DataLoader, TensorDataset

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_net()

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            return F.cross_entropy(self.net(xb), yb)

        def configure_optimizers(self):
            return optimizer(self.parameters())

    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, max_epochs=1, limit_train_batches=steps + 1,
                         accelerator=x.device.type, devices=1, callbacks=[StepTimer(steps)])
    trainer.fit(Bare(), loader)
    return StepTimer.seconds.pop()


def litzoo_config(args: argparse.Namespace, run_dir: str, profile: str | None = None):
    from omegaconf import open_dict

    from litzoo.run.compose import compose_config

    cfg = compose_config(["experiment=mnist_convnet", f"paths.data_dir={args.data_dir}", "data.download=false",
                          f"paths.root_dir={run_dir}", f"paths.output_dir={run_dir}/run", "trainer.max_epochs=1",
                          f"trainer.accelerator={args.device}", f"data.batch_size={args.batch_size}",
                          f"+trainer.limit_train_batches={args.steps + 1}", *args.overrides])
    with open_dict(cfg):
        cfg.model.layers = LAYERS
        cfg.callbacks.step_timer = {"_target_": f"{__name__}.StepTimer", "steps": args.steps, "profile": profile}
        if profile:  # after the profiled steps: the parts of a step, one by one
            cfg.callbacks.parts = {"_target_": "overhead_profile.PartsProbe", "at": args.steps, "index": args.steps // 2}
    return cfg


def litzoo(args: argparse.Namespace, profile: str | None = None) -> tuple[tuple[float, float], float]:
    """litzoo.run.fit.train() with its defaults: ((wall, CPU) seconds for `steps` steps, wall seconds of the whole
    train() call)."""
    from litzoo.run.fit import train

    os.environ.setdefault("LITZOO_ALLOW_TARGETS", f"{__name__}.StepTimer,overhead_profile.PartsProbe")
    with tempfile.TemporaryDirectory(prefix="litzoo-overhead-") as run_dir:
        start = time.perf_counter()
        train(litzoo_config(args, run_dir, profile))
        return StepTimer.seconds.pop(), time.perf_counter() - start


def random_mnist(folder: Path, n_train: int = 60_000, n_test: int = 10_000) -> str:
    """MNIST-shaped random images and labels as IDX .gz files in `folder`/MNIST/raw (when no MNIST is found)."""
    import gzip
    import struct

    rng = np.random.default_rng(0)
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, n, dtype=np.uint8))):
            header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes(), compresslevel=1))
    return str(folder)


def training_tensors(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """litzoo's own training split (the tensors its data module holds), on the benchmark's device."""
    from hydra.utils import instantiate

    with tempfile.TemporaryDirectory() as run_dir:
        dm = instantiate(litzoo_config(args, run_dir).data)
    dm.setup("fit")
    x, y = dm.splits["train"]
    return x.to(args.device), y.to(args.device)


def per_step(seconds: list[tuple[float, float]], steps: int, which: int) -> list[float]:
    return [s[which] / steps * 1e6 for s in seconds]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.0f} (min {min(values):.0f}, max {max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with MNIST/raw/*.gz (default: $LITZOO_DATA, "
                                                          "./data, else random MNIST-shaped data)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--cpu", action="store_const", const="cpu", dest="device", help="same as --device cpu")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the issue's measurement: 1)")
    parser.add_argument("--profile", action="store_true", help="also profile one litzoo run (cProfile), by component")
    parser.add_argument("overrides", nargs="*", help="extra litzoo config overrides (key=value)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    with tempfile.TemporaryDirectory(prefix="random-mnist-") as tmp:
        args.data_dir = find_mnist(args.data_dir) or random_mnist(Path(tmp))
        run(args)


def run(args: argparse.Namespace) -> None:
    gpu = f"; GPU {torch.cuda.get_device_name()}" if args.device == "cuda" else ""
    print(f"hardware: {hardware()}{gpu}")
    x, y = training_tensors(args)
    print(f"data: {len(x)} training images from {args.data_dir}; Flatten + Dense(10), batch {args.batch_size}, "
          f"{args.steps} timed steps in one epoch, device {args.device}; litzoo overrides: "
          f"{' '.join(args.overrides) or 'none'}", flush=True)
    sides = {"plain loop": plain, "plain, no NVML": plain_without_nvml_check, "bare Lightning": bare_lightning}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in [*sides, "litzoo"]}
    for rep in range(args.reps):
        for name, side in sides.items():
            times[name].append(side(x, y, args.steps, args.batch_size, rep))
        seconds, whole = litzoo(args)
        times["litzoo"].append(seconds)
        print(f"rep {rep + 1}: " + "  ".join(f"{k} {v[-1][0] / args.steps * 1e6:.0f}" for k, v in times.items()) +
              f" µs/step  (litzoo's whole train() call: {whole:.1f}s)", flush=True)
    print(f"\nµs per step, median of {args.reps} alternating reps (min, max). Overhead: the median minus the plain "
          "loop's median, the issue's plain loop (run in this process, after importing Lightning) and the same "
          "without Lightning's NVML check (as a script that never imports Lightning runs it). CPU: this process's "
          "CPU time (less disturbed when other processes share the cores).")
    print(f"  {'':15s} {'wall':>24s} {'overhead':>8s} {'no NVML':>8s}   {'CPU':>24s} {'overhead':>8s} {'no NVML':>8s}")
    for name, seconds in times.items():
        cells = []
        for which in (0, 1):
            us = per_step(seconds, args.steps, which)
            over = [statistics.median(us) - statistics.median(per_step(times[base], args.steps, which))
                    for base in ("plain loop", "plain, no NVML")]
            cells.append(f"{spread(us):>24s} {over[0]:+8.0f} {over[1]:+8.0f}")
        print(f"  {name:15s} {cells[0]}   {cells[1]}")
    print(f"hardware at the end: {hardware()}")
    if args.profile:
        from overhead_profile import top_functions

        with tempfile.TemporaryDirectory() as tmp:
            litzoo(args, profile=f"{tmp}/litzoo.prof")
            top_functions(f"{tmp}/litzoo.prof", args.steps)


if __name__ == "__main__":
    main()
