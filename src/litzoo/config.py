"""Composing configs, resolvers, run directories and checkpoint resolution: one home for every entry point.

`litzoo-train`, `litzoo-eval`, `litzoo-visualize`, `litzoo-summary`, the tests and the benchmarks all
compose and locate runs through this module. It imports neither Lightning nor the models, so
`litzoo-summary` and `--help` stay cheap.

The configs ship inside the package (`litzoo/conf`); the repository's top-level `conf/` and
`experiments/` are symlinks to them, so a checkout reads as the design describes and a built wheel
carries every config. Users add their own groups or experiments from their project folder through
Hydra's search path (`hydra.searchpath=[file://configs]`, see the README).
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent / "conf"
RESUME_HELP = "ckpt_path takes 'last' (the newest run of this experiment), a run directory, or a .ckpt file"


def find_run_dir(runs_root: str | Path, ckpt_path: str) -> Path:
    """The run directory a resume writes into: the one holding the checkpoint (see RESUME_HELP)."""
    if ckpt_path == "last":
        candidates = sorted(Path(runs_root).glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise FileNotFoundError(f"ckpt_path=last: no run with checkpoints/last.ckpt under {runs_root}. {RESUME_HELP}")
        return candidates[-1].parent.parent
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    raise FileNotFoundError(f"ckpt_path={ckpt_path!r} does not exist. {RESUME_HELP}")


def new_run_dir(runs_root: str | Path) -> Path:
    """A fresh timestamped run directory under `runs_root` (not created)."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    path, n = Path(runs_root) / stamp, 1
    while path.exists():
        path, n = Path(runs_root) / f"{stamp}_{n}", n + 1
    return path


def _run_dir_resolver(runs_root: str, ckpt_path: str | None) -> str:
    return str(find_run_dir(runs_root, ckpt_path) if ckpt_path else new_run_dir(runs_root))


def register_resolvers() -> None:
    """`${litzoo_run_dir:root,ckpt}` (hydra.run.dir): a new timestamped run, or the run being resumed."""
    if not OmegaConf.has_resolver("litzoo_run_dir"):
        OmegaConf.register_new_resolver("litzoo_run_dir", _run_dir_resolver, use_cache=True)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The same config `litzoo-train` composes, without running Hydra's job machinery (tests, summary)."""
    from hydra import compose, initialize_config_dir

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides or []))


def resolve_checkpoint(ckpt_path: str | None, run_dir: Path) -> Path | None:
    """The .ckpt file to resume from: `last`/a run directory -> its checkpoints/last.ckpt."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path).expanduser()
    if path.is_file():
        return path
    ckpt = (path if path.is_dir() else run_dir) / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"cannot resume: {ckpt} does not exist. {RESUME_HELP}")
    return ckpt


def checkpoint_file(path: str | Path) -> Path:
    """A .ckpt file, or a run directory -> its best checkpoint (results.json), else checkpoints/last.ckpt."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    results = path / "results.json"
    if results.is_file():
        best = json.loads(results.read_text()).get("best_checkpoint")
        if best:  # stored absolute; a moved run keeps the same file name under its own checkpoints/
            for candidate in (Path(best), path / "checkpoints" / Path(best).name):
                if candidate.is_file():
                    return candidate
    last = path / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    raise FileNotFoundError(f"no checkpoint at {path} (expected a .ckpt file or a run directory with checkpoints/)")


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], Path]:
    """(checkpoint dict, file) read as untrusted input (`weights_only=True`, CPU)."""
    import torch

    ckpt_file = checkpoint_file(path)
    return torch.load(ckpt_file, map_location="cpu", weights_only=True), ckpt_file


def stored_config(state: dict[str, Any], run_dir: Path, overrides: list[str] | None = None) -> DictConfig:
    """The config a checkpoint was trained with, re-rooted in `run_dir`, with runtime `overrides` applied.

    Checkpoints keep the unresolved config (`config_unresolved`), so `paths.data_dir=...` and
    `LITZOO_DATA` still reach every `${paths.data_dir}` interpolation; older ones only the resolved one.
    """
    hparams = state.get("hyper_parameters", {})
    raw = hparams.get("config_unresolved") or hparams["config"]
    cfg = OmegaConf.create(raw)
    OmegaConf.set_struct(cfg, False)
    cfg.paths.output_dir = str(run_dir)
    cfg.merge_with_dotlist(list(overrides or []))
    return cfg
