"""Checkpoint I/O that can never leave a half-written file, and loads untrusted files safely.

Lightning's own save goes through fsspec: a temporary file in the system temp dir, then `shutil.move`,
which is a plain copy when /tmp is another filesystem (tmpfs), so a crash mid-copy can truncate
`last.ckpt`. Here saves go through litzoo.run.atomic: the old checkpoint stays intact until the new one is complete.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from litzoo.run.atomic import atomic_write


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to `path` atomically (see atomic_write)."""
    atomic_write(path, lambda f: torch.save(obj, f))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO plugin: atomic saves; loads with `weights_only=True` unless told otherwise."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options, got {storage_options!r}")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = lambda storage, loc: storage,
                        weights_only: bool | None = True) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only is not False)
