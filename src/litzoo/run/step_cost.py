"""Two costs the process adds to every training step, which a run does not need, turned off while it fits.

- **Lightning's NVML check.** Importing Lightning sets `PYTORCH_NVML_BASED_CUDA_CHECK=1` for the process, so that
  `torch.cuda.is_available()` asks NVML instead of initialising CUDA, which a later `fork` would inherit. torch's
  optimizers ask before every step (RMSprop's and Adam's CUDA-graph capture check). Where `libnvidia-ml` cannot be
  loaded (a machine without an NVIDIA driver, running a CUDA build of torch), each ask is a failed search for the
  library, then the CUDA-runtime call the variable was meant to avoid. There the variable protects nothing, so it
  is unset while the run fits. Where NVML loads (any machine with a GPU), it is left as Lightning set it.
- **Full garbage collections mid-epoch.** A full collection walks every object the garbage collector tracks, and
  importing torch, Lightning and Hydra leaves hundreds of thousands. The objects a run creates (each step's
  pending metrics) set one off every so often, in the middle of an epoch, where it costs as much as a few hundred
  steps of a small network. Everything that exists when fitting starts (modules, configs, data, libraries) is in
  use until the run ends, so it is frozen (`gc.freeze`) and collections walk only what the fit creates. It is
  unfrozen afterwards. When something else froze objects already, the collector is left alone: its freeze is not
  ours to undo.

Both measured in docs/speed.md ("The third pass").
"""
from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from litzoo.run.environ import environ

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"  # the name torch.cuda loads for its NVML-based count


@cache
def nvml_loads() -> bool:
    """True when NVML's library can be loaded, as torch.cuda loads it."""
    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError:
        return False
    return True


@contextmanager
def lower_step_cost() -> Iterator[None]:
    """The block (a fit) runs without the two costs above; both are put back as they were afterwards."""
    unset = [NVML_CHECK] if os.environ.get(NVML_CHECK) == "1" and not nvml_loads() else []
    freeze = gc.get_freeze_count() == 0
    with environ({}, unset=unset):
        if freeze:
            gc.freeze()
        try:
            yield
        finally:
            if freeze:
                gc.unfreeze()
