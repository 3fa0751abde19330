"""The one rule of what a continued run (a resume, a sweep re-run) may change, asked by every caller.

Training length, devices, logging and the data's location may change; everything else would make it a different
experiment. The data keys are not listed here: each data source declares its own (`runtime_keys` of
litzoo.data.base.InMemoryDataModule), so a new source's `data.folder` is resumable without an entry in this file.
litzoo.run.resume (a resume), litzoo.sweep (a re-run) and litzoo.run.hparams (what tells runs apart) ask it.
"""
from __future__ import annotations

from typing import Any

# Where a run lives and how it is watched: never a hyperparameter either (litzoo.run.hparams).
WHERE_AND_WATCH = ("paths.", "logger", "callbacks.", "verbose", "test", "ckpt_path", "objective", "hydra.")
RUNTIME_KEYS = (
    "trainer.max_epochs", "trainer.max_steps", "trainer.max_time", "trainer.min_epochs", "trainer.min_steps",
    "trainer.limit_", "trainer.accelerator", "trainer.devices", "trainer.num_nodes", "trainer.strategy",
    "trainer.precision", "trainer.log_every_n_steps", "trainer.enable_progress_bar", "trainer.use_distributed_sampler",
    *WHERE_AND_WATCH,
)
STATEFUL_CALLBACKS = ("callbacks.model_checkpoint", "callbacks.last_checkpoint", "callbacks.rng_state",
                      "callbacks.finetune", "callbacks.early_stopping")


def data_runtime_keys(data_target: Any) -> tuple[str, ...]:
    """`data.<key>` for each key the config's data source declares resumable (its `runtime_keys`)."""
    from hydra.utils import get_class

    from litzoo.data.base import InMemoryDataModule

    try:
        source = get_class(data_target) if isinstance(data_target, str) else None
    except Exception:  # noqa: BLE001 - an unknown class declares nothing
        return ()
    keys = source.runtime_keys if isinstance(source, type) and issubclass(source, InMemoryDataModule) else ()
    return tuple(f"data.{k}" for k in keys)


def is_runtime_key(key: str, data_keys: tuple[str, ...] = ()) -> bool:
    """True for config keys a continued run may change (RUNTIME_KEYS, plus the data source's `data_keys`)."""
    if key.startswith(STATEFUL_CALLBACKS):
        return False
    return any(key == p or key.startswith(p if p.endswith((".", "_")) else p + ".") or
               (p.endswith("_") and key.startswith(p)) for p in RUNTIME_KEYS + data_keys)
