"""The Trainer's profiler when the config asks for none (`trainer.profiler` unset)."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from pytorch_lightning.profilers import PassThroughProfiler

_NOTHING = nullcontext()  # reusable and reentrant


class NoProfiler(PassThroughProfiler):
    """Lightning's default profiler, which records nothing, minus the generator context it still opens around each
    of the ~40 hook calls of a step (docs/speed.md)."""

    def profile(self, action_name: str) -> AbstractContextManager:
        return _NOTHING
