"""What the pictures take from a data module: pixels <-> model input, class names, images, predictions.

They read the contract the base data module declares (litzoo.data.base.InMemoryDataModule): image folders hold
uint8 pixels and `preprocess` them on the device (`preprocess_mode` names how; litzoo.data.pixels has both
directions), digits/MNIST/CSV digits hold floats in [0, 1], IMDB holds token ids and a `vocabulary`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from litzoo.data.base import InMemoryDataModule
from litzoo.heads import class_probabilities
from litzoo.visual.layers import eval_mode


def pixel_input(datamodule: InMemoryDataModule) -> Callable[[Tensor], Tensor]:
    """Pixels in [0, 255] -> the model's input as the data module makes it (differentiable: DLwP's gradient
    ascent runs in pixel units). Modules that hold floats in [0, 1] get pixels / 255 first."""
    stored = next(iter(datamodule.splits.values()), (None,))[0]
    if stored is not None and stored.dtype == torch.uint8:
        return datamodule.preprocess
    return lambda pixels: datamodule.preprocess(pixels / 255)


def class_names(datamodule: InMemoryDataModule, num_classes: int) -> list[str]:
    """The data module's `class_names` (image folders, IMDB, MNIST, a CSV digits subset), else "0".."n-1"."""
    names = datamodule.class_names
    if names is not None and len(names) == num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(num_classes)]


def device_batch(datamodule: InMemoryDataModule, batch: tuple[Tensor, ...], device: torch.device) -> tuple[Tensor, ...]:
    """A loader batch as the model sees it: on the device, through the module's batch hooks (uint8 -> preprocessed)."""
    batch = datamodule.transfer_batch_to_device(batch, device, 0)
    return datamodule.on_after_batch_transfer(batch, 0)


def first_batch(datamodule: InMemoryDataModule, split: str, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The first `n` samples of a split (unshuffled: the same images every time)."""
    loader = getattr(datamodule, f"{split}_dataloader")()
    xs, ys, count = [], [], 0
    for batch in loader:
        x, y = device_batch(datamodule, batch, device)[:2]
        xs.append(x[: n - count])
        ys.append(y[: n - count])
        count += len(xs[-1])
        if count >= n:
            break
    return torch.cat(xs), torch.cat(ys)


class Mistakes:
    """A running top-k of the most confidently wrong samples; never holds more than 2k inputs (on the CPU)."""

    def __init__(self, k: int) -> None:
        self.k, self.seen, self.wrong = k, 0, 0
        self.x: Tensor | None = None
        self.conf, self.target, self.pred = torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)

    def update(self, x: Tensor, y: Tensor, probs: Tensor) -> None:
        conf, pred = probs.max(dim=1)
        bad = (pred != y).nonzero()[:, 0]
        self.seen, self.wrong = self.seen + len(y), self.wrong + len(bad)
        if not self.k or not len(bad):
            return
        xs = x[bad].detach().cpu() if self.x is None else torch.cat([self.x, x[bad].detach().cpu()])
        conf, target, pred = (torch.cat([a, b[bad].cpu()]) for a, b in
                              ((self.conf, conf), (self.target, y.long()), (self.pred, pred)))
        top = conf.argsort(descending=True)[: self.k]
        self.x, self.conf, self.target, self.pred = xs[top], conf[top], target[top], pred[top]


@torch.no_grad()
def predict_split(net: torch.nn.Module, datamodule: InMemoryDataModule, split: str, device: torch.device,
                  keep: int = 0) -> tuple[Tensor, Tensor, Mistakes]:
    """(true labels, predicted classes) of every sample of a split, and its `keep` worst mistakes."""
    targets, preds, mistakes = [], [], Mistakes(keep)
    with eval_mode(net):
        for batch in getattr(datamodule, f"{split}_dataloader")():
            x, y = device_batch(datamodule, batch, device)[:2]
            probs = class_probabilities(net(x))
            mistakes.update(x, y, probs)
            targets.append(y.cpu())
            preds.append(probs.argmax(1).cpu())
    return torch.cat(targets), torch.cat(preds), mistakes


def load_image(path: str | Path, input_shape: tuple[int, ...], datamodule: InMemoryDataModule) -> Tensor:
    """An image file as a (1, C, H, W) model input: resized with the data module's interpolation, preprocessed."""
    from PIL import Image, UnidentifiedImageError

    from litzoo.data.image_folder import to_8bit

    path = Path(path).expanduser()
    channels, height, width = input_shape
    resample = getattr(Image.Resampling, datamodule.interpolation.upper())
    try:
        with Image.open(path) as img:
            # decoded as the training data was: 16-bit and float images scaled, not clipped to white
            img = to_8bit(img, "RGB" if channels == 3 else "L").resize((width, height), resample)
            pixels = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as err:
        raise ValueError(f"image={path}: cannot read it as an image ({type(err).__name__}: {err}); give a "
                         "PNG/JPEG/BMP file") from None
    x = pixels.view(height, width, channels).permute(2, 0, 1).float()[None]
    return pixel_input(datamodule)(x)
