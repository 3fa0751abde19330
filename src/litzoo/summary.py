"""Keras-style `model.summary()`: Layer (type) | Output Shape | Param #, with totals.

Output shapes are printed in Keras' channels-last notation by default, `(None, 26, 26, 32)` for a
PyTorch (N, 32, 26, 26) tensor, so rows can be checked against the seed notes; `shapes=torch` prints
PyTorch's (N, C, H, W). Parameters follow Keras' accounting: frozen weights and BatchNorm's moving
mean/variance are "non-trainable". Where PyTorch's layer has a different number of weights than
Keras' (a layer defines `keras_params()`), both are shown.

CLI: `litzoo-summary experiment=mnist_convnet` composes the same config as training (no dataset read).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

WIDTHS = (34, 26, 12)


@dataclass
class Row:
    name: str
    kind: str
    shape: str
    params: int
    keras_params: int | None = None


def keras_shape(shape: tuple[int, ...], style: str = "keras") -> str:
    """(C, H, W) -> '(None, H, W, C)' in Keras style; sequences (L, C) are already channels-last."""
    dims = list(shape)
    if style == "keras" and len(dims) == 3:
        dims = dims[1:] + dims[:1]
    if style not in ("keras", "torch"):
        raise ValueError(f"shape style must be 'keras' or 'torch', got {style!r}")
    head = "None" if style == "keras" else "N"
    return "(" + ", ".join([head, *map(str, dims)]) + ")"


def count_params(module: nn.Module) -> tuple[int, int]:
    """(total, trainable), with BatchNorm running statistics counted as non-trainable as Keras does."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.parameters())
    total += sum(b.numel() for name, b in module.named_buffers() if name.rsplit(".", 1)[-1] in ("running_mean", "running_var"))
    return total, trainable


def _output_shape(out: object) -> tuple[int, ...]:
    t = out[0] if isinstance(out, (tuple, list)) else out
    return tuple(t.shape[1:]) if isinstance(t, Tensor) else ()


def summary_rows(net: nn.Module, style: str = "keras") -> list[Row]:
    """One row per top-level layer (nested models are one row, as in Keras), shapes from a probe forward."""
    shapes: dict[str, tuple[int, ...]] = {}
    children = list(net.named_children())
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=name: shapes.__setitem__(n, _output_shape(out)))
             for name, m in children]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(net.example_input(1))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    rows = []
    for name, m in children:
        keras = m.keras_params() if hasattr(m, "keras_params") else None
        rows.append(Row(name, type(m).__name__, keras_shape(shapes.get(name, ()), style), count_params(m)[0], keras))
    return rows


def format_summary(net: nn.Module, style: str = "keras", title: str = "Sequential") -> str:
    """The Keras table as text."""
    rows = summary_rows(net, style)
    name_w = max([WIDTHS[0]] + [len(f"{r.name} ({r.kind})") + 2 for r in rows])
    shape_w = max([WIDTHS[1]] + [len(r.shape) + 2 for r in rows])
    width = name_w + shape_w + WIDTHS[2]
    header = f"{'Layer (type)':<{name_w}}{'Output Shape':<{shape_w}}{'Param #':>{WIDTHS[2]}}"
    lines = [f'Model: "{title}"', "_" * width, header, "=" * width]
    for i, r in enumerate(rows):
        params = f"{r.params:,}" if r.keras_params is None else f"{r.keras_params:,} (torch {r.params:,})"
        lines.append(f"{f'{r.name} ({r.kind})':<{name_w}}{r.shape:<{shape_w}}{params:>{WIDTHS[2]}}")
        lines.append("=" * width if i == len(rows) - 1 else "_" * width)
    total, trainable = count_params(net)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}"]
    keras_total = sum(r.keras_params if r.keras_params is not None else r.params for r in rows)
    if keras_total != total:
        lines.append(f"Keras would count {keras_total:,} params in total: {keras_total - total:+,} from layers "
                     "whose PyTorch weight layout differs (shown per row as 'keras (torch n)').")
    if style == "keras":
        lines += ["Output shapes in Keras' channels-last notation: PyTorch image tensors are (N, C, H, W);",
                  "sequences are (N, steps, features) in both."]
    return "\n".join(lines)

