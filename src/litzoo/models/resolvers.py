"""Resolvers that derive a classifier's output layer from the data: `${output_units:..}`, `${output_activation:..}`.

A seed written for two classes ends in `Dense(1, activation='sigmoid')` (binary_crossentropy). Its model
config says so in terms of the data::

    - {type: Dense, units: "${output_units:${data.num_classes}}",
       activation: "${output_activation:${data.num_classes}}"}

so the same model on a folder of 3 classes (`data.num_classes=3`) ends in `Dense(3, softmax)` with no layer
override, and keeps its one sigmoid unit on 2 classes. Seeds that end in `Dense(num_classes, softmax)` for
any number of classes (MNIST, ResNet50) simply say `units: ${data.num_classes}`. The resolved values are what
`litzoo-summary`, the run's config.yaml and the checkpoint record.
"""
from __future__ import annotations

from omegaconf import OmegaConf


def _classes(num_classes: int) -> int:
    n = int(num_classes)
    if n < 2:
        raise ValueError(f"data.num_classes must be >= 2 for a classifier's output layer, got {num_classes!r}")
    return n


def output_units(num_classes: int) -> int:
    """1 (one sigmoid unit, binary cross-entropy) for 2 classes, else one softmax unit per class."""
    n = _classes(num_classes)
    return 1 if n == 2 else n


def output_activation(num_classes: int) -> str:
    """'sigmoid' for 2 classes, else 'softmax' (the loss takes the logits: see litzoo.tasks)."""
    return "sigmoid" if _classes(num_classes) == 2 else "softmax"


def register() -> None:
    """Register the resolvers once (called by litzoo.run.resume.register_resolvers)."""
    for name, fn in (("output_units", output_units), ("output_activation", output_activation)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
