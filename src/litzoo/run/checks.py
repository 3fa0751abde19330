"""Bad values fail early and plainly: config checks before anything is written, and `explain(error)`.

Each message names the key and the value received and says what is valid, in one paragraph.
"""
from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationKeyError, OmegaConfBaseException

from litzoo.errors import LitzooError, disk_full_message, is_disk_full
from litzoo.run.compose import CONF_DIR


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _limit(v: Any) -> bool:  # Lightning's limit_*_batches: a fraction in (0, 1] or a count
    return v is None or (isinstance(v, float) and 0 < v <= 1) or _int_at_least(0)(v)


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "trainer.max_epochs": (lambda v: v is None or v == -1 or _int_at_least(1)(v), "an integer >= 1 (or -1: no limit)"),
    "trainer.max_steps": (lambda v: v is None or v == -1 or _int_at_least(1)(v), "an integer >= 1 (or -1: no limit)"),
    "trainer.log_every_n_steps": (_int_at_least(1), "an integer >= 1"),
    "trainer.check_val_every_n_epoch": (lambda v: v is None or _int_at_least(1)(v), "an integer >= 1"),
    "trainer.limit_train_batches": (_limit, "a fraction in (0, 1] or a number of batches"),
    "trainer.limit_val_batches": (_limit, "a fraction in (0, 1] or a number of batches"),
    "trainer.limit_test_batches": (_limit, "a fraction in (0, 1] or a number of batches"),
    "data.batch_size": (_int_at_least(1), "an integer >= 1"),
    "data.num_classes": (_int_at_least(2), "an integer >= 2"),
    "optimizer.lr": (_positive_number, "a number > 0, e.g. 1e-3"),
    "seed": (lambda v: _int_at_least(0)(v), "an integer >= 0"),
    "trainer.strategy": (lambda v: not (isinstance(v, str) and any(w in v for w in ("spawn", "fork", "notebook"))),
                         "ddp, or another strategy that re-runs the command in each rank: ddp_spawn, ddp_fork and "
                         "ddp_notebook train in worker processes whose epoch history never reaches the run record "
                         "(it would say 0 epochs and no best epoch); trainer.strategy=ddp is the same DDP"),
}


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except InterpolationKeyError as err:
        raise LitzooError(_missing_key_message(cfg, err)) from None


def _missing_key_message(cfg: DictConfig, err: InterpolationKeyError) -> str:
    """E.g. model=imdb_lstm on digits: the model reads `data.num_words`, which the digits data lacks."""
    match = re.search(r"Interpolation key '([^']+)' not found", str(err))
    key = match.group(1) if match else "?"
    where = getattr(err, "full_key", "") or "?"
    group = key.split(".", 1)[0]
    folder = CONF_DIR / group
    leaf = key.split(".")[-1]
    having = sorted(p.stem for p in folder.glob("*.yaml") if re.search(rf"^{re.escape(leaf)}:", p.read_text(), re.M))
    hint = f" Options of `{group}` that define it: {', '.join(having)}." if having else ""
    return (f"`{where}` refers to `{key}`, which the composed config does not have: the parts do not fit "
            f"together (for example a text model on image data).{hint} Choose a matching `{group}=...` "
            "or an experiment that sets both (litzoo-train experiment=<name>).")


def _lookup(container: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = container
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def validate_config(cfg: DictConfig) -> None:
    """Resolve the config and check the values litzoo knows; raise LitzooError naming the first bad one."""
    container = _resolved(cfg)
    for key, (ok, expected) in CHECKS.items():
        present, value = _lookup(container, key)
        if present and not ok(value):
            raise LitzooError(f"{key}={value!r} is not valid: expected {expected}.")
    _check_root_dir(cfg, container)


def _check_root_dir(cfg: DictConfig, container: dict[str, Any]) -> None:
    """Lightning's `default_root_dir` is the run folder, which litzoo chooses (results, checkpoints, TensorBoard
    and train.log together): another value would move nothing, so it is refused rather than ignored."""
    _, value = _lookup(container, "trainer.default_root_dir")
    _, output_dir = _lookup(container, "paths.output_dir")
    if value is None or OmegaConf.to_container(cfg.trainer, resolve=False)["default_root_dir"] == "${paths.output_dir}":
        return
    if Path(str(value)).expanduser().resolve() == Path(str(output_dir)).resolve():  # a resolved config (resume)
        return
    raise LitzooError(f"trainer.default_root_dir={value!r} is Lightning's, and litzoo does not read it: every run "
                      "gets its own folder, <paths.log_dir>/<name>/runs/<time>, for its record, checkpoints, "
                      "TensorBoard events and train.log. Choose where runs go with paths.log_dir=<folder> (or "
                      "paths.root_dir=<folder> for logs, data and caches together).")


def known_top_level_keys() -> set[str]:
    """The top-level keys of conf/train.yaml: its own and one per config group of its defaults."""
    import yaml

    train = yaml.safe_load((CONF_DIR / "train.yaml").read_text())
    groups = {next(iter(d)).removeprefix("optional ").removeprefix("override ").split("/")[0]
              for d in train.get("defaults", []) if isinstance(d, dict)}
    return groups | (set(train) - {"defaults"})


def unread_keys(cfg: DictConfig) -> list[str]:
    """Top-level keys that nothing reads (`+initial_epoch=3`: a key a Keras or Lightning user would expect)."""
    return sorted(set(cfg) - known_top_level_keys())


def explain(err: BaseException) -> str:
    """One paragraph for a failure: the message of errors litzoo raises on purpose, a plain rewording of
    known low-level ones (full disk, permissions), else the exception's type and first line."""
    if is_disk_full(err):
        return disk_full_message(getattr(err, "filename", None), err)
    if isinstance(err, (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError)) or (
            isinstance(err, OSError) and err.errno == errno.EROFS):
        return (f"Cannot write {err.filename}: {err.strerror or err}. Choose a writable folder with "
                "paths.log_dir=<folder> (runs) or paths.cache_dir=<folder> (caches).")
    if isinstance(err, OmegaConfBaseException):
        return f"Configuration error: {str(err).splitlines()[0]}"
    if type(err).__name__ == "InstantiationException" and err.__cause__ is not None:  # hydra's wrapper: the cause
        key = re.search(r"full_key: (\S+)", str(err))                                 # names the bad value
        return f"`{key.group(1)}` cannot be built: {explain(err.__cause__)}" if key else explain(err.__cause__)
    text = str(err).strip() or type(err).__name__
    if isinstance(err, (LitzooError, FileNotFoundError, ValueError, TypeError)):
        return text
    return (f"{type(err).__name__}: {text.splitlines()[0][:500]} (the full traceback: verbose=true or "
            "HYDRA_FULL_ERROR=1)")


def ensure_writable(folder: str | Path) -> None:
    """Create the log root if needed; a folder that cannot be made or written is a LitzooError."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".litzoo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise LitzooError(f"The log folder {path} cannot be written ({err.strerror or err}): every run writes its "
                          "record there. Choose another with paths.log_dir=<folder> (or paths.root_dir=<folder>).") from None


