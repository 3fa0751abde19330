"""One training epoch of the MNIST convnet: litzoo (Lightning + Hydra) vs a hand-written PyTorch loop.

    make bench                                # MNIST from $LITZOO_DATA or ./data, else generated digits
    python benchmarks/bench_epoch.py --data-dir ../shared/data --reps 3
    python benchmarks/bench_epoch.py --batches 200 task.channels_last=false   # quick look, litzoo overrides

Both sides train the same architecture on the same in-memory tensors with the same optimizer and batch
size, alternating (litzoo, plain, litzoo, plain, ...) so machine noise hits both. The plain loop is the
careful NCHW loop a user writes by hand. The litzoo epoch is timed by a callback from the first to the
last training batch of the epoch (validation excluded, since the plain loop has none) with the default
callbacks and TensorBoard logger on, i.e. as a user runs it; what follows the last batch (validation,
checkpoints, epoch-end callbacks and the end-of-fit pictures) is printed beside it. Start-up to the first
step is measured in a fresh interpreter (imports, config, data, model, trainer), next to a fresh
interpreter that only imports `pytorch_lightning`.
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

BARE_IMPORT = "import time; t = time.perf_counter(); import pytorch_lightning; print(time.perf_counter() - t)"


def hardware() -> str:
    """CPU model, cores, torch threads and version, and the load average now."""
    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}; " \
           f"load average {load}"


def plain_model() -> nn.Module:
    """The seed's MNIST convnet written directly in torch.nn (93,322 params)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def plain_epoch(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, batches: int,
                channels_last: bool = False) -> float:
    """What a careful hand-written loop does: shuffle, forward, loss, backward, step, running accuracy."""
    torch.manual_seed(seed)
    model = plain_model()
    if channels_last:  # the reference line: the same loop with litzoo's memory format
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    model.train()
    order = torch.randperm(len(x)).split(batch_size)
    start = time.perf_counter()
    correct = 0
    for idx in order[:batches or None]:
        xb, yb = x[idx], y[idx]
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        correct += (out.argmax(1) == yb).sum().item()
    return time.perf_counter() - start


def epoch_timer(startup: bool = False):
    """Lightning callback timing epoch 0 from its first to its last training batch, and from there to the end
    of fit (built here, not at import time, so the --startup measurement includes importing Lightning).
    With `startup` it prints the time to the first step and ends the process there."""
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.first_step_at: float | None = None
            self.epoch_seconds = self.after_seconds = 0.0
            self._t0 = self._t1 = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == 0:
                self._t0 = time.perf_counter()
                self.first_step_at = self.first_step_at or self._t0
                if startup:
                    print(f"STARTUP {self._t0 - T_START:.3f}", flush=True)
                    os._exit(0)  # nothing after the first step is measured here

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx == trainer.num_training_batches - 1:
                self._t1 = time.perf_counter()
                self.epoch_seconds = self._t1 - self._t0

        def teardown(self, trainer, pl_module, stage) -> None:  # after every callback's on_fit_end
            self.after_seconds = time.perf_counter() - self._t1

    return EpochTimer()


def litzoo_epoch(overrides: list[str], startup: bool = False):
    """(training seconds, seconds after the last batch to the end of fit, time of the first step, data module)."""
    from litzoo.run.compose import compose_config
    from litzoo.run.build import build

    timer = epoch_timer(startup)
    cfg = compose_config(overrides)
    datamodule, task, trainer = build(cfg)
    trainer.callbacks.append(timer)
    trainer.fit(task, datamodule=datamodule)
    return timer.epoch_seconds, timer.after_seconds, timer.first_step_at, datamodule


def overrides_for(args: argparse.Namespace) -> list[str]:
    """The litzoo side's config: one epoch of the seed's MNIST experiment, in a fresh run directory."""
    import tempfile

    run_dir = tempfile.mkdtemp(prefix="litzoo-bench-")
    data = ["experiment=mnist_convnet", f"paths.data_dir={args.data_dir}", "data.download=false"] if args.data_dir \
        else ["experiment=digits_convnet"]
    limit = [f"+trainer.limit_train_batches={args.batches}"] if args.batches else []
    return data + [f"paths.root_dir={run_dir}", f"paths.output_dir={run_dir}/run", "trainer.max_epochs=1",
                   "trainer.accelerator=cpu", f"data.batch_size={args.batch_size}"] + limit + args.overrides


def find_mnist(data_dir: str | None) -> str | None:
    for d in (data_dir, os.environ.get("LITZOO_DATA"), "data"):
        if d and os.path.isdir(os.path.join(d, "MNIST", "raw")):
            return d
    return None


def child(args: list[str], marker: str | None = None) -> float:
    """Seconds printed by a fresh interpreter (the last line, or the line starting with `marker`)."""
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True).stdout.splitlines()
    line = next(line for line in out if line.startswith(marker)) if marker else out[-1]
    return float(line.split()[-1])


def startup(args: argparse.Namespace) -> tuple[float, float]:
    """(litzoo to the first training step, bare `import pytorch_lightning`), each in a fresh interpreter."""
    cmd = [__file__, "--startup", "--batch-size", str(args.batch_size)]
    cmd += (["--data-dir", args.data_dir] if args.data_dir else []) + args.overrides
    return child(cmd, "STARTUP"), child(["-c", BARE_IMPORT])


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"median {statistics.median(values):{fmt}} (min {min(values):{fmt}}, max {max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with MNIST/raw/*.gz (default: $LITZOO_DATA, ./data)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=0, help="time only the first N training batches (0: the epoch)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, as users run it)")
    parser.add_argument("--startup", action="store_true", help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("overrides", nargs="*", help="extra litzoo config overrides (key=value)")
    args = parser.parse_args()
    args.data_dir = find_mnist(args.data_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.startup:
        litzoo_epoch(overrides_for(args), startup=True)
    print(f"hardware: {hardware()}")
    print(f"data: {'MNIST at ' + args.data_dir if args.data_dir else 'digits (no MNIST found)'}; "
          f"litzoo overrides: {' '.join(args.overrides) or 'none'}", flush=True)
    first_step, bare_import = startup(args)

    plain, framework, after, plain_nhwc = [], [], [], []
    x = y = None
    for rep in range(args.reps):
        seconds, extra, _, dm = litzoo_epoch(overrides_for(args))
        framework.append(seconds)
        after.append(extra)
        if x is None:
            x, y = dm.splits["train"]
        plain.append(plain_epoch(x, y, args.batch_size, seed=rep, batches=args.batches))
        plain_nhwc.append(plain_epoch(x, y, args.batch_size, seed=rep, batches=args.batches, channels_last=True))
        print(f"rep {rep + 1}: plain {plain[-1]:.2f}s  litzoo {framework[-1]:.2f}s  ratio {framework[-1] / plain[-1]:.3f}"
              f"  (then {extra:.1f}s of validation, checkpoints and end-of-fit callbacks; plain channels_last "
              f"{plain_nhwc[-1]:.2f}s)", flush=True)
    ratios = [f / p for f, p in zip(framework, plain)]
    steps = min(args.batches or len(x), -(-len(x) // args.batch_size))
    print(f"\n{len(x)} training images, batch {args.batch_size}, {steps} steps timed, {args.reps} reps")
    print(f"plain PyTorch epoch (NCHW): {spread(plain)} s")
    print(f"litzoo epoch:               {spread(framework)} s")
    print(f"ratio litzoo/plain:         {spread(ratios, '.3f')}  per rep: "
          f"{', '.join(f'{r:.3f}' for r in ratios)}  [target <= 1.00]")
    print(f"reference, plain loop with channels_last: {spread(plain_nhwc)} s; litzoo/that: "
          f"{spread([f / p for f, p in zip(framework, plain_nhwc)], '.3f')} (the framework's own cost)")
    print(f"after the last batch:       {spread(after)} s (validation, checkpoints, epoch-end and end-of-fit "
          "callbacks; not in the ratio)")
    print(f"start-up to first training step (fresh interpreter): {first_step:.2f}s; "
          f"bare `import pytorch_lightning`: {bare_import:.2f}s; difference {first_step - bare_import:.2f}s "
          "[target <= 2s]")
    print(f"hardware at the end: {hardware()}")


if __name__ == "__main__":
    main()
