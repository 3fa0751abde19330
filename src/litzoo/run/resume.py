"""Composing configs, resolvers, run directories and checkpoint resolution: one home for every entry point.

`litzoo-train`, `litzoo-eval`, `litzoo-visualize`, `litzoo-summary`, the tests and the benchmarks all
compose and locate runs through this module. It imports neither Lightning nor the models, so
`litzoo-summary` and `--help` stay cheap.

The configs ship inside the package (`litzoo/conf`); the repository's top-level `conf/` and
`experiments/` are symlinks to them, so a checkout reads as the design describes and a built wheel
carries every config. Users add their own groups or experiments from their project folder through
Hydra's search path (`hydra.searchpath=[file://configs]`, see docs/data.md).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litzoo.errors import LitzooError
from litzoo.run.compose import (
    compose_config,
    merged_overrides,
    override_key,
    register_resolvers,
    split_override,
)
from litzoo.run.runtime_keys import data_runtime_keys, is_runtime_key

RESUME_HELP = "ckpt_path takes 'last' (the newest run of this experiment), a run directory, or a .ckpt file"


def find_run_dir(runs_root: str | Path, ckpt_path: str) -> Path:
    """The run directory a resume writes into: the one holding the checkpoint (see RESUME_HELP)."""
    if ckpt_path == "last":
        candidates = sorted((p for p in Path(runs_root).glob("**/checkpoints/last.ckpt") if ".attempts" not in p.parts),
                            key=lambda p: p.stat().st_mtime)  # .attempts/: a sweep job's earlier, failed tries
        if not candidates:
            raise FileNotFoundError(f"ckpt_path=last: no run with checkpoints/last.ckpt under {runs_root}. {RESUME_HELP}")
        return candidates[-1].parent.parent
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return run_dir_of(path)
    raise FileNotFoundError(f"ckpt_path={ckpt_path!r} does not exist. {RESUME_HELP}")


def run_dir_of(ckpt_file: Path) -> Path:
    """The run folder of a checkpoint: the folder above its checkpoints/, else the folder it lies in."""
    return ckpt_file.parent.parent if ckpt_file.parent.name == "checkpoints" else ckpt_file.parent


def new_run_dir(runs_root: str | Path) -> Path:
    """A fresh timestamped run directory under `runs_root`, created here: `mkdir` is the atomic claim, so two
    runs started in the same second get `<time>` and `<time>_1` instead of sharing (and overwriting) one."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    Path(runs_root).mkdir(parents=True, exist_ok=True)
    path, n = Path(runs_root) / stamp, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, n = Path(runs_root) / f"{stamp}_{n}", n + 1


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
    """A .ckpt file, or a run directory -> its best checkpoint (results.json), else checkpoints/last.ckpt.

    Only files inside the run's own checkpoints/ are considered: the record names the best one, but a
    record is data, and an absolute path in it could point at another run's (or anyone's) file."""
    from litzoo.run import record

    path = Path(path).expanduser()
    if path.is_file():
        return path
    folder = path / "checkpoints"
    rec = record.record_or_unreadable(path)
    best = rec.get("best_checkpoint")
    best_name = Path(best).name if isinstance(best, str) and best else None
    if best_name and (folder / best_name).is_file():
        return folder / best_name
    last = folder / "last.ckpt"
    if last.is_file():
        if best_name or rec.get("status") == "unreadable":
            why = f"the best checkpoint {folder / best_name} is missing" if best_name else rec["error"]
            print(f"Note: {why}; using {last} (the last epoch) instead.")
        return last
    raise FileNotFoundError(f"no checkpoint at {path} (expected a .ckpt file or a run directory with checkpoints/)")


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], Path]:
    """(checkpoint dict, file) read as untrusted input (`weights_only=True`, CPU)."""
    import torch

    ckpt_file = checkpoint_file(path)
    return torch.load(ckpt_file, map_location="cpu", weights_only=True), ckpt_file


def check_stored_configs(state: Any, source: Path, allow: tuple[str, ...] = ()) -> dict[str, Any]:
    """The checkpoint's hyper_parameters, once both stored configs passed litzoo.run.trust's checks."""
    from litzoo.run.trust import check_stored

    hparams = state.get("hyper_parameters") if isinstance(state, dict) else None
    if not isinstance(hparams, dict) or not (hparams.get("config_unresolved") or hparams.get("config")):
        raise LitzooError(f"{source} holds no litzoo config (hyper_parameters.config): it was not written by "
                          "litzoo-train, so there is nothing to rebuild the model from.")
    for raw in (hparams.get("config"), hparams.get("config_unresolved")):
        if raw is not None:
            check_stored(raw, source, allow)
    return hparams


def check_resume_checkpoint(ckpt_file: Path) -> None:
    """Refuse to continue from a checkpoint whose stored config names code litzoo does not build from a file
    (a sweep job's last.ckpt, `train(cfg)` with ckpt_path): mapped, so its tensors are not read here."""
    import torch

    check_stored_configs(torch.load(ckpt_file, map_location="cpu", weights_only=True, mmap=True), ckpt_file)


def stored_config(state: dict[str, Any], run_dir: Path, source: Path, overrides: list[str] | None = None,
                  allow: tuple[str, ...] = ()) -> DictConfig:
    """The config a checkpoint was trained with, re-rooted in `run_dir`, with runtime `overrides` applied,
    refused unless everything it would build is on litzoo's list (litzoo.run.trust: the file is data).

    Checkpoints keep the unresolved config (`config_unresolved`), so `paths.data_dir=...` and
    `LITZOO_DATA` still reach every `${paths.data_dir}` interpolation; older ones only the resolved one.
    """
    from litzoo.run.trust import ensure_buildable

    register_resolvers()  # the unresolved config holds ${output_units:..}, ${litzoo_window_shape:..}, ...
    hparams = check_stored_configs(state, source, allow)
    cfg = OmegaConf.create(hparams.get("config_unresolved") or hparams["config"])
    OmegaConf.set_struct(cfg, False)
    cfg.paths.output_dir = str(run_dir)
    cfg.merge_with_dotlist(list(overrides or []))
    ensure_buildable(cfg, source, allow)
    return cfg


def changed_settings(before: list[str], now: list[str], run_dir: Path) -> tuple[list[str], list[str], dict, dict]:
    """(changed keys, the ones a continued run may not change, before, now): both complete override lists
    composed and compared key by key, the one engine for a resume and for a sweep re-run."""
    base, requested = _composed_flat(before, run_dir), _composed_flat(now, run_dir)
    changed = sorted(k for k in base.keys() | requested.keys() if base.get(k, "<absent>") != requested.get(k, "<absent>"))
    data_keys = data_runtime_keys(base.get("data._target_")) + data_runtime_keys(requested.get("data._target_"))
    return changed, [k for k in changed if not is_runtime_key(k, data_keys)], base, requested


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}"))
        return out if out or not prefix else {prefix: {}}
    return {prefix: node}


def _composed_flat(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    cfg = compose_config(overrides)
    cfg.paths.output_dir = str(run_dir)  # set here, not as an override: any path, even `run (1), #2'`, works
    return _flat(OmegaConf.to_container(cfg, resolve=True))


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _runs_root(user: list[str]) -> Path:
    """Where `ckpt_path=last` looks: the experiment's runs if `experiment=` is given, else every run."""
    cfg = compose_config([o for o in user if override_key(o).startswith(("paths.", "experiment"))])
    root = Path(cfg.paths.log_dir)
    return root / cfg.name if any(override_key(o) == "experiment" for o in user) else root


def _apply(cfg: DictConfig, keys: list[str], values: dict[str, Any]) -> DictConfig:
    """Set each changed key to its requested value; keys the request no longer has are removed."""
    for key in keys:
        if key in values:
            OmegaConf.update(cfg, key, values[key], merge=False, force_add=True)
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if isinstance(node, DictConfig) and leaf in node:
            node.pop(leaf)
    return cfg


def in_run_folder(ckpt_file: Path) -> bool:
    """True for a checkpoint inside a run's checkpoints/ (the run folder beside it holds its record)."""
    run_dir = run_dir_of(ckpt_file)
    return ckpt_file.parent.name == "checkpoints" and any(
        (run_dir / name).exists() for name in ("results.json", "config.yaml", ".hydra"))


def _stored_overrides(hparams: dict[str, Any], source: Path) -> list[str]:
    """The run's own command-line overrides as stored (a list of strings), without ckpt_path/hydra keys."""
    config = hparams.get("config") if isinstance(hparams.get("config"), dict) else {}
    name = config.get("name")
    stored = hparams.get("overrides") or ([f"experiment={name}"] if name else [])
    if not isinstance(stored, list) or not all(isinstance(o, str) for o in stored):
        raise LitzooError(f"{source}: the stored `overrides` are not a list of strings: the file was not written "
                          "by litzoo-train. Nothing was run.")
    return [o for o in stored if not override_key(o).startswith(("ckpt_path", "hydra"))]


def epochs_done(state: dict[str, Any]) -> int:
    """Completed epochs of a checkpoint: the epoch it was saved in counts when its last batch had run."""
    batches = ((state.get("loops") or {}).get("fit_loop") or {}).get("epoch_loop.batch_progress") or {}
    return int(state.get("epoch", -1)) + (1 if batches.get("is_last_batch", True) else 0)


def _check_something_to_train(cfg: DictConfig, state: dict[str, Any], run_dir: Path) -> None:
    """A resume that would train nothing is refused before it touches the run (its record stays as it is)."""
    done, step = epochs_done(state), int(state.get("global_step", 0))
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps") or -1
    if (max_epochs not in (None, -1) and done >= max_epochs) or 0 < max_steps <= step:
        limit = f"trainer.max_epochs={max_epochs}" if max_steps <= 0 or step < max_steps else f"trainer.max_steps={max_steps}"
        raise LitzooError(f"Nothing to train: the run {run_dir} already has {done} epoch(s) ({step} steps), and "
                          f"{limit} asks for no more. Give a larger value to continue it, e.g. "
                          f"trainer.max_epochs={done + 1 if done else 1}. Nothing was written.")


def resume_config(args: list[str]) -> tuple[DictConfig, dict[str, Any], list[str]]:
    """(config to resume with, provenance of the original run, the runtime overrides applied).

    The checkpoint's own config is the source of truth. `args` are the command line's overrides: each
    is composed against the run's original overrides, and any key it changes that is not a runtime key
    is refused, listing the differences, before anything in the run directory is touched. A checkpoint
    that is not inside a run's checkpoints/ (a loose file) continues in a new run folder of its experiment.
    """
    ckpt_arg = next(split_override(a)[1] for a in args if override_key(a) == "ckpt_path")
    user = [a for a in args if not a.startswith(("ckpt_path=", "hydra.", "-"))]
    run_dir = find_run_dir(_runs_root(user) if ckpt_arg == "last" else ".", ckpt_arg)
    ckpt_file = resolve_checkpoint(ckpt_arg if ckpt_arg != "last" else str(run_dir), run_dir)
    loose = not in_run_folder(ckpt_file)
    state, _ = load_checkpoint(ckpt_file)
    hparams = state.get("hyper_parameters") if isinstance(state.get("hyper_parameters"), dict) else {}
    original = _stored_overrides(hparams, ckpt_file)
    changed, refused, base, requested = changed_settings(original, merged_overrides(original, user), run_dir)
    if refused:
        shown = "; ".join(f"{k}: {_short(base.get(k, '<absent>'))} -> {_short(requested.get(k, '<absent>'))}"
                          for k in refused[:8])
        more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
        raise LitzooError(
            f"Cannot resume {run_dir} with {' '.join(user)}: it would change the run's {len(refused)} setting(s) "
            f"{shown}{more}. A resume continues the same experiment: only the training length, data location, "
            "devices and logging may change. Start a new run to change anything else. Nothing was written.")
    cfg = _apply(stored_config(state, run_dir, ckpt_file), changed, requested)
    cfg.ckpt_path = str(Path(ckpt_file).resolve())
    from litzoo.run.checks import validate_config

    validate_config(cfg)
    _check_something_to_train(cfg, state, run_dir)
    if loose:  # never write a record beside a file in any folder: a new run of its experiment continues it
        log_root = _runs_root([o for o in user if override_key(o).startswith("paths.")])
        cfg.paths.output_dir = str(new_run_dir(log_root / cfg.name / "runs"))
        print(f"{ckpt_file} is not inside a run's checkpoints/: continuing it in a new run folder, "
              f"{cfg.paths.output_dir}")
    print(f"Resuming {cfg.paths.output_dir} (experiment {cfg.name}) from {ckpt_file.name}: "
          f"{epochs_done(state)} epoch(s) done, step {state.get('global_step', 0)}"
          + (f"; changed: {' '.join(user)}" if user else ""), flush=True)
    return cfg, {"overrides": original, "choices": hparams.get("choices", {})}, user


