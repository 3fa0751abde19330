"""Recurrent dropout vs the fused kernel: training batches of `jena_gru_dropout` and `jena_gru` side by side.

    python benchmarks/bench_recurrent.py                     # 3 alternating reps of 100 batches each
    python benchmarks/bench_recurrent.py --batches 0 --reps 2   # whole epochs

Both models come from the real configs (`compose_config(['experiment=...'])` and `litzoo.run.fit.build`:
the same network, optimizer and loss as `litzoo-train`), train on the same windows (the first N training
batches of jena_gru's data module, held in memory), and alternate batch by batch in one process, so
load changes on a shared machine hit both. Timed: forward, loss, backward, optimizer step. Keras' GRU with
`recurrent_dropout` runs one mask per sequence on h(t-1), which no fused kernel offers; see
litzoo.models.recurrent for how that recurrence is computed.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable

import torch

from litzoo.run.compose import compose_config
from litzoo.run.build import build


def hardware() -> str:
    """CPU model, cores, torch threads, torch version (and the GPU when one is used)."""
    cpu = platform.processor() or "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}{gpu}"


def batches(overrides: list[str], n: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `n` training batches (0: a whole epoch) of the experiment's data module, on `device`."""
    datamodule, _, _ = build(compose_config(overrides))
    datamodule.setup("fit")
    out = []
    for i, (x, y) in enumerate(datamodule.train_dataloader()):
        if n and i == n:
            break
        out.append((x.to(device).float(), y.to(device)))
    return out


def trainer_step(overrides: list[str], device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """One timed training step (forward, loss, backward, optimizer step) of the experiment's model and optimizer."""
    torch.manual_seed(0)
    _, task, _ = build(compose_config(overrides))
    net = task.net.to(device).train()
    optimizer = task.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        sync()
        start = time.perf_counter()
        loss, _ = task.loss_and_output(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="training batches per timing (0: one epoch)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--experiments", nargs=2, default=["jena_gru_dropout", "jena_gru"],
                        metavar=("DROPOUT", "FUSED"), help="the experiment with recurrent_dropout, the fused one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        common = [f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/run", "logger=none", "callbacks=minimal"]
        dropout, fused = ([f"experiment={e}", *common] for e in args.experiments)
        data = batches(fused, args.batches, device)
        print(f"{len(data)} batches of {tuple(data[0][0].shape)}; {hardware()}")
        steps = {"fused": trainer_step(fused, device), "recurrent_dropout": trainer_step(dropout, device)}
        for step in steps.values():  # warm-up
            step(*data[0])
        ratios = []
        for rep in range(1, args.reps + 1):
            seconds = dict.fromkeys(steps, 0.0)
            for x, y in data:  # batch by batch, alternating, so load changes on a shared machine hit both
                for name, step in steps.items():
                    seconds[name] += step(x, y)
            ratios.append(seconds["recurrent_dropout"] / seconds["fused"])
            print(f"rep {rep}: fused {seconds['fused']:.2f} s, recurrent_dropout {seconds['recurrent_dropout']:.2f} s "
                  f"for {len(data)} batches each, ratio {ratios[-1]:.2f}")
    spread = f" (min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} reps)"
    print(f"ratio recurrent_dropout/fused: {statistics.median(ratios):.2f}{spread}")
    print(f"hardware: {hardware()}")


if __name__ == "__main__":
    main()
