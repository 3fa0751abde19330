"""The numbers behind the pictures (DLwP 5.4): filter patterns, Grad-CAM, per-token attributions, confusion.

Gradients run in fp32 with autocast off, inside `torch.inference_mode(False)` (Lightning validates in
inference mode), with `torch.autograd.grad`, so no parameter's `.grad` is touched during training.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litzoo.heads import class_probabilities
from litzoo.visual.layers import (
    class_score,
    device_of,
    eval_mode,
    float_dtype,
    gradients,
    hooked,
    run_until,
)


@dataclass
class FilterPatterns:
    """Inputs that maximise filters, in pixel units (0..255 scale), with the mean activations they reach."""

    pixels: Tensor  # (N, C, H, W)
    start: Tensor   # (N,) mean activation of each filter on the starting grey noisy image
    end: Tensor     # (N,) ... on the final pattern

    @property
    def gain(self) -> Tensor:
        """end / start per filter; NaN for a filter that is zero on the start image (ReLU: no gradient either)."""
        return torch.where(self.start > 0, self.end / self.start.clamp_min(1e-12), torch.nan)


def filter_patterns(net: nn.Module, layers: dict[str, nn.Module], layer: str, filters: Sequence[int],
                    input_shape: tuple[int, ...], to_model: Callable[[Tensor], Tensor], steps: int = 40,
                    step: float = 10.0, seed: int = 0) -> FilterPatterns:
    """DLwP 5.4.2: gradient ascent on the mean activation of each filter, all filters as one batch.

    As in the book: start from grey noise (`random * 20 + 128` pixels), normalise the gradient by its RMS
    (`grads / (sqrt(mean(grads**2)) + 1e-5)`) and take `steps` steps of `step` pixel units. The book's
    step is 1 for ImageNet-trained VGG16; the zoo's small convnets have far less gain, and 10 is what
    lifts their last conv layer's mean activations 8-18x (1-2x at 1); deprocessing rescales either way.
    The net only runs up to `layer`, so any image size works and late VGG16 layers cost only what they need.
    """
    device, dtype = device_of(net), float_dtype(net)
    index = torch.as_tensor(list(filters), device=device)
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(len(index), *input_shape, generator=g) * 20 + 128).to(device, dtype)

    def mean_activation(p: Tensor) -> Tensor:
        out = run_until(net, to_model(p), layers, layer)[layer].float()  # (N, filters, h, w)
        return out[torch.arange(len(index), device=device), index].flatten(1).mean(1)

    with eval_mode(net), gradients(device):
        start = mean_activation(pixels).detach()
        for _ in range(steps):
            pixels = pixels.detach().requires_grad_(True)
            (grads,) = torch.autograd.grad(mean_activation(pixels).sum(), pixels)
            rms = grads.flatten(1).square().mean(1).sqrt().view(-1, *[1] * len(input_shape))
            pixels = pixels + grads / (rms + 1e-5) * step
        end = mean_activation(pixels.detach()).detach()
    return FilterPatterns(pixels.detach(), start.cpu(), end.cpu())


def deprocess(pixels: Tensor) -> Tensor:
    """DLwP's deprocess_image: zero mean, std 0.1, centred on 0.5, clipped, as 8-bit; per image. (N, ...) -> uint8."""
    flat = pixels.detach().float().flatten(1)
    flat = (flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True, correction=0) + 1e-5) * 0.1 + 0.5
    return (flat.clamp(0, 1) * 255).to(torch.uint8).view_as(pixels)


@dataclass
class GradCam:
    """Class-activation maps on a layer's grid (before any upsampling), with the predictions they explain."""

    cam: Tensor    # (B, h, w), >= 0
    probs: Tensor  # (B, classes)
    pred: Tensor   # (B,)


def grad_cam(net: nn.Module, layer: nn.Module, x: Tensor, classes: Tensor | None = None) -> GradCam:
    """DLwP 5.4.3 / Grad-CAM: channels of `layer`'s output weighted by the mean gradient of the class score,
    summed, ReLU'd. `classes` defaults to the predicted class."""
    device = device_of(net)
    store: dict[str, Tensor] = {}
    with eval_mode(net), gradients(device), hooked({"layer": layer}, store, grad=True):
        out = net(x.detach().clone().to(device, float_dtype(net)))
        probs = class_probabilities(out)
        target = probs.argmax(1) if classes is None else classes.to(device)
        act = store["layer"]
        (grads,) = torch.autograd.grad(class_score(out, target).sum(), act)
        weights = grads.float().mean(dim=(2, 3), keepdim=True)  # pooled_grads: one weight per channel
        cam = F.relu((weights * act.float()).sum(dim=1))
    return GradCam(cam.detach().cpu(), probs.detach().cpu(), target.detach().cpu())


@dataclass
class TokenAttribution:
    """How much each token pushed the predicted class up (> 0) or down (< 0)."""

    scores: Tensor  # (B, L)
    probs: Tensor   # (B, classes)
    pred: Tensor    # (B,)


def token_attribution(net: nn.Module, embedding: nn.Module, ids: Tensor) -> TokenAttribution:
    """Gradient x input on the Embedding output, summed over the embedding axis: one number per token.

    For a Conv1D (or recurrent) text model this says which words drove a review's prediction; the
    gradient is that of the predicted class's score (a binary logit counts against class 0).
    """
    device = device_of(net)
    store: dict[str, Tensor] = {}
    with eval_mode(net), gradients(device), hooked({"embedding": embedding}, store, grad=True):
        out = net(ids.to(device).clone())  # a clone: ids captured during validation are inference tensors
        probs = class_probabilities(out)
        pred = probs.argmax(1)
        emb = store["embedding"]  # (B, L, D)
        (grads,) = torch.autograd.grad(class_score(out, pred).sum(), emb)
        scores = (grads.float() * emb.float()).sum(-1)
    return TokenAttribution(scores.detach().cpu(), probs.detach().cpu(), pred.detach().cpu())


def confusion_counts(target: Tensor, pred: Tensor, num_classes: int) -> Tensor:
    """(classes, classes) counts, rows = true class, columns = predicted class (scikit-learn's layout)."""
    flat = target.long().flatten() * num_classes + pred.long().flatten()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)
