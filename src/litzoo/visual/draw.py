"""Pictures drawn with PIL: labelled tile grids, titles, colour maps (fast enough to run every epoch).

matplotlib's figure machinery costs far more per figure than these helpers, so the per-epoch TensorBoard
images stay within the callbacks' time budget. matplotlib is used for its colour maps only.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


@lru_cache(maxsize=4)
def font(size: int = 11) -> ImageFont.ImageFont:
    """DejaVu Sans, which matplotlib ships (no system fonts needed): Pillow's bundled font has no glyphs beyond
    ASCII, so a class called `café` or `Ёлка` came out as empty boxes."""
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


@lru_cache(maxsize=8)
def _lookup(name: str) -> Tensor:
    """A matplotlib colour map as a (256, 3) uint8 table (calling the map itself for every tile is slow)."""
    import matplotlib

    return torch.from_numpy((matplotlib.colormaps[name](np.arange(256))[:, :3] * 255).round().astype(np.uint8))


def colormap(values: Tensor, name: str = "viridis") -> np.ndarray:
    """(..., H, W) values in [0, 1] -> (..., H, W, 3) uint8 through a matplotlib colour map."""
    index = (values.detach().float().clamp(0, 1) * 255).round().long().cpu()
    return _lookup(name)[index].numpy()


def to_pil(image: Tensor | np.ndarray) -> Image.Image:
    """(C, H, W) float in [0, 1] (C = 1 or 3) or (H, W, 3) uint8 -> RGB PIL image."""
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    x = image.detach().float().clamp(0, 1).cpu()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x[:3]
    return Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def resize_tiles(maps: Tensor, low: int = 24, high: int = 96) -> Tensor:
    """(N, H, W) -> the longer side between `low` and `high`: small maps enlarged without blur, large ones averaged."""
    h, w = maps.shape[-2:]
    side = max(h, w)
    if side < low:
        scale = -(-low // side)  # whole-pixel blocks keep a 3x3 map readable as 3x3
        return F.interpolate(maps[:, None].float(), scale_factor=scale, mode="nearest")[:, 0]
    if side > high:
        size = (max(1, round(h * high / side)), max(1, round(w * high / side)))
        return F.interpolate(maps[:, None].float(), size=size, mode="area")[:, 0]
    return maps


_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def text_size(text: str, size: int = 11) -> tuple[int, int]:
    """(width, height) of a possibly multi-line text."""
    left, _, right, bottom = _MEASURE.multiline_textbbox((0, 0), text or " ", font=font(size))
    return right - left, bottom


def grid(tiles: Sequence[Image.Image] | np.ndarray, labels: Sequence[str] | None = None, columns: int = 8,
         pad: int = 3, size: int = 11) -> Image.Image:
    """Tiles (PIL images, or one (N, h, w, 3) uint8 array) in rows of `columns`, each with its label above it."""
    arrays = list(tiles) if isinstance(tiles, np.ndarray) else [np.asarray(t.convert("RGB")) for t in tiles]
    if not arrays:
        raise ValueError("grid() needs at least one tile")
    labels = list(labels) if labels is not None else [""] * len(arrays)
    label_h = max(text_size(t, size)[1] for t in labels) + 2 if any(labels) else 0
    cell_w = max(max(a.shape[1] for a in arrays), max(text_size(t, size)[0] for t in labels))
    cell_h = max(a.shape[0] for a in arrays) + label_h
    cols = min(columns, len(arrays))
    rows = -(-len(arrays) // cols)
    canvas = np.full((rows * (cell_h + pad) + pad, cols * (cell_w + pad) + pad, 3), BACKGROUND, dtype=np.uint8)
    corners = [(pad + (i // cols) * (cell_h + pad), pad + (i % cols) * (cell_w + pad)) for i in range(len(arrays))]
    for (y, x), a in zip(corners, arrays):  # numpy slices: no per-tile PIL objects
        canvas[y + label_h: y + label_h + a.shape[0], x: x + a.shape[1]] = a
    image = Image.fromarray(canvas)
    pen = ImageDraw.Draw(image)
    for (y, x), label in zip(corners, labels):
        if label:
            pen.text((x, y), label, fill=INK, font=font(size))
    return image


def titled(image: Image.Image, title: str, size: int = 13) -> Image.Image:
    """`image` below one or more lines of title text."""
    lines = title.splitlines() or [""]
    line_h = text_size("Hg", size)[1] + 3
    width = max(image.width, *(text_size(line, size)[0] + 8 for line in lines))
    canvas = Image.new("RGB", (width, image.height + line_h * len(lines) + 6), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((4, 3 + i * line_h), line, fill=INK, font=font(size))
    canvas.paste(image, (0, line_h * len(lines) + 6))
    return canvas


def stack(images: Sequence[Image.Image], horizontal: bool = True, pad: int = 6) -> Image.Image:
    """Images side by side (or one below the other), top/left aligned."""
    if horizontal:
        size = (sum(i.width for i in images) + pad * (len(images) - 1), max(i.height for i in images))
    else:
        size = (max(i.width for i in images), sum(i.height for i in images) + pad * (len(images) - 1))
    canvas = Image.new("RGB", size, BACKGROUND)
    offset = 0
    for image in images:
        canvas.paste(image, (offset, 0) if horizontal else (0, offset))
        offset += (image.width if horizontal else image.height) + pad
    return canvas


def enlarge(image: Image.Image, min_side: int) -> Image.Image:
    """Whole-number nearest-neighbour enlargement so the shorter side is at least `min_side`."""
    scale = -(-min_side // min(image.size))
    return image if scale <= 1 else image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def min_max(t: Tensor) -> Tensor:
    """Each image of a batch to [0, 1] on its own, so a dim one stays visible."""
    flat = t.detach().float().flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-8)).view_as(t)


def standardise(maps: Tensor) -> Tensor:
    """DLwP 5.4.1's display of a channel: (x - mean) / std * 64 + 128, clipped; a flat channel stays mid-grey."""
    flat = maps.detach().float().flatten(1)
    mean, std = flat.mean(1, keepdim=True), flat.std(1, keepdim=True, correction=0)
    return ((flat - mean) / (std + 1e-5) * 64 + 128).clamp(0, 255).div(255).view_as(maps)


def overlay(image: Tensor, heat: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """DLwP 5.4.3's superimposed image: heatmap * 0.4 + image (both (H, W, 3) uint8 here)."""
    base = np.asarray(to_pil(image)).astype(np.float32)
    return np.clip(base * (1 - alpha) + heat.astype(np.float32) * alpha, 0, 255).astype(np.uint8)


def upsample(values: Tensor, size: tuple[int, int]) -> Tensor:
    """(h, w) -> (H, W), bilinear, as DLwP resizes the heatmap to the image."""
    return F.interpolate(values[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]


def unit_range(values: Tensor) -> Tensor:
    """Divide by the maximum (DLwP: heatmap /= np.max(heatmap)); an all-zero map stays zero."""
    return values / values.max().clamp_min(torch.finfo(torch.float32).tiny)
