"""One writer per run folder: an exclusive lock on `<run>/.litzoo-lock`, held while a process trains there.

    with run_lock(run_dir):   # RunLocked, one paragraph naming pid, host and since when, if another holds it
        ...
    holder(run_dir)           # 'pid N on HOST since T', or None when free: running vs killed in a sweep table

The lock is a POSIX record lock (`fcntl.lockf`, F_SETLK): the kernel releases it when its process dies, however
it dies, so a lock left by a killed process is free and simply taken over (its stale holder line overwritten).
The file stays, empty while nobody holds it. On NFS, NFSv4 and NFSv3 with lockd (NLM, the usual set-up of
SLURM clusters) honour these locks across hosts; a mount with `nolock` or `local_lock=all` locks within one
host only, and a filesystem that cannot lock at all (ENOLCK) gets a warning and no lock.

Pitfall: POSIX locks belong to the process, and closing *any* descriptor of the file drops all of the process's
locks on it. So the holding process opens the file once: a nested `run_lock` (a sweep job takes it, then
`train` again) or a `holder()` query on a folder it holds is answered from `_HELD`, never by an open and close.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from litzoo.errors import LitzooError

LOCK_FILE = ".litzoo-lock"
TRIES = 3  # holder() in another process holds a shared lock for microseconds: try again before refusing
BUSY = (errno.EACCES, errno.EAGAIN)  # what F_SETLK answers when another process holds a conflicting lock
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP)
_HELD: dict[Path, str] = {}  # resolved run folder -> this process's holder line


class RunLocked(LitzooError):
    """Another live process holds the run folder's lock; `holder` names it ('pid N on HOST since T')."""

    def __init__(self, run_dir: Path, holder: str) -> None:
        self.run_dir, self.holder = run_dir, holder
        super().__init__(
            f"{run_dir} is in use: {holder} holds its lock ({run_dir / LOCK_FILE}). Two processes training in "
            "one run folder would interleave history.csv and overwrite each other's checkpoints and "
            "results.json, so this one stopped before touching the run. Wait until that process ends (or stop "
            "it), then run again; a lock left by a killed process is released by the system and taken over.")


def is_rank_zero() -> bool:
    """Lightning's DDP re-executes the command in the other ranks (RANK / LOCAL_RANK / SLURM_PROCID set), in
    the same folder: only rank zero locks it."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _describe(line: str) -> str:
    who, _, since = line.strip().partition(" since ")
    pid, _, host = who.partition("@")
    if not (pid.isdigit() and host and since):
        return "another process (it has not written its pid yet)"
    return f"pid {pid} on {host} since {since}"


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock for the block (the folder is created if needed); RunLocked, before anything in the
    folder is touched, when another live process holds it. A no-op when this process already holds it and
    in DDP ranks other than zero."""
    from litzoo.run.record import now

    key = Path(run_dir).resolve()
    if key in _HELD or not is_rank_zero():
        yield
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, key)
        line = f"{os.getpid()}@{socket.gethostname()} since {now()}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, line.encode(), 0)
        os.fsync(fd)  # NFS: readers on other hosts see the holder line
        _HELD[key] = line
        yield
    finally:
        if _HELD.pop(key, None) is not None:
            os.ftruncate(fd, 0)  # free again: an empty file
        os.close(fd)  # releases the lock


def _acquire(fd: int, run_dir: Path) -> None:
    for _ in range(TRIES):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno in NO_LOCKS:
                print(f"Warning: {run_dir} is on a filesystem without file locks ({err.strerror}): nothing stops "
                      "a second process from training in the same run folder.", file=sys.stderr)
                return
            if err.errno not in BUSY:
                raise
        time.sleep(0.05)
    raise RunLocked(run_dir, _describe(os.pread(fd, 4096, 0).decode(errors="replace")))


def holder(run_dir: Path) -> str | None:
    """Who holds `run_dir`'s lock ('pid N on HOST since T'), None when it is free (never taken, or its process
    ended, killed or not). Asks the lock itself: valid across hosts, unlike probing a pid."""
    key = Path(run_dir).resolve()
    if key in _HELD:
        return _describe(_HELD[key])
    try:
        fd = os.open(key / LOCK_FILE, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts only with a holder's exclusive lock
        return None
    except OSError as err:
        return _describe(os.pread(fd, 4096, 0).decode(errors="replace")) if err.errno in BUSY else None
    finally:
        os.close(fd)
