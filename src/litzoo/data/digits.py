"""scikit-learn's bundled handwritten digits (1,797 8x8 images), upscaled to 28x28: the default data.

It ships inside scikit-learn, so the default experiment trains with no network and no download, and
at 28x28x1 the seeds' MNIST convnet runs on it unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from litzoo.data.base import InMemoryDataModule


class DigitsDataModule(InMemoryDataModule):
    """sklearn.datasets.load_digits, scaled to [0, 1] and resized to `image_size` (bilinear)."""

    def __init__(self, test_fraction: float = 0.2, image_size: int = 28, **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; ten classes of image_size^2 grey pixels unless given."""
        super().__init__(**{"num_classes": 10, "input_shape": (1, image_size, image_size), **common})
        self.test_fraction, self.image_size = test_fraction, image_size

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        from sklearn.datasets import (
            load_digits,  # imported here: only this data source needs scikit-learn
        )

        digits = load_digits()
        x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8), pixel max is 16
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        y = torch.as_tensor(digits.target, dtype=torch.int64)
        # The bundled order groups writers together: one seeded shuffle, then a fixed held-out test set.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(1234))
        x, y = x[order].clamp_(0, 1), y[order]
        n_test = int(round(len(x) * self.test_fraction))
        return {"train": (x[:-n_test], y[:-n_test]), "test": (x[-n_test:], y[-n_test:])}
