"""Image pipeline vs model throughput (images/s) on cats-vs-dogs, and feature extraction vs end to end.

    LITZOO_DATA=../shared/data python benchmarks/bench_image_pipeline.py [--images 200] [--repeats 3] [--no-vgg]

1. decode + resize (first pass, PIL, `workers` threads) vs loading the uint8 cache;
2. serving training batches as the data module does (index, float, augmentation, rescale) with the
   experiments' own settings: cats_dogs_small_convnet (no augmentation) and cats_dogs_small_augmented (DLwP);
3. what the model consumes: training steps of cats_dogs_small_convnet through the real task (forward, loss,
   backward, RMSprop), channels_last as configured (`auto`: on) and off;
4. the verdict: the share of a training step spent serving its batch (batches are served in the training
   process, between steps, so this share is what the pipeline costs);
5. one epoch of the VGG16 head trained end to end with the frozen base vs on cached base features.
Prints the median of `repeats` runs (min-max in brackets), the hardware and torch version. Runs on this
device only: a GPU, when present, is not measured by this script.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.utils import instantiate

from litzoo.run.compose import compose_config
from litzoo.data.features import extract
from litzoo.data.image_folder import load_folder, preprocess_images
from litzoo.models.pretrained import transfer_model
from litzoo.tasks import ClassificationTask

sys.path.insert(0, str(Path(__file__).parent))
from bench_epoch import hardware  # noqa: E402

HEAD = [{"type": "Flatten"}, {"type": "Dense", "units": 256, "activation": "relu"},
        {"type": "Dense", "units": 1, "activation": "sigmoid"}]


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_rate(n: int, seconds: list[float]) -> float:
    return statistics.median(n / s for s in seconds)


def rate(n: int, seconds: list[float]) -> str:
    r = sorted(n / s for s in seconds)
    return f"{statistics.median(r):9.1f} img/s  [{r[0]:.1f}-{r[-1]:.1f}]"


def task_for(experiment: str, channels_last: bool) -> ClassificationTask:
    """The experiment's task (network, loss, optimizer partial) with channels_last set, set up for training."""
    cfg = compose_config([f"experiment={experiment}", f"task.channels_last={str(channels_last).lower()}"])
    task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))
    task.setup("fit")
    return task


def train_epoch(forward: Callable[[torch.Tensor], torch.Tensor], params: list[torch.nn.Parameter],
                loss_fn: Callable, x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    opt = torch.optim.RMSprop([p for p in params if p.requires_grad], lr=1e-4)
    for xb, yb in zip(x.split(batch), y.split(batch)):
        loss, _ = loss_fn(forward(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def pipeline_vs_model(x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> None:
    """Sections 2-4: serving batches with and without augmentation vs the convnet's training steps."""
    n, k = len(x), min(args.images, len(x))
    order = torch.randperm(n)
    serving = {}
    for experiment in ("cats_dogs_small_convnet", "cats_dogs_small_augmented"):
        cfg = compose_config([f"experiment={experiment}"])
        augment = instantiate(cfg.augmentation) if cfg.get("augmentation") else None
        batch = cfg.data.batch_size

        def serve() -> None:  # InMemoryDataModule: index, to float, augment (training only), preprocess
            for idx in order.split(batch):
                xb = x[idx].float()
                preprocess_images(augment(xb) if augment else xb, cfg.data.preprocess)

        serving[experiment] = (batch, augment is not None, timed(serve, args.repeats))
        print(f"serve batches of {batch}, augmentation {'DLwP' if augment else 'none':4}   "
              f"{rate(n, serving[experiment][2])}", flush=True)
    xs, ys = preprocess_images(x[order[:k]].float(), "rescale"), y[order[:k]]
    model = {}
    for channels_last in (True, False):
        task = task_for("cats_dogs_small_convnet", channels_last).train()
        seconds = timed(lambda: train_epoch(task, list(task.parameters()), task.loss_and_output, xs, ys, 20),
                        args.repeats)
        model[channels_last] = seconds
        print(f"model: cats_dogs_small_convnet train b20, channels_last {str(channels_last).lower():5} "
              f"{rate(k, seconds)}", flush=True)
    consume = median_rate(k, model[True])
    for experiment, (batch, augmented, seconds) in serving.items():
        serve_rate = median_rate(n, seconds)
        share = (1 / serve_rate) / (1 / serve_rate + 1 / consume)
        print(f"verdict {experiment}: data {serve_rate:.0f} img/s vs model {consume:.0f} img/s "
              f"(channels_last): serving takes {100 * share:.1f}% of a training step")


def vgg_feature_extraction(x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> None:
    """Section 5: the VGG16 head end to end (frozen base, random weights) vs on cached features."""
    k = min(args.images, len(x))
    order = torch.randperm(len(x))
    ys = y[order[:k]]
    net = transfer_model([3, 150, 150], "vgg16", HEAD, weights="none")
    xi = preprocess_images(x[order[:k]].float(), "imagenet")
    bce = ClassificationTask(net, torch.optim.RMSprop, num_classes=2).loss_and_output
    end_to_end = timed(lambda: train_epoch(net, list(net.parameters()), bce, xi, ys, 20), args.repeats)
    start = time.perf_counter()
    feats = extract(net.vgg16, x[order[:k]], "imagenet", 50, torch.device("cpu"))
    extraction = time.perf_counter() - start
    head = torch.nn.Sequential(*list(net.children())[1:])
    cached = timed(lambda: train_epoch(head, list(head.parameters()), bce, feats, ys, 20), args.repeats)
    print(f"VGG16 head, end to end with frozen base   {rate(k, end_to_end)}")
    print(f"VGG16 head on cached features             {rate(k, cached)}")
    print(f"one-off feature extraction ({k} images)     {k / extraction:9.1f} img/s")
    print(f"per-epoch speed-up of feature extraction: {statistics.median(end_to_end) / statistics.median(cached):.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="images for the model/feature timings")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-vgg", action="store_true", help="skip the VGG16 feature-extraction comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(os.environ.get("LITZOO_DATA", "data")) / "cats_and_dogs_small" / "train"
    classes = ["cats", "dogs"]
    torch.manual_seed(0)
    print(f"hardware: {hardware()}\ndata: {root} (no GPU measured: this script times the device it runs on)")
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed(lambda: load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers), 1)
        x, y, _ = load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers)
        warm = timed(lambda: load_folder(root, classes, (150, 150), "rgb", "nearest", Path(tmp), args.workers),
                     args.repeats)
    print(f"decode + resize, first pass ({len(x)} JPEGs)    {rate(len(x), cold)}")
    print(f"load from the uint8 cache                 {rate(len(x), warm)}", flush=True)
    pipeline_vs_model(x, y, args)
    if not args.no_vgg:
        vgg_feature_extraction(x, y, args)
    print(f"hardware at the end: {hardware()}")


if __name__ == "__main__":
    main()
