"""Binary versus multiclass, read in one place: which loss a classifier's output layer takes and how its
outputs become class probabilities (training, predictions, pictures, exports and submissions ask here)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def class_probabilities(out: Tensor) -> Tensor:
    """Logits -> (B, classes) probabilities, the one reading of a classifier's output: one unit is a binary
    sigmoid (Keras' Dense(1, 'sigmoid')), N units a softmax. Predictions, pictures and submissions use it."""
    out = out.float().flatten(1)
    if out.shape[1] == 1:
        p = out[:, 0].sigmoid()
        return torch.stack([1 - p, p], dim=1)
    return out.softmax(dim=1)


def classification_kind(units: int, activation: str | None, num_classes: int) -> str:
    """'binary' (one sigmoid unit -> BCEWithLogits) or 'categorical' (N softmax units -> cross-entropy).

    The output layer's activation was left to the loss by the builder (`net.output_activation`); a
    linear output is taken as the logits of the same loss (DLwP 6.4's `Dense(1)` + binary_crossentropy).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if units == 1 and activation in ("sigmoid", None) and num_classes == 2:
        return "binary"
    if units == num_classes and activation in ("softmax", None):
        return "categorical"
    raise ValueError(f"the model ends in {units} {activation or 'linear'} unit(s) but the data has {num_classes} "
                     f"classes. Valid: 1 sigmoid unit for 2 classes (binary cross-entropy) or {num_classes} softmax "
                     "units (cross-entropy); write the output layer as units: ${output_units:${data.num_classes}}, "
                     "activation: ${output_activation:${data.num_classes}} to follow the data.")


def output_units(net: nn.Module) -> int:
    """The network's output units (its last dimension), as litzoo.models builds it."""
    shape = getattr(net, "output_shape", None)
    if shape is None:
        raise ValueError(f"{type(net).__name__} must expose `output_shape` (built by litzoo.models)")
    return int(shape[-1])
