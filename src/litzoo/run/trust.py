"""A config read from a file is data: what litzoo may build from it, checked before anything is imported.

Configs the user composes (the packaged groups, their own `hydra.searchpath`) are the user's code and are
built as written. A config that comes from a file someone else may have written (a checkpoint's stored
`config`/`config_unresolved`, and the configs of run and sweep folders) names code through `_target_`, and
`hydra.utils.instantiate` imports and calls whatever it names: `builtins.open` empties any file, `torch.load`
with `weights_only: false` unpickles anything. So every `_target_` of such a config, at every depth (nested
nodes, `_args_`, lists, interpolations that resolve to a node) must be on the list below, and it may use
only resolvers without side effects. Anything else is refused before a single target is imported; a user
who trusts the file allows more with LITZOO_ALLOW_TARGETS (or `--allow-target` of eval/visualize), never
with a key inside the file.

Buildable from a file:
- a class defined in litzoo's model, data, task, augmentation or callback modules, and every target the
  packaged configs name (the builders `litzoo.models.sequential.sequential`, ...);
- a class of `torch.nn` or `torch.optim` (schedulers included) and of `torchmetrics`;
- Lightning's Trainer and its callback, logger and strategy classes.
A target must be written `<module>.<Name>` with the class defined under one of those packages: a path that
walks through another object (`litzoo.run.checkpoint.torch.load`) is refused, although its prefix is ours.
"""
from __future__ import annotations

import fnmatch
import importlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from litzoo.errors import LitzooError
from litzoo.run.compose import CONF_DIR

ALLOW_ENV = "LITZOO_ALLOW_TARGETS"
# packages whose classes a file may name (the module part of the target and the class's own module)
CLASS_PACKAGES = (
    "litzoo.models", "litzoo.data", "litzoo.tasks", "litzoo.augment", "litzoo.callbacks",
    "torch.nn", "torch.optim", "torchmetrics",
    "pytorch_lightning.callbacks", "pytorch_lightning.loggers", "pytorch_lightning.strategies",
    "lightning.pytorch.callbacks", "lightning.pytorch.loggers", "lightning.pytorch.strategies",
)
TRAINERS = ("pytorch_lightning.Trainer", "pytorch_lightning.trainer.Trainer",
            "pytorch_lightning.trainer.trainer.Trainer", "lightning.pytorch.Trainer")
# resolvers without side effects (litzoo_run_dir, left out, creates folders)
# (oc.create and oc.decode are left out: they parse a string built at resolution time, whose own
# interpolations no scan of the file could see)
SAFE_RESOLVERS = ("oc.env", "oc.select", "oc.dict.keys", "oc.dict.values", "now", "hydra", "output_units",
                  "output_activation", "litzoo_window_shape", "litzoo_image_shape", "litzoo_vgg16_shape",
                  "litzoo_text_shape")
RESOLVER_USE = re.compile(r"\$\{\s*([^\s{}:]+)\s*:")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # an experiment name becomes a folder under logs/


class UntrustedConfig(LitzooError):
    """A config read from a file names something litzoo does not build from a file."""


@lru_cache(maxsize=1)
def packaged_targets() -> frozenset[str]:
    """Every `_target_` the packaged configs name: what litzoo itself builds, by construction."""
    found = set()
    for path in CONF_DIR.rglob("*.yaml"):
        found.update(re.findall(r"_target_:\s*([\w.]+)", path.read_text(encoding="utf-8")))
    return frozenset(found)


def user_allowed(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Patterns the user trusts (fnmatch): LITZOO_ALLOW_TARGETS=a.B,c.* plus command-line `--allow-target`."""
    env = [p.strip() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()]
    return env + list(extra)


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def why_refused(target: Any) -> str | None:
    """None when `target` is buildable from a file, else the reason. Imports only modules of the allowed
    packages, and only after the name itself passed."""
    if not isinstance(target, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", target):
        return "it is not a dotted Python name"
    if target in packaged_targets() or target in TRAINERS:
        return None
    module_name, _, name = target.rpartition(".")
    if not _within(module_name, CLASS_PACKAGES):
        return "it is outside the packages litzoo builds from a file"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"{module_name} is not a module of those packages"
    obj = getattr(module, name, None)
    if not isinstance(obj, type):
        return f"{name} is not a class defined in {module_name}"
    if not _within(getattr(obj, "__module__", ""), CLASS_PACKAGES):
        return f"it leads to {obj.__module__}.{obj.__qualname__}, outside the packages litzoo builds from a file"
    return None


def _targets(node: Any, key: str = "") -> list[tuple[str, Any]]:
    """(config key, target) of every `_target_` at any depth of a plain container."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        if "_target_" in node:
            found.append((f"{key}._target_" if key else "_target_", node["_target_"]))
        for k, v in node.items():
            found += _targets(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            found += _targets(v, f"{key}[{i}]")
    return found


def _resolver_uses(node: Any, key: str = "") -> list[tuple[str, str]]:
    """(config key, resolver name) of every `${name:...}` in the strings of a plain container."""
    if isinstance(node, dict):
        return [u for k, v in node.items() for u in _resolver_uses(v, f"{key}.{k}" if key else str(k))]
    if isinstance(node, (list, tuple)):
        return [u for i, v in enumerate(node) for u in _resolver_uses(v, f"{key}[{i}]")]
    return [(key, name) for name in RESOLVER_USE.findall(node)] if isinstance(node, str) else []


def _refusal(source: str | Path, key: str, what: str, why: str) -> UntrustedConfig:
    return UntrustedConfig(
        f"{source}: `{key}` names {what}, which litzoo does not build from a file ({why}). A checkpoint, run "
        "folder or sweep folder is data, not code: from it litzoo builds only its own models, data modules, "
        "tasks and callbacks, torch.nn/torch.optim and torchmetrics classes, and Lightning's Trainer, "
        "callbacks, loggers and strategies. Nothing was imported or run. If you trust this file and its "
        f"author, allow it for this command with {ALLOW_ENV}={what.strip('`')} (or --allow-target "
        f"{what.strip('`')} for litzoo-eval/litzoo-visualize); a key inside the file cannot allow it.")


def check_stored(raw: Any, source: str | Path, allow: list[str] | tuple[str, ...] = ()) -> None:
    """Refuse a stored config (plain container, unresolved) that uses a resolver with side effects, an
    experiment name that is not a plain folder name, or a target off the list; see the module docstring."""
    if not isinstance(raw, dict):
        raise UntrustedConfig(f"{source}: the stored config is a {type(raw).__name__}, not a mapping: "
                              "it was not written by litzoo. Nothing was run.")
    for key, name in _resolver_uses(raw):
        if name not in SAFE_RESOLVERS:
            raise _refusal(source, key, f"the resolver `{name}`", "it may act, not just compute a value")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not NAME.match(name) or ".." in name):
        raise UntrustedConfig(f"{source}: the stored experiment name {str(name)[:80]!r} is not a plain folder "
                              "name (letters, digits, '_', '-', '.'): runs live under logs/<name>/. Nothing was run.")
    _check_targets(raw, source, allow)


def _check_targets(container: Any, source: str | Path, allow: list[str] | tuple[str, ...]) -> None:
    patterns = user_allowed(allow)
    for key, target in _targets(container):
        if isinstance(target, str) and any(fnmatch.fnmatchcase(target, p) for p in patterns):
            continue
        why = why_refused(target)
        if why:
            raise _refusal(source, key, f"`{str(target)[:120]}`", why)


def ensure_buildable(cfg: DictConfig, source: str | Path, allow: list[str] | tuple[str, ...] = ()) -> None:
    """Check `cfg` (built from a file, overrides applied) as instantiate will see it: unresolved for its
    resolvers, then resolved, so an interpolation that turns into a node is checked as that node."""
    check_stored(OmegaConf.to_container(cfg, resolve=False), source, allow)
    _check_targets(OmegaConf.to_container(cfg, resolve=True), source, allow)
