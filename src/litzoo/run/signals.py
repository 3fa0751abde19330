"""Stop signals end a run like Ctrl-C, and say which signal it was; DDP ranks never outlive their parent.

    install()              # in every litzoo-train process, first thing: SIGTERM -> Terminated
    stop_signal(err)       # 'SIGTERM' or 'SIGINT': for the record ("interrupted (SIGTERM)") and the exit code

SIGTERM is what SLURM sends at a job's time limit and what `kill` sends. Python's default would end the
process on the spot: no record, no table. Raised as `Terminated`, a KeyboardInterrupt, it takes the path
Ctrl-C takes (Lightning stops the other ranks; train records the run `interrupted`; the sweep writes its table).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_ENV = "LITZOO_PARENT_PID"  # set by litzoo.run.ranks for the ranks a job starts: one whose parent is gone exits


class Terminated(KeyboardInterrupt):
    """A stop signal other than Ctrl-C (SIGTERM), raised in the main thread; `signal_name` names it."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def install() -> None:
    """SIGTERM raises Terminated; a DDP rank that Lightning started (LOCAL_RANK > 0) dies with its parent."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    if int(os.environ.get("LOCAL_RANK") or 0) > 0:
        die_with_parent()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises Terminated inside the block, whoever handled it before (submitit's job processes let it
    pass, and SLURM kills them a little later without a record); their handler is put back afterwards."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def stops_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored inside, while an interrupt is being recorded (a second Ctrl-C, or submitit
    passing SIGINT after SIGTERM, must not cut the record short); the handlers are put back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {stop: signal.signal(stop, signal.SIG_IGN) for stop in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def die_with_parent() -> None:
    """Linux: the kernel SIGKILLs this process when its parent dies, however it dies (kill -9 included), so a
    rank never trains on alone; a parent that died before this line ran is caught by the pid check."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os._exit(128 + signal.SIGKILL)  # the parent is already gone: as if the kernel had killed us


def stop_signal(err: BaseException) -> str:
    """The signal behind an interrupt: a Terminated anywhere in its chain (Lightning turns Ctrl-C into
    SystemExit(1), train re-raises a KeyboardInterrupt from that) names it, else it was Ctrl-C (SIGINT)."""
    seen: set[int] = set()
    node: BaseException | None = err
    while node is not None and id(node) not in seen:
        if isinstance(node, Terminated):
            return node.signal_name
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return "SIGINT"


def exit_code(signal_name: str) -> int:
    """The shell's code for a process ended by that signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal.Signals[signal_name].value
