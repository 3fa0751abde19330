"""Image pipeline vs model throughput (images/s), and feature extraction vs end-to-end with a frozen base.

    LITZOO_DATA=../shared/data python benchmarks/bench_image_pipeline.py [--images 200] [--repeats 3]

1. decode + resize (first pass, PIL, `workers` threads) vs loading the uint8 cache;
2. serving training batches (index, float, DLwP augmentation, rescale) on this device;
3. what the model consumes: train steps/s of cats_dogs_small_convnet (forward, backward, RMSprop);
4. one epoch of the VGG16 head trained end to end with the frozen base vs on cached base features.
Prints a table with the median of `repeats` runs (min-max in brackets), the hardware and torch version.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from litzoo.augment import ImageDataGenerator
from litzoo.data.features import extract
from litzoo.data.image_folder import load_folder, preprocess_images
from litzoo.models.pretrained import transfer_model
from litzoo.config import compose_config

HEAD = [{"type": "Flatten"}, {"type": "Dense", "units": 256, "activation": "relu"},
        {"type": "Dense", "units": 1, "activation": "sigmoid"}]


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def rate(n: int, seconds: list[float]) -> str:
    r = sorted(n / s for s in seconds)
    return f"{statistics.median(r):9.1f} img/s  [{r[0]:.1f}-{r[-1]:.1f}]"


def train_epoch(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.RMSprop(params, lr=1e-4)
    net.train()
    for xb, yb in zip(x.split(batch), y.split(batch)):
        loss = F.binary_cross_entropy_with_logits(net(xb).squeeze(-1), yb.float())
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200, help="images for the model/feature timings")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    root = Path(os.environ.get("LITZOO_DATA", "data")) / "cats_and_dogs_small" / "train"
    classes = ["cats", "dogs"]
    torch.manual_seed(0)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; {root}")
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed(lambda: load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers), 1)
        x, y, _ = load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers)
        warm = timed(lambda: load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers),
                     args.repeats)
    n = len(x)
    print(f"decode + resize, first pass ({n} JPEGs)    {rate(n, cold)}")
    print(f"load from the uint8 cache                 {rate(n, warm)}")
    aug = ImageDataGenerator(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=11.46,
                             zoom_range=0.2, horizontal_flip=True)
    order = torch.randperm(n)

    def serve(augment: bool) -> None:
        for idx in order.split(32):
            batch = x[idx].float()
            preprocess_images(aug(batch) if augment else batch, "rescale")

    print(f"serve batches of 32, no augmentation      {rate(n, timed(lambda: serve(False), args.repeats))}")
    print(f"serve batches of 32, DLwP augmentation    {rate(n, timed(lambda: serve(True), args.repeats))}")
    k = min(args.images, n)
    xs, ys = preprocess_images(x[order[:k]].float(), "rescale"), y[order[:k]]
    cfg = compose_config(["experiment=cats_dogs_small_convnet"])
    convnet = instantiate(cfg.model)
    print(f"model: cats_dogs_small_convnet train, b32 {rate(k, timed(lambda: train_epoch(convnet, xs, ys, 32), args.repeats))}")

    net = transfer_model([3, 150, 150], "vgg16", HEAD, weights="none")  # frozen base, random weights
    xi = preprocess_images(x[order[:k]].float(), "imagenet")
    end_to_end = timed(lambda: train_epoch(net, xi, ys, 20), args.repeats)
    start = time.perf_counter()
    feats = extract(net.vgg16, x[order[:k]], "imagenet", 50, torch.device("cpu"))
    extraction = time.perf_counter() - start
    head = torch.nn.Sequential(*list(net.children())[1:])
    cached = timed(lambda: train_epoch(head, feats, ys, 20), args.repeats)
    print(f"VGG16 head, end to end with frozen base   {rate(k, end_to_end)}")
    print(f"VGG16 head on cached features             {rate(k, cached)}")
    print(f"one-off feature extraction ({k} images)     {k / extraction:9.1f} img/s")
    print(f"per-epoch speed-up of feature extraction: {statistics.median(end_to_end) / statistics.median(cached):.0f}x")


if __name__ == "__main__":
    main()
