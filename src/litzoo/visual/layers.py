"""The layers a picture is made of, under Keras' names, and safe ways to run the net for pictures.

Conv layers are named as Keras names them in `model.summary()`: `conv2d_1` for a Sequential convnet,
`block5_conv1` inside VGG16, `conv5_block3` (a residual block's output) and `conv1_conv` inside ResNet50.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from litzoo.models.pretrained import PretrainedBase
from litzoo.models.sequential import KerasSequential

# Nested models start their own namespace, as Keras' nested models do (`vgg16` -> `block1_conv1`).
NESTED_MODELS = (KerasSequential, PretrainedBase)
PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the layer of interest has run."""


def _walk(module: nn.Module, prefix: list[str]) -> Iterator[tuple[str, nn.Module, nn.Module]]:
    """(Keras name, module holding the weights, module whose output is the layer's output)."""
    children = dict(module.named_children())
    for name, child in children.items():
        path = [] if isinstance(child, NESTED_MODELS) else [*prefix, name]
        has_conv = any(isinstance(m, nn.Conv2d) for m in child.modules())
        if isinstance(child, nn.Conv2d):
            # torchvision's VGG16 keeps the ReLU as the next layer (`block1_conv1_relu`); Keras' conv output is after it
            yield "_".join(path), child, children.get(f"{name}_relu", child)
        elif has_conv and not isinstance(child, PLAIN_CONTAINERS):  # a residual block: its output is the feature map
            yield "_".join(path), child, child
        elif has_conv:
            yield from _walk(child, path)


def conv_layers(net: nn.Module) -> dict[str, nn.Module]:
    """Keras name -> Conv2D layer (or residual block) of `net`, in forward order; {} for non-image models."""
    return {name: output for name, _, output in _walk(net, [])}


def trainable_conv_layers(net: nn.Module) -> list[str]:
    """The conv layers training changes (not a frozen pretrained base's)."""
    return [name for name, weights, _ in _walk(net, []) if any(p.requires_grad for p in weights.parameters())]


def embedding_layers(net: nn.Module) -> dict[str, nn.Embedding]:
    """Keras name -> Embedding layer (the text models)."""
    return {name.rsplit(".", 1)[-1]: m for name, m in net.named_modules() if isinstance(m, nn.Embedding)}


def pick(layers: dict[str, nn.Module], name: str) -> nn.Module:
    """The layer called `name`; an unknown name lists the valid ones."""
    if name not in layers:
        raise ValueError(f"the model has no conv layer {name!r}; valid layer names: {', '.join(layers) or 'none'}")
    return layers[name]


@contextmanager
def hooked(layers: dict[str, nn.Module], store: dict[str, Tensor], stop_at: str | None = None,
           grad: bool = False) -> Iterator[dict[str, Tensor]]:
    """Record each layer's output in `store`; `stop_at` ends the forward pass after that layer (catch _Stop).

    With `grad`, an output that does not require grad (a frozen base) becomes a leaf that does, so its
    gradient can be taken (Grad-CAM through a frozen VGG16, gradient x input through a frozen Embedding).
    """
    def hook(name: str):
        def record(_module: nn.Module, _inputs: object, out: Tensor) -> Tensor:
            if grad and not out.requires_grad:
                out = out.detach().requires_grad_(True)
            store[name] = out
            if name == stop_at:
                raise _Stop
            return out
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def run_until(net: nn.Module, x: Tensor, layers: dict[str, nn.Module], last: str) -> dict[str, Tensor]:
    """Outputs of `layers` for input x, running the net only as far as layer `last`."""
    store: dict[str, Tensor] = {}
    with hooked(layers, store, stop_at=last):
        try:
            net(x)
        except _Stop:
            pass
    return store


@contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """Inference mode for Dropout/BatchNorm, then every module's own mode back (frozen bases keep theirs)."""
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        yield net
    finally:
        for m, mode in modes.items():
            m.training = mode


@contextmanager
def gradients(device: torch.device) -> Iterator[None]:
    """Gradients in fp32, also inside Lightning's validation (inference mode) and under mixed precision.

    cuDNN's RNN backward refuses eval mode, so RNNs take the native kernels here.
    """
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False), \
            torch.backends.cudnn.flags(enabled=False):
        yield


def device_of(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def float_dtype(net: nn.Module) -> torch.dtype:
    """The dtype pictures run in: the weights' (fp32 under mixed precision), never lower than fp32 for grads."""
    dtype = next(net.parameters()).dtype
    return dtype if dtype.is_floating_point else torch.float32


def class_score(out: Tensor, classes: Tensor) -> Tensor:
    """(B,) score of `classes` before the output activation; a binary logit counts for class 1, against class 0."""
    out = out.float().flatten(1)
    if out.shape[1] == 1:
        return torch.where(classes == 1, out[:, 0], -out[:, 0])
    return out.gather(1, classes[:, None])[:, 0]
