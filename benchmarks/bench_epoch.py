"""One training epoch of the MNIST convnet: litzoo (Lightning + Hydra) vs a hand-written PyTorch loop.

    make bench                                # MNIST from $LITZOO_DATA or ./data, else generated digits
    python benchmarks/bench_epoch.py --data-dir ../shared/data --reps 3

Both sides train the same architecture on the same in-memory tensors with the same optimizer and batch
size, alternating (plain, litzoo, plain, litzoo, ...) so machine noise hits both. The litzoo epoch is
timed by a callback from the first to the last training batch of the epoch (validation excluded, since
the plain loop has none) with the default callbacks and TensorBoard logger on, i.e. as a user runs it.
Start-up to first step is measured in a fresh interpreter (imports, config, data, model, trainer).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

T_START = time.perf_counter()  # before torch/lightning imports, for --startup

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


def plain_model() -> nn.Module:
    """The seed's MNIST convnet written directly in torch.nn (93,322 params)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def plain_epoch(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> float:
    """What a careful hand-written loop does: shuffle, forward, loss, backward, step, running accuracy."""
    torch.manual_seed(seed)
    model = plain_model()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    model.train()
    start = time.perf_counter()
    correct = 0
    for idx in torch.randperm(len(x)).split(batch_size):
        xb, yb = x[idx], y[idx]
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        correct += (out.argmax(1) == yb).sum().item()
    return time.perf_counter() - start


def epoch_timer():
    """Lightning callback timing epoch 0 from its first to its last training batch (built here, not at import
    time, so the --startup measurement includes importing Lightning)."""
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.first_step_at: float | None = None
            self.epoch_seconds: float | None = None
            self._t0 = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 0:
                self._t0 = time.perf_counter()
                self.first_step_at = self.first_step_at or self._t0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == trainer.num_training_batches - 1:
                self.epoch_seconds = time.perf_counter() - self._t0

    return EpochTimer()


def litzoo_epoch(overrides: list[str]) -> tuple[float, float, object]:
    from litzoo.config import compose_config
    from litzoo.train import build

    timer = epoch_timer()
    cfg = compose_config(overrides)
    datamodule, task, trainer = build(cfg)
    trainer.callbacks.append(timer)
    trainer.fit(task, datamodule=datamodule)
    return timer.epoch_seconds, timer.first_step_at, datamodule


def overrides_for(args: argparse.Namespace, run_dir: str) -> list[str]:
    data = ["experiment=mnist_convnet", f"paths.data_dir={args.data_dir}", "data.download=false"] if args.data_dir \
        else ["experiment=digits_convnet"]
    return data + [f"paths.root_dir={run_dir}", f"paths.output_dir={run_dir}/run", "trainer.max_epochs=1",
                   "trainer.accelerator=cpu", f"data.batch_size={args.batch_size}"]


def find_mnist(data_dir: str | None) -> str | None:
    for d in (data_dir, os.environ.get("LITZOO_DATA"), "data"):
        if d and os.path.isdir(os.path.join(d, "MNIST", "raw")):
            return d
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with MNIST/raw/*.gz (default: $LITZOO_DATA, ./data)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--startup", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    args.data_dir = find_mnist(args.data_dir)
    import tempfile

    tmp = tempfile.mkdtemp(prefix="litzoo-bench-")
    if args.startup:
        _, first_step, _ = litzoo_epoch(overrides_for(args, tmp))
        print(f"STARTUP {first_step - T_START:.3f}")
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data: "
          f"{'MNIST at ' + args.data_dir if args.data_dir else 'digits (no MNIST found)'}")
    child = [sys.executable, __file__, "--startup", "--batch-size", str(args.batch_size)]
    child += ["--data-dir", args.data_dir] if args.data_dir else []
    out = subprocess.run(child, capture_output=True, text=True, check=True).stdout
    startup = float(next(line for line in out.splitlines() if line.startswith("STARTUP")).split()[1])

    plain, framework = [], []
    x = y = None
    for rep in range(args.reps):
        seconds, _, dm = litzoo_epoch(overrides_for(args, tmp))
        framework.append(seconds)
        if x is None:
            x, y = dm.splits["train"]
        plain.append(plain_epoch(x, y, args.batch_size, seed=rep))
        print(f"rep {rep + 1}: plain {plain[-1]:.2f}s  litzoo {framework[-1]:.2f}s  ratio {framework[-1] / plain[-1]:.3f}")
    ratios = [f / p for f, p in zip(framework, plain)]
    print(f"\n{len(x)} training images, batch {args.batch_size}, {args.reps} reps")
    print(f"plain PyTorch epoch: median {statistics.median(plain):.2f}s (min {min(plain):.2f}, max {max(plain):.2f})")
    print(f"litzoo epoch:        median {statistics.median(framework):.2f}s (min {min(framework):.2f}, max {max(framework):.2f})")
    print(f"ratio litzoo/plain:  median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
          f"  [target <= 1.10]")
    print(f"start-up to first training step (fresh interpreter): {startup:.2f}s  [target < ~5s]")


if __name__ == "__main__":
    main()
