"""LightningDataModules, one file per data source."""
from __future__ import annotations

from typing import Any

__all__ = ["CorruptFileError", "DatasetNotFoundError"]


def __getattr__(name: str) -> Any:
    # lazy: litzoo.run.resume imports litzoo.data.resolvers, and composing a config must not import Lightning
    if name in __all__:
        from litzoo.data import base

        return getattr(base, name)
    raise AttributeError(f"module 'litzoo.data' has no attribute {name!r}")
