"""DDP ranks belong to their run: started as that run, stopped with it, their failure recorded as its failure.

Lightning's subprocess launcher (`strategy=ddp` on one node) re-executes the command line in ranks 1..N-1, and
its `_ChildProcessObserver` SIGKILLs the *main* process as soon as a rank exits non-zero. In a sweep that
killed the sweep: no table, the job's record left `running`, the later jobs never run, a rank left behind.
Inside `watched` the observer stops only the other ranks and remembers which rank ended how; rank 0 then fails
at its next collective (gloo raises at once: the peer's socket is closed), and the run's record names the rank
and its exit code: `failed`, or `interrupted` (resumable) when a signal killed the rank (out of memory, kill -9).
When the run ends, however it ends, no rank outlives it: the ones still alive are killed, and a rank whose
parent is killed with -9 dies with it (litzoo.run.signals.die_with_parent).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig

from litzoo.errors import LitzooError
from litzoo.run import record
from litzoo.run.environ import environ
from litzoo.run.signals import PARENT_ENV

RUN_DIR_ENV = "LITZOO_RUN_DIR"  # the run folder every DDP rank of a sweep job uses (config._run_dir_resolver)
DDP_ENV = (RUN_DIR_ENV, PARENT_ENV, "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE",
           "PL_GLOBAL_SEED")
EXIT_GRACE_S = 30  # after an ok run the ranks are finishing their own exit; then they are killed
LOST_PEER_GRACE_S = 5  # rank 0 sees the closed socket a moment before the rank's exit code is there
T = TypeVar("T")


@dataclass(frozen=True)
class RankExit:
    """A rank (1..N-1) that ended before its run did: its pid and exit code (negative: killed by that signal)."""

    rank: int
    pid: int
    code: int

    @property
    def killed(self) -> bool:
        return self.code < 0

    def describe(self) -> str:
        if self.killed:
            return (f"DDP rank {self.rank} (pid {self.pid}) was killed by {signal.Signals(-self.code).name} "
                    "(out of memory, or stopped from outside), so the run stopped; it can be resumed from its "
                    "last checkpoint")
        return (f"DDP rank {self.rank} (pid {self.pid}) exited with code {self.code} (its error is in train.log), "
                "so the run stopped")


class _Ranks:
    """The ranks one run started, shared between the run's thread and Lightning's observer thread."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.ended: RankExit | None = None
        self.closed = False
        self.lock = threading.Lock()

    def first_exit(self, wait_s: float = 0) -> RankExit | None:
        """The first rank that exited non-zero (waiting up to `wait_s` for ranks still alive)."""
        with self.lock:
            if self.ended is None:
                for rank, proc in enumerate(self.procs, start=1):
                    try:
                        code = proc.wait(timeout=wait_s) if wait_s else proc.poll()
                    except subprocess.TimeoutExpired:
                        continue
                    if code:
                        self.ended = RankExit(rank, proc.pid, code)
                        break
            return self.ended

    def stop(self, grace_s: float = 0) -> None:
        """Kill every rank still alive (after `grace_s` to end by itself), and reap them."""
        with self.lock:
            self.closed = True
        for proc in self.procs:
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def watched(run_dir: Path) -> Iterator[None]:
    """Run one training (any strategy) with its DDP ranks tied to it (see the module docstring)."""
    from lightning_fabric.strategies.launchers import subprocess_script as launcher

    ranks = _Ranks()

    class Observer(launcher._ChildProcessObserver):
        """Lightning's observer, minus the SIGKILL of the main process: the main records the failure."""

        def __init__(self, main_pid: int, child_processes: list[subprocess.Popen], sleep_period: int = 5) -> None:
            super().__init__(main_pid, child_processes, sleep_period)
            ranks.procs = child_processes

        def _terminate_all(self) -> None:
            if ranks.closed or ranks.first_exit() is None:
                return
            for proc in ranks.procs:  # the other ranks would wait in their next collective forever
                if proc.poll() is None:
                    proc.kill()

    saved = launcher._ChildProcessObserver
    launcher._ChildProcessObserver = Observer  # type: ignore[misc]
    grace = 0.0
    try:  # PARENT_ENV: a rank checks it, as its parent may be gone before it set PDEATHSIG
        with environ({PARENT_ENV: str(os.getpid())}):
            yield
        grace = EXIT_GRACE_S
    except Exception as err:
        ended = ranks.first_exit(LOST_PEER_GRACE_S if _lost_peer(err) else 0)
        if ended is not None and (ended.killed or _lost_peer(err)):
            ranks.stop()
            _record(run_dir, ended)
            raise LitzooError(ended.describe()) from err
        raise
    finally:
        ranks.stop(grace)
        launcher._ChildProcessObserver = saved  # type: ignore[misc]


def with_ranks(run_dir: str | Path, fn: Callable[[], T]) -> T:
    """fn() (a training) inside `watched(run_dir)`."""
    with watched(Path(run_dir)):
        return fn()


def _lost_peer(err: BaseException) -> bool:
    """What rank 0 raises when another rank is gone (a collective's error), not a failure of its own."""
    import torch.distributed as dist

    text = str(err)
    return isinstance(err, dist.DistError) or isinstance(err, RuntimeError) and any(
        word in text for word in ("gloo", "NCCL", "Connection closed by peer", "Connection reset by peer"))


def _record(run_dir: Path, ended: RankExit) -> None:
    """Put the rank's end into the record train wrote for this run (rank 0 only saw a closed connection)."""
    from litzoo.run.lock import is_rank_zero

    results = record.record_or_unreadable(run_dir)
    if not is_rank_zero() or results.get("status") in (None, "unreadable", "ok"):
        return
    results.update(status="interrupted" if ended.killed else "failed", error=ended.describe())
    record.write_results(run_dir, results)


@contextmanager
def sweep_job(cfg: DictConfig, overrides: list[str], run_dir: Path) -> Iterator[None]:
    """`watched`, for a sweep job. Lightning's DDP launcher re-executes sys.argv in every other rank: in a sweep
    that would start the whole multirun again. Make it this job as a single run in this job's folder
    (hydra.run.dir, which Lightning appends, resolves through RUN_DIR_ENV), whichever strategy chose DDP
    (`trainer.devices=2` alone does); afterwards drop the job's process group and the rank variables
    Lightning exported, or the next job would wait for ranks that have exited."""
    argv = sys.argv[:]
    sys.argv = [argv[0], *overrides, *([f"ckpt_path={cfg.ckpt_path}"] if cfg.get("ckpt_path") else [])]
    try:
        with environ({RUN_DIR_ENV: str(run_dir.resolve())}, restore=DDP_ENV), watched(run_dir):
            yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        sys.argv = argv
