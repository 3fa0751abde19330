"""Random-number state in the checkpoint, so a resumed run continues exactly where it stopped."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback


class RNGState(Callback):
    """Saves and restores Python, NumPy, torch (CPU and CUDA) RNG states with the checkpoint.

    Lightning restores weights, optimizer and loop counters but not the generators that drive dropout
    and augmentation; without them a resumed run diverges from an uninterrupted one. Everything is
    stored as tensors and plain Python values, so the checkpoint still loads with `weights_only=True`.
    """

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        state = {
            "python": random.getstate(),
            "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, a, b = state["python"]
        random.setstate((version, tuple(a), b))
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
