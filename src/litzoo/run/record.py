"""The run record: `results.json`, strict JSON with a status, labelled best / test / last metrics.

Statuses: `running` (written when the run starts, so a run killed with -9 never looks finished), then
`ok`, `pruned` (an Optuna trial its pruner stopped, with `pruned_epoch`), `diverged`, `failed` or
`interrupted`; `unreadable` is what a reader reports for a record it cannot use.
Metrics are labelled by the model they come from: `best/*` (the epoch with the lowest finite `val/loss`, its
number in `best/epoch`), `test/*` (the best checkpoint, tested after fit) and `last/*` (the last completed
epoch). Epochs count from 1.

Every record litzoo reads (results.json, Hydra's YAML files) is input, not code: `read_results` and
`read_yaml` bound its size before reading, decode it strictly as UTF-8 and check its shape, and raise
`UnreadableRecord` (one line: the file and the reason) for anything else.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from litzoo.errors import LitzooError
from litzoo.run.atomic import atomic_write_text

FILENAME = "results.json"
STATUSES = ("running", "ok", "pruned", "diverged", "failed", "interrupted", "unreadable")
MAX_BYTES = 16 * 2**20  # a record is a few KiB: a file this large is not one of ours, and is never read whole


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


# The keys readers use, and the shape each must have in a record (others are carried along unread).
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "overrides": (lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v), "a list of strings"),
    "metrics": (lambda v: isinstance(v, dict) and all(map(_is_number, v.values())), "an object of numbers"),
    "resumes": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v), "a list of objects"),
    "best_checkpoint": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "classes": (lambda v: v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v)),
                "a list of strings or null"),
}
JSON_TYPES = {"list": "an array", "str": "a string", "int": "a number", "float": "a number", "bool": "a boolean",
              "NoneType": "null"}


class UnreadableRecord(LitzooError):
    """A record file that cannot be used; the message is one line: the file and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path} is unreadable: {reason}")


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def strict(obj: Any) -> Any:
    """NaN/Inf -> None everywhere, so the file is strict JSON any parser reads."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    """Atomic write of results.json (a reader never sees half a file; a full disk is a LitzooError naming it)."""
    atomic_write_text(Path(run_dir) / FILENAME, json.dumps(strict(results), indent=2, allow_nan=False) + "\n")


def read_text(path: Path, limit: int = MAX_BYTES) -> str | None:
    """A record file's text, None when it does not exist. Its size is checked with fstat before a byte is
    read (a sparse 2 GiB file is refused at once, not read whole), and it must decode strictly as UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO must not hang a plain open
    except FileNotFoundError:
        return None
    except OSError as err:
        raise UnreadableRecord(path, f"cannot be opened ({err.strerror or err})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        data = b""
    else:
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableRecord(path, "not a regular file")
    if info.st_size > limit or len(data) > limit:  # the second: it grew after fstat
        size = max(info.st_size, len(data))
        raise UnreadableRecord(path, f"{size / 2**20:,.1f} MiB, larger than the {limit / 2**20:g} MiB a record may be")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableRecord(path, f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The results.json of a run, None when absent; UnreadableRecord when it is not a JSON object of the
    record's shape (FIELDS)."""
    path = Path(run_dir) / FILENAME
    text = read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UnreadableRecord(path, f"not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise UnreadableRecord(path, "not a record (JSON nested too deeply)") from None
    if not isinstance(data, dict):
        raise UnreadableRecord(path, f"not a JSON object but {JSON_TYPES.get(type(data).__name__, 'a value')}")
    for key, (ok, expected) in FIELDS.items():
        if key in data and not ok(data[key]):
            raise UnreadableRecord(path, f"its {key!r} is {json.dumps(data[key])[:80]}, expected {expected}")
    return data


def record_or_unreadable(run_dir: Path) -> dict[str, Any]:
    """The record, {} when absent, or {'status': 'unreadable', 'error': 'results.json is unreadable: <reason>'}:
    for readers that go on with the other runs (a sweep's resume)."""
    try:
        return read_results(run_dir) or {}
    except UnreadableRecord as err:
        return {"status": "unreadable", "error": f"{FILENAME} is unreadable: {err.reason}"}


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """OmegaConf's own safe loader (duplicate keys refused, its float rules: what OmegaConf.load reads),
    refusing aliases too: nested `*a` references expand exponentially when OmegaConf copies them."""
    from omegaconf._utils import get_yaml_loader

    class RecordLoader(get_yaml_loader()):  # type: ignore[misc]
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted in a record",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)

    return RecordLoader


def read_yaml(path: Path) -> DictConfig | ListConfig | None:
    """A YAML record (Hydra's .hydra/*.yaml, multirun.yaml), None when absent; UnreadableRecord for a file over
    the size bound, not UTF-8, with a syntax error, a tag such as `!!python/object` (only plain YAML is
    constructed) or not a mapping or list."""
    path = Path(path)
    text = read_text(path)
    if text is None:
        return None
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a safe loader (SafeLoader subclass)
        if data is not None and not isinstance(data, (dict, list)):
            raise UnreadableRecord(path, f"a YAML {type(data).__name__}, not a mapping or a list")
        return OmegaConf.create(data if data is not None else {})
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        tag = re.search(r"constructor for the tag '([^']*)'", str(err.problem))
        problem = f"the tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is not allowed (plain YAML only)" \
            if tag else err.problem or err.context
        raise UnreadableRecord(path, f"YAML: {problem}{where}") from None
    except (yaml.YAMLError, OmegaConfBaseException, ValueError, TypeError) as err:
        raise UnreadableRecord(path, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from None
    except RecursionError:
        raise UnreadableRecord(path, "not a record (YAML nested too deeply)") from None


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first epoch with the lowest finite val_loss (what ModelCheckpoint(mode='min') keeps)."""
    finite = [r for r in rows if isinstance(r.get("val_loss"), float) and math.isfinite(r["val_loss"])]
    return min(finite, key=lambda r: r["val_loss"]) if finite else None


def labelled_metrics(rows: list[dict[str, Any]], test: dict[str, float]) -> dict[str, float]:
    """{'best/epoch', 'best/val_loss', ..., 'test/...', 'last/epoch', 'last/loss', 'last/val_loss', ...}."""
    out: dict[str, float] = {}
    skip = ("epoch", "lr", "seconds", "steps")
    best = best_row(rows)
    if best is not None:
        out["best/epoch"] = best["epoch"]
        out.update({f"best/{k}": v for k, v in best.items() if k not in skip})
    out.update(test)
    if rows:
        out["last/epoch"] = rows[-1]["epoch"]
        out.update({f"last/{k}": v for k, v in rows[-1].items() if k not in skip})
    return out


def write_failure(run_dir: Path, error: str, name: str | None = None, overrides: list[str] | None = None
                  ) -> dict[str, Any]:
    """The record of a run refused before it started (a bad value): status `failed` with the paragraph."""
    results = {"status": "failed", "error": error, "name": name, "run_dir": str(Path(run_dir).resolve()),
               "overrides": list(overrides or []), "metrics": {}, "epochs": 0, "finished": now()}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_results(run_dir, results)
    return results


def learning_warnings(metrics: dict[str, Any], num_classes: int | None) -> list[str]:
    """A classifier that ends at chance level learned nothing, although the run completed: say so, don't hide it.

    Flagged when the best validation accuracy and the last training accuracy both stay within a point or two
    of 1/num_classes (a model stuck on the majority class of an unbalanced set is not caught: no false alarms).
    """
    val, train = metrics.get("best/val_acc"), metrics.get("last/acc")
    if not num_classes or val is None:
        return []
    chance = 1.0 / max(int(num_classes), 2)
    if val > chance + 0.01 or (train is not None and train > chance + 0.02):
        return []
    seen = f"; training accuracy {train:.4f} in the last epoch" if train is not None else ""
    return [f"the network did not learn: the best validation accuracy was {val:.4f}, chance level for "
            f"{num_classes} classes is {chance:.4f}{seen}. Common causes: ReLU units that died early (a narrow "
            f"Dense layer), a learning rate far too high or too low, labels that do not match the inputs."]


def finish_record(run: dict[str, Any], before: dict[str, Any], seconds: float) -> None:
    """Close this session of the run: its time added to the run's total, its own status in its `resumes` entry.

    A resume of a finished `ok` run that is interrupted leaves the run `ok`, with the numbers it has (the test of
    the previous best checkpoint kept while that checkpoint is still the best); only the entry says `interrupted`.
    """
    run.update(finished=now(), session_seconds=round(seconds, 2),
               wall_seconds=round(seconds + (before.get("wall_seconds") or 0.0), 2))
    if not run["resumes"]:
        return
    run["resumes"][-1].update(status=run["status"], epochs=run["epochs"], seconds=run["session_seconds"])
    if run["status"] == "interrupted" and before.get("status") == "ok":
        kept = {k: v for k, v in before.get("metrics", {}).items() if k.startswith("test/")}
        same_best = run["best_checkpoint"] in (None, before.get("best_checkpoint"))
        run.update(status="ok", error=None, test_model=before.get("test_model") if same_best else None,
                   metrics={**run["metrics"], **(kept if same_best else {})})


def start_record(cfg: DictConfig, run_dir: Path, prov: dict[str, Any], ckpt: Path | None,
                resume_overrides: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the record at the start of a run, what the run's record said before this session). Status `running`;
    a resume keeps `started`, the `resumes` and, until new ones replace them, the numbers it had (a resume
    killed with -9 still shows its earlier results)."""
    try:
        previous = read_results(run_dir) or {}
    except UnreadableRecord as err:  # its `started` and `resumes` are lost: refuse rather than guess
        raise UnreadableRecord(err.path, f"{err.reason}. Move it away to start a new record in "
                                      f"{run_dir}; the run did not start") from None
    resumes = previous.get("resumes", [])
    if ckpt is not None:
        resumes.append({"time": now(), "checkpoint": str(ckpt), "overrides": list(resume_overrides or [])})
    run = {"status": "running", "error": None, "name": cfg.name, "run_dir": str(run_dir.resolve()),
           "overrides": prov["overrides"], "choices": prov["choices"], "seed": cfg.seed,
           "best_epoch": None, "best_checkpoint": None, "metrics": {}, "epochs": 0, "global_step": 0,
           "precision": None, "wall_seconds": None, "started": previous.get("started", now()),
           "finished": None, "resumes": resumes, "warnings": [], "test_model": None, "partial_epoch": None,
           "stopped_early": None}
    if ckpt is None:
        return run, {}
    carried = ("best_epoch", "best_checkpoint", "metrics", "epochs", "global_step", "test_model", "partial_epoch",
               "wall_seconds")
    run.update({k: previous[k] for k in carried if previous.get(k) is not None})
    return run, {k: previous.get(k) for k in ("status", "metrics", "best_checkpoint", "test_model", "wall_seconds")}
