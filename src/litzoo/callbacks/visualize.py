"""TensorBoard images of what a convnet learned (DLwP 5.4): first-layer filters and feature maps.

Every `every_n_epochs`, after validation: the first conv layer's kernels as a grid, and for one fixed
validation image the output of every conv layer, one tile per channel. Cost: one forward pass of a
single image; models without conv layers are skipped.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn
from torchvision.utils import make_grid


def _normalise(t: Tensor) -> Tensor:
    """Each tile to [0, 1] on its own (min-max), so weak channels stay visible."""
    flat = t.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-8)).view_as(t)


def filter_grid(weight: Tensor, max_filters: int = 64) -> Tensor:
    """Kernels (out, in, kh, kw) -> image grid; RGB when in == 3, else the first input channel in grey."""
    w = weight.detach().float().cpu()[:max_filters]
    w = w if w.shape[1] == 3 else w[:, :1]
    return make_grid(_normalise(w), nrow=8, padding=1, pad_value=1.0, scale_each=False)


def feature_map_grid(fmap: Tensor, max_channels: int = 64) -> Tensor:
    """One image's feature maps (C, H, W) -> grid of C grey tiles."""
    maps = fmap.detach().float().cpu()[:max_channels].unsqueeze(1)
    return make_grid(_normalise(maps), nrow=8, padding=1, pad_value=1.0)


def conv_layers(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]


class ConvVisualizer(Callback):
    """Logs filters and per-layer activations of a fixed validation image to TensorBoard."""

    def __init__(self, every_n_epochs: int = 1, max_channels: int = 64) -> None:
        self.every_n_epochs, self.max_channels = every_n_epochs, max_channels
        self.image: Tensor | None = None

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.image is None and batch_idx == 0 and isinstance(batch, (tuple, list)) and batch[0].dim() == 4:
            self.image = batch[0][:1].detach().clone()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = getattr(trainer.logger, "experiment", None)
        if trainer.sanity_checking or self.image is None or not hasattr(writer, "add_image"):
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        layers = conv_layers(pl_module)
        if not layers:
            return
        step = trainer.global_step
        writer.add_image("filters/" + layers[0][0], filter_grid(layers[0][1].weight, self.max_channels), step)
        maps: dict[str, Tensor] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, out, n=name: maps.__setitem__(n, out)) for name, m in layers]
        try:
            with torch.no_grad():
                pl_module(self.image.to(pl_module.device))
        finally:
            for h in hooks:
                h.remove()
        writer.add_image("input/validation_image", _normalise(self.image[0].float().cpu()), step)
        for name, out in maps.items():
            writer.add_image(f"activations/{name}", feature_map_grid(out[0], self.max_channels), step)
