"""Checkpoint I/O that can never leave a half-written file, and loads untrusted files safely.

Lightning's own save goes through fsspec: a temporary file in the system temp dir, then `shutil.move`,
which is a plain copy when /tmp is another filesystem (tmpfs), so a crash mid-copy can truncate
`last.ckpt`. Here the bytes go to a temporary file beside the target, are fsync'ed, and replace the
target with one atomic `os.replace`: the old checkpoint stays intact until the new one is complete.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from litzoo.errors import LitzooError, disk_full_message, is_disk_full


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, fsync it, then os.replace it onto `path`: a
    reader sees the old file or the new one, never half of one (checkpoints, caches)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch reports a full disk as "enforce fail at inline_container.cc"
        if is_disk_full(err):
            raise LitzooError(disk_full_message(path, err)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)  # only left behind if something above failed


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
