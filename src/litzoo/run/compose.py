"""Composing configs: the packaged conf tree, litzoo's resolvers, and the one reading of `key=value` overrides.

The configs ship inside the package (`litzoo/conf`); the repository's top-level `conf/` and `experiments/`
are symlinks to them. Users add their own groups or experiments through Hydra's search path
(`hydra.searchpath=[file://configs]`, see docs/data.md). Imports neither Lightning nor the models, so
`litzoo-summary` and `--help` stay cheap.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _run_dir_resolver(runs_root: str) -> str:
    # LITZOO_RUN_DIR: the folder of a run whose DDP ranks re-execute the command (litzoo.run.ranks), so every
    # rank writes into it instead of a new timestamped run of its own. (A resume, `ckpt_path=...`, never
    # reaches Hydra's run dir: litzoo-train continues it with the checkpoint's own config, litzoo.run.resume.)
    import os

    from litzoo.run.resume import (
        new_run_dir,  # resume imports this module: imported on use
    )

    return os.environ.get("LITZOO_RUN_DIR") or str(new_run_dir(runs_root))


def register_resolvers() -> None:
    """`${litzoo_run_dir:root}` (hydra.run.dir): a new timestamped run folder under `root`, claimed."""
    if not OmegaConf.has_resolver("litzoo_run_dir"):
        OmegaConf.register_new_resolver("litzoo_run_dir", _run_dir_resolver, use_cache=True)
    __import__("litzoo.models.resolvers", fromlist=["register"]).register()  # ${output_units:..}, ${output_activation:..}
    __import__("litzoo.data.resolvers", fromlist=["register"]).register()  # ${litzoo_window_shape:..} etc.: input_shape


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The same config `litzoo-train` composes, without running Hydra's job machinery (tests, summary)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    # inside a Hydra job (a sweep re-run compares a job's settings) Hydra's own instance is set aside and put back
    outer = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="train", overrides=list(overrides or []))
    finally:
        if outer is not None:
            GlobalHydra.instance().initialize(outer)


def split_override(override: str) -> tuple[str, str]:
    """`key=value` as litzoo reads a Hydra override: (the key without its `+`, `++` or `~`, the value as
    written; '' for a bare `~key`). The one reading: resumes, sweeps, hparams and the sweep table ask it."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def override_key(override: str) -> str:
    return split_override(override)[0]


def merged_overrides(original: list[str], extra: list[str]) -> list[str]:
    """Overrides with `extra` replacing same-key entries of `original` (Hydra refuses a key twice)."""
    keys = {override_key(o) for o in extra}
    return [o for o in original if override_key(o) not in keys] + list(extra)
