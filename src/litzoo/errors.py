"""Errors a user can act on: one paragraph naming the bad value or file and what is valid.

`litzoo-train`, `litzoo-eval` and `litzoo-visualize` print `explain(error)` instead of a traceback
(the traceback comes back with `verbose=true` or `HYDRA_FULL_ERROR=1`).
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class LitzooError(Exception):
    """A user-facing error whose message is the whole explanation."""


class DivergedError(LitzooError):
    """The loss became NaN or infinite: the run stopped and is recorded as `diverged`."""


def diverged_message(what: str, value: float, epoch: int, step: int, lr: float | None,
                     last_checkpoint: bool = True) -> str:
    """The paragraph for a non-finite loss (epoch from 1); `last_checkpoint`: whether last.ckpt exists yet."""
    lr_text = f" (learning rate {lr:g})" if lr is not None else ""
    kept = ("checkpoints/last.ckpt still holds the last finite epoch; " if last_checkpoint else
            "no epoch had completed, so there is no checkpoint to resume from; ")
    return (f"The {what} became {value} at epoch {epoch}, step {step}: the run diverged and was stopped. "
            f"The most likely cause is a learning rate that is too high{lr_text}: lower optimizer.lr by 10x. "
            "Other causes: inputs that are not scaled (NaN/Inf or huge values in the data), or a loss that "
            f"does not match the output layer. {kept}no checkpoint of the diverged model was kept or tested.")


def disk_full_message(path: str | Path | None, err: BaseException, intact: bool = False) -> str:
    """The paragraph for a write that failed for lack of space (torch reports it as a RuntimeError): the file,
    and the free space and mount point of the filesystem that holds it (not of the working folder);
    `intact`: the write was atomic (litzoo.run.atomic), so the file is as it was before."""
    if path is None:
        return (f"Could not write a file: the disk is full. Free some space or point the runs elsewhere with "
                f"paths.log_dir=<folder>. ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:  # the folder may not have been made yet
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:,.0f} MiB free"
    except OSError:
        free = "free space unknown"
    mount = folder
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    kept = f"{Path(path).name} is as it was (no half-written file is left). " if intact else ""
    return (f"Could not write {path}: the disk is full ({free} on the filesystem mounted at {mount}). {kept}"
            "Free some space or point the runs elsewhere with paths.log_dir=<folder>. "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]})")


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC, or torch's serializer failing to write (its message names no errno)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("file write failed" in text or "inline_container" in text)
