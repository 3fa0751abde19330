"""Keras `ImageDataGenerator` augmentation on whole batches on the device (seeds 001, 003, 004).

One affine matrix per sample (rotation, shifts, shear, zoom, crop, flips, composed as Keras'
`apply_affine_transform` does: rotation @ shift @ shear @ zoom) and one `grid_sample` per batch, plus
Keras' colour changes (`brightness_range`, `channel_shift_range`). Inputs are float pixels in [0, 255]
(the image DataModule preprocesses after augmenting, as Keras applies `rescale` last).

Random parameters are drawn per sample from torch's global CPU generator, which the RNGState callback
checkpoints, so a resumed run augments exactly as an uninterrupted one. The DataModule calls this on
training batches only (`on_after_batch_transfer` while `trainer.training`), never on validation/test.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _uniform(n: int, low: float, high: float) -> Tensor:
    return torch.rand(n) * (high - low) + low


def _zoom_bounds(zoom_range: float | Sequence[float]) -> tuple[float, float]:
    """Keras: a float z means [1 - z, 1 + z]; a pair is [lower, upper]."""
    if isinstance(zoom_range, (int, float)):
        return 1.0 - zoom_range, 1.0 + zoom_range
    low, high = zoom_range
    return float(low), float(high)


class ImageDataGenerator:
    """keras.preprocessing.image.ImageDataGenerator's random transforms, batched; `crop_range` is Day 27's crop.

    rotation_range: degrees; width/height_shift_range: fraction of the width/height (< 1) or pixels (>= 1);
    shear_range: degrees (current Keras; Keras 2.0, which DLwP used, read radians); zoom_range: float or
    [lower, upper], > 1 zooms out as in Keras; crop_range: a random crop of side (1 - crop_range .. 1) of the
    image, resized back; brightness_range: [lower, upper] factor; channel_shift_range: pixel units.
    """

    def __init__(self, rotation_range: float = 0.0, width_shift_range: float = 0.0, height_shift_range: float = 0.0,
                 shear_range: float = 0.0, zoom_range: float | Sequence[float] = 0.0, crop_range: float = 0.0,
                 horizontal_flip: bool = False, vertical_flip: bool = False, fill_mode: str = "nearest",
                 cval: float = 0.0, brightness_range: Sequence[float] | None = None,
                 channel_shift_range: float = 0.0) -> None:
        if fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
        if not 0.0 <= crop_range < 1.0:
            raise ValueError(f"crop_range must be in [0, 1), got {crop_range!r}")
        self.rotation_range, self.shear_range = float(rotation_range), float(shear_range)
        self.width_shift_range, self.height_shift_range = float(width_shift_range), float(height_shift_range)
        self.zoom = _zoom_bounds(zoom_range)
        self.crop_range, self.fill_mode, self.cval = float(crop_range), fill_mode, float(cval)
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.brightness_range = tuple(brightness_range) if brightness_range else None
        self.channel_shift_range = float(channel_shift_range)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"

    def matrices(self, n: int, height: int, width: int) -> Tensor:
        """(n, 3, 3) maps from output to input pixel coordinates (x=column, y=row, origin at the centre)."""
        eye = torch.eye(3).repeat(n, 1, 1)
        rot, shift, shear, zoom, flip, crop = (eye.clone() for _ in range(6))
        theta = torch.deg2rad(_uniform(n, -self.rotation_range, self.rotation_range))
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = theta.cos(), -theta.sin(), theta.sin(), theta.cos()
        for axis, (rng, size) in enumerate(((self.width_shift_range, width), (self.height_shift_range, height))):
            shift[:, axis, 2] = _uniform(n, -rng, rng) * (size if rng < 1 else 1.0)
        s = torch.deg2rad(_uniform(n, -self.shear_range, self.shear_range))
        shear[:, 0, 0], shear[:, 1, 0] = s.cos(), -s.sin()  # Keras' [[1, -sin, 0], [0, cos, 0]] in (row, col)
        zoom[:, 0, 0], zoom[:, 1, 1] = _uniform(n, *self.zoom), _uniform(n, *self.zoom)
        if self.horizontal_flip:
            flip[:, 0, 0] = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
        if self.vertical_flip:
            flip[:, 1, 1] = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
        if self.crop_range:
            side = _uniform(n, 1.0 - self.crop_range, 1.0)
            crop[:, 0, 0], crop[:, 1, 1] = side, side
            crop[:, 0, 2] = _uniform(n, -1.0, 1.0) * (1 - side) * width / 2
            crop[:, 1, 2] = _uniform(n, -1.0, 1.0) * (1 - side) * height / 2
        return crop @ rot @ shift @ shear @ zoom @ flip

    def __call__(self, x: Tensor) -> Tensor:  # (B, C, H, W) float pixels in [0, 255]
        b, _, h, w = x.shape
        m = self.matrices(b, h, w)
        # pixel coordinates -> affine_grid's normalised [-1, 1] (align_corners=False): p = S n
        scale = torch.diag(torch.tensor([w / 2, h / 2, 1.0]))
        theta = (torch.linalg.inv(scale) @ m @ scale)[:, :2].to(device=x.device, dtype=x.dtype)
        x = self._sample(x, F.affine_grid(theta, list(x.shape), align_corners=False))
        return self._colour(x)

    def _sample(self, x: Tensor, grid: Tensor) -> Tensor:
        if self.fill_mode == "constant":  # grid_sample pads with zeros: shift so that zero is cval
            return F.grid_sample(x - self.cval, grid, padding_mode="zeros", align_corners=False) + self.cval
        if self.fill_mode == "wrap":
            grid = torch.remainder(grid + 1.0, 2.0) - 1.0
        mode = {"nearest": "border", "reflect": "reflection", "wrap": "border"}[self.fill_mode]
        return F.grid_sample(x, grid, padding_mode=mode, align_corners=False)

    def _colour(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        if self.brightness_range:
            factor = _uniform(b, *self.brightness_range).to(x.device, x.dtype).view(b, 1, 1, 1)
            x = (x * factor).clamp(0.0, 255.0)
        if self.channel_shift_range:
            lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
            shift = _uniform(b, -self.channel_shift_range, self.channel_shift_range).to(x.device, x.dtype)
            x = torch.maximum(torch.minimum(x + shift.view(b, 1, 1, 1), hi), lo)
        return x

