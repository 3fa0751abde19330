"""The one way litzoo writes a file: whole or not at all, and a full disk named where it is full.

The bytes go to a temporary file beside the target, are fsync'ed, and replace the target with one atomic
`os.replace`: a reader sees the old file or the new one, never half of one, and a failed write leaves
neither a truncated target nor the temporary file. Checkpoints, caches, run records and sweep tables all
come through here (no torch import: `litzoo-sweep` and the record readers stay cheap).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from litzoo.errors import LitzooError, disk_full_message, is_disk_full


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, fsync it, then os.replace it onto `path`. A full
    disk is a LitzooError naming `path` and the free space of its filesystem."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch reports a full disk as "enforce fail at inline_container.cc"
        if is_disk_full(err):
            raise LitzooError(disk_full_message(path, err, intact=True)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)  # only left behind if something above failed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8 into `path`, atomically (see atomic_write)."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
