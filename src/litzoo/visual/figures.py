"""One function per picture: tensors in, a PIL image out (saved as PNG and logged to TensorBoard as is)."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import Tensor

from litzoo.visual import draw

COLUMNS = 16  # feature-map tiles per row, as DLwP's `images_per_row = 16`


def activations_figure(layer: str, inputs: Tensor, maps: Tensor, max_channels: int = 64) -> Image.Image:
    """DLwP 5.4.1: one row per input image: the image, then its first channels of `layer`, labelled by index."""
    rows = []
    for image, fmap in zip(inputs, maps[:, :max_channels]):
        tiles = draw.colormap(draw.resize_tiles(draw.standardise(fmap)))  # (C, h, w, 3) uint8
        picture = draw.enlarge(draw.to_pil(image), 64)
        channels = draw.grid(tiles, [str(i) for i in range(len(tiles))], columns=COLUMNS, pad=2, size=10)
        rows.append(draw.stack([draw.grid([picture], ["input"]), channels]))
    shape = "x".join(map(str, maps.shape[1:]))
    shown = min(max_channels, maps.shape[1])
    title = f"{layer}: feature maps ({shape}), channels 0-{shown - 1} of {maps.shape[1]}"
    return draw.titled(draw.stack(rows, horizontal=False), title)


def filters_figure(layer: str, patterns: Tensor, filters: Sequence[int], gain: Tensor) -> Image.Image:
    """DLwP 5.4.2: the input pattern each filter responds to most, labelled with the filter index and how many
    times its mean activation rose above the grey starting image's ('dead': zero there, so no gradient)."""
    tiles = [draw.enlarge(draw.to_pil(p.float() / 255), 64) for p in patterns]
    labels = [f"{i}: dead" if g != g else f"{i}: {g:.1f}x" if g < 10 else f"{i}: {g:.0f}x"
              for i, g in zip(filters, gain.tolist())]
    title = f"{layer}: filter patterns (gradient ascent on each filter's mean activation from grey noise)"
    return draw.titled(draw.grid(tiles, labels, columns=8), title)


def gradcam_figure(image: Tensor, cam: Tensor, title: str) -> Image.Image:
    """DLwP 5.4.3: the image, the class-activation map on the layer's grid, and the two superimposed (jet)."""
    size = tuple(image.shape[-2:])
    heat = draw.unit_range(cam)
    blocks = draw.colormap(F.interpolate(heat[None, None], size=size, mode="nearest")[0, 0], "jet")  # the layer's grid
    smooth = draw.colormap(draw.upsample(heat, size), "jet")
    panels = [draw.to_pil(image), draw.to_pil(blocks), draw.to_pil(draw.overlay(image, smooth))]
    panels = [draw.enlarge(p, 160) for p in panels]
    # all zero: no channel of the layer speaks for the class (DLwP's heatmap /= max would divide by zero)
    empty = ", all zero" if float(cam.max()) <= 0 else ""
    labels = ["image", f"heatmap ({cam.shape[0]}x{cam.shape[1]}{empty})", "superimposed"]
    return draw.titled(draw.grid(panels, labels, columns=3, pad=4, size=12), title)


def confusion_figure(counts: Tensor, names: Sequence[str], title: str) -> Image.Image:
    """Counts, rows = true class, columns = predicted; the diagonal is right. Cell colour: share of the row."""
    k = len(names)
    counts = counts.cpu().long()
    share = counts.float() / counts.sum(1, keepdim=True).clamp_min(1)
    colours = draw.colormap(share, "Blues")
    cell = max(34, draw.text_size(str(int(counts.max())), 12)[0] + 10)
    label_w = max(draw.text_size(n, 12)[0] for n in names) + 10
    top = label_w  # column names are written vertically
    canvas = Image.new("RGB", (label_w + k * cell + 8, top + k * cell + 8), draw.BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    for i in range(k):
        pen.text((4, top + i * cell + cell // 2 - 6), names[i], fill=draw.INK, font=draw.font(12))
        column = Image.new("RGB", (label_w, cell), draw.BACKGROUND)
        ImageDraw.Draw(column).text((4, cell // 2 - 6), names[i], fill=draw.INK, font=draw.font(12))
        canvas.paste(column.rotate(90, expand=True), (label_w + i * cell, 0))
        for j in range(k):
            x, y = label_w + j * cell, top + i * cell
            pen.rectangle([x, y, x + cell - 1, y + cell - 1], fill=tuple(int(c) for c in colours[i, j]),
                          outline=(200, 200, 200))
            ink = (255, 255, 255) if share[i, j] > 0.55 else draw.INK
            text = str(int(counts[i, j]))
            w = draw.text_size(text, 12)[0]
            pen.text((x + (cell - w) // 2, y + cell // 2 - 7), text, fill=ink, font=draw.font(12))
    accuracy = counts.diag().sum().item() / max(1, counts.sum().item())
    return draw.titled(canvas, f"{title}\nrows: true class, columns: predicted - accuracy {accuracy:.3f}")


def mistakes_figure(images: Tensor, true: Sequence[str], pred: Sequence[str], conf: Tensor, title: str) -> Image.Image:
    """The most confidently wrong images, each labelled with its true and predicted class."""
    if len(images) == 0:
        return draw.titled(Image.new("RGB", (320, 64), draw.BACKGROUND), f"{title}\nno mistakes")
    tiles = [draw.enlarge(draw.to_pil(im), 96) for im in images]
    labels = [f"true {t}\npred {p} ({c:.2f})" for t, p, c in zip(true, pred, conf.tolist())]
    return draw.titled(draw.grid(tiles, labels, columns=8, pad=4, size=11), title)


def text_heatmap_figure(tokens: Sequence[str], scores: Tensor, title: str, width: int = 900) -> Image.Image:
    """The review's words, each on a background coloured by its attribution (red: for the prediction, blue: against)."""
    scale = scores.abs().max().clamp_min(1e-12)
    colours = draw.colormap((scores / scale + 1) / 2, "bwr")
    line_h = draw.text_size("Hg", 13)[1] + 6
    lines, x = [[]], 4
    for token, colour in zip(tokens, colours):
        w = draw.text_size(token, 13)[0] + 6
        if x + w > width - 4 and lines[-1]:
            lines.append([])
            x = 4
        lines[-1].append((x, token, tuple(int(c) for c in colour)))
        x += w + 2
    canvas = Image.new("RGB", (width, len(lines) * line_h + 8), draw.BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    for row, items in enumerate(lines):
        y = 4 + row * line_h
        for x0, token, colour in items:
            pen.rectangle([x0, y, x0 + draw.text_size(token, 13)[0] + 5, y + line_h - 2], fill=colour)
            pen.text((x0 + 3, y + 2), token, fill=draw.INK, font=draw.font(13))
    return draw.titled(canvas, title)
