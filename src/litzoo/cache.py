"""The one on-disk cache helper (image folders, VGG16 features, IMDB tokens): atomic writes, checked reads.

An entry is written to a temporary file beside its target, fsync'ed and moved into place with one
`os.replace`, so a run killed mid-write leaves the old entry or none, never half of one. Every entry
stores the metadata it was built from (format version, settings); a read that fails for any reason
(truncated, not a cache file, another version or settings) names the file in a `CacheWarning`,
deletes it and returns None, and the caller rebuilds the entry.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from litzoo.run.checkpoint import atomic_torch_save, atomic_write

VERSION = 2  # bump when the layout of any entry changes: older entries are then stale and rebuilt


class CacheWarning(UserWarning):
    """A cache entry could not be used and is being rebuilt; the message names the file."""


def _meta(meta: Mapping[str, Any]) -> str:
    return json.dumps({"version": VERSION, **meta}, sort_keys=True, default=str)


def _discard(path: Path, reason: str) -> None:
    warnings.warn(f"cache file {path} {reason}; deleting it and rebuilding the entry", CacheWarning, stacklevel=4)
    path.unlink(missing_ok=True)


def _checked(path: Path, meta: Mapping[str, Any], read: Callable[[Path], tuple[str, Any]]) -> Any | None:
    if not path.is_file():
        return None
    try:
        stored, data = read(path)
    # A cache is disposable: whatever makes it unreadable (truncation: RuntimeError/OSError/EOFError from
    # torch, BadZipFile from numpy; a foreign file: UnpicklingError, KeyError) means "rebuild it".
    except Exception as err:  # noqa: BLE001
        first_line = (str(err).splitlines() or [""])[0][:200]
        _discard(path, f"is unreadable ({type(err).__name__}: {first_line})")
        return None
    if stored != _meta(meta):
        _discard(path, "is stale (written by another version or with other settings)")
        return None
    return data


def load_torch(path: Path, meta: Mapping[str, Any]) -> Any | None:
    """The payload saved by `save_torch(path, meta, ...)` (tensors, lists, dicts), or None when absent/unusable."""
    def read(p: Path) -> tuple[str, Any]:
        entry = torch.load(p, map_location="cpu", weights_only=True)
        return (entry.get("meta", ""), entry.get("data")) if isinstance(entry, dict) else ("", None)

    return _checked(path, meta, read)


def save_torch(path: Path, meta: Mapping[str, Any], data: Any) -> None:
    """Atomically store `data` (anything `torch.load(weights_only=True)` reads back) with its metadata."""
    atomic_torch_save({"meta": _meta(meta), "data": data}, path)


def load_arrays(path: Path, meta: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays saved by `save_arrays(path, meta, ...)`, read fully into memory, or None when absent/unusable."""
    def read(p: Path) -> tuple[str, dict[str, np.ndarray]]:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return str(arrays.pop("__meta__", "")), arrays

    return _checked(path, meta, read)


def save_arrays(path: Path, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Atomically store numpy arrays (an .npz) with their metadata."""
    atomic_write(path, lambda f: np.savez(f, __meta__=np.array(_meta(meta)), **arrays))
