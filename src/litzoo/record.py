"""The run record: `results.json`, strict JSON with a status, labelled best / test / last metrics.

Statuses: `running` (written when the run starts, so a run killed with -9 never looks finished), then
`ok`, `diverged`, `failed` or `interrupted`. Metrics are labelled by the model they come from:
`best/*` (the epoch with the lowest finite `val/loss`, its number in `best/epoch`), `test/*` (the best
checkpoint, tested after fit) and `last/*` (the last completed epoch). Epochs count from 1.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

FILENAME = "results.json"
STATUSES = ("running", "ok", "diverged", "failed", "interrupted")


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
    """Atomic write of results.json (a reader never sees half a file)."""
    path = Path(run_dir) / FILENAME
    tmp = path.with_name(f".{FILENAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(strict(results), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def read_results(run_dir: Path) -> dict[str, Any] | None:
    """The results.json of a run, or None when absent or unreadable."""
    try:
        return json.loads((Path(run_dir) / FILENAME).read_text())
    except (OSError, ValueError):
        return None


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first epoch with the lowest finite val_loss (what ModelCheckpoint(mode='min') keeps)."""
    finite = [r for r in rows if isinstance(r.get("val_loss"), float) and math.isfinite(r["val_loss"])]
    return min(finite, key=lambda r: r["val_loss"]) if finite else None


def labelled_metrics(rows: list[dict[str, Any]], test: dict[str, float]) -> dict[str, float]:
    """{'best/epoch', 'best/val_loss', ..., 'test/...', 'last/epoch', 'last/loss', 'last/val_loss', ...}."""
    out: dict[str, float] = {}
    skip = ("epoch", "lr", "seconds")
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
