"""Keras' `fit(class_weight=...)` as `task.class_weight`: each training sample's loss times its class's weight.

As in Keras, the weights apply to the training loss only (validation and test losses stay comparable across
runs), and the weighted losses are averaged over the batch, not over the weights' sum. `balanced` is
scikit-learn's rule, `n_samples / (n_classes * count)`, counted on the training split.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from litzoo.errors import LitzooError

HELP = ("task.class_weight takes null (none), balanced, a list of one weight per class in class order "
        "([1.0,5.0]), or a mapping from class index or name to weight ({0: 1.0, 1: 5.0}; classes left out weigh 1)")


def class_weights(setting: Any, num_classes: int, train_labels: Tensor | None,
                  class_names: Sequence[str] | None = None) -> Tensor | None:
    """The weight of each class (float32, class order) for `task.class_weight`, or None for none."""
    if setting is None:
        return None
    if setting == "balanced":
        return _balanced(num_classes, train_labels, class_names)
    if isinstance(setting, Mapping):
        weights = [1.0] * num_classes
        for key, weight in setting.items():
            weights[_class_index(key, num_classes, class_names)] = weight
    elif isinstance(setting, Sequence) and not isinstance(setting, str):
        if len(setting) != num_classes:
            raise LitzooError(f"task.class_weight has {len(setting)} weight(s) but the data has {num_classes} "
                              f"classes. {HELP}.")
        weights = list(setting)
    else:
        raise LitzooError(f"task.class_weight={setting!r} is not valid. {HELP}.")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
               for w in weights) or not any(weights):
        raise LitzooError(f"task.class_weight={list(weights)!r}: weights must be finite numbers >= 0, not all 0.")
    return torch.tensor(weights, dtype=torch.float32)


def _class_index(key: Any, num_classes: int, class_names: Sequence[str] | None) -> int:
    names = list(class_names or [])
    if isinstance(key, str) and key in names:
        return names.index(key)
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < num_classes:
        return key
    known = f"names {', '.join(names)} or " if names else ""
    raise LitzooError(f"task.class_weight names class {key!r}, which the data does not have (classes: "
                      f"{known}indices 0..{num_classes - 1}). {HELP}.")


def _balanced(num_classes: int, labels: Tensor | None, class_names: Sequence[str] | None) -> Tensor:
    if labels is None:
        raise LitzooError("task.class_weight=balanced counts the training labels, which this data source does not "
                          f"hold as a tensor; give the weights instead. {HELP}.")
    counts = torch.bincount(labels.long().flatten().cpu(), minlength=num_classes).float()
    if (empty := (counts == 0).nonzero().flatten().tolist()):
        names = [class_names[i] if class_names else str(i) for i in empty]
        raise LitzooError(f"task.class_weight=balanced: class(es) {', '.join(names)} have no training sample, so "
                          "their weight would be infinite. Give the weights as a list instead.")
    return counts.sum() / (num_classes * counts)
