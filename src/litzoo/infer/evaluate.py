"""`litzoo-eval`: a run's model on its own test split, or on any folder, with per-class accuracy and a record.

Which examples (`split=`, read by litzoo-eval itself, not a config key):
- `auto` (default): with `data.folder=<folder>` on the command line, that folder's `test/` if it has one, else its
  `validation/`, else ALL of it (a plain folder of class folders); without it, the run's own test split (the
  numbers training reported).
- `all`: every example of the data (all split folders of an image folder, every row of a CSV).
- `test`, `validation`, `train`: that split.
An image folder's classes are mapped onto the model's by name (litzoo.infer.classes). The result goes to
`eval_<name>.json` in the run folder, never over an earlier one (`_2`, `_3`, ...): the run's own records
(results.json, config.yaml, history.csv) are never touched.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from litzoo.errors import LitzooError
from litzoo.infer.runs import LoadedRun, free_path, load_run

SPLITS = {"auto": "auto", "all": "all", "test": "test", "validation": "val", "val": "val", "train": "train"}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise LitzooError(f"split={split!r} is not a split litzoo-eval knows; valid: auto (the default), all, test, "
                          "validation, train.")
    return SPLITS[split]


def eval_sets(run: LoadedRun, split: str, folder_given: bool) -> tuple[list[tuple[str, Any]], list[str], str]:
    """([(what, batch-indexed dataset)], warnings, the split actually taken)."""
    from litzoo.data.image_folder import ImageFolderDataModule
    from litzoo.infer.folders import image_sets

    if isinstance(run.datamodule, ImageFolderDataModule):
        return image_sets(run, split, folder_given)
    split = ("all" if folder_given else "test") if split == "auto" else split
    dm = run.datamodule
    dm.setup("test")
    if split == "all":
        unique = {id(ds): (name, ds) for name, ds in dm.datasets.items()}  # test may be validation's own object
        return [(f"{name} split", ds) for name, ds in unique.values()], list(dm.data_warnings), split
    return [(f"{split} split", dm.datasets[split])], list(dm.data_warnings), split


def scores(run: LoadedRun, out: Tensor, y: Tensor) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """({'test/loss', 'test/acc' or 'test/mae'}, per class {name: {'n', 'acc'}}): the whole set at once."""
    from litzoo.heads import class_probabilities

    loss, pred = run.task.loss_and_output(out, y)
    if not run.is_classifier:
        scale = float(run.datamodule.target_scale or 1.0)  # the MAE in the target's own units
        return {"test/loss": float(loss), "test/mae": float((pred - y).abs().mean()) * scale}, {}
    predicted = class_probabilities(out).argmax(dim=1)
    right = predicted == y
    per_class = {}
    for index, name in enumerate(run.class_names):
        mine = y == index
        per_class[name] = {"n": int(mine.sum()), "acc": float(right[mine].float().mean()) if mine.any() else None}
    return {"test/loss": float(loss), "test/acc": float(right.float().mean())}, per_class


def evaluate_run(path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = (),
                 split: str = "auto") -> dict[str, Any]:
    """The eval record (also written to the run folder); its `metrics` are what litzoo-eval prints."""
    from litzoo.run.compose import override_key

    split = check_split(split)
    overrides = list(overrides or [])
    run = load_run(path, overrides, allow)
    folder_given = any(override_key(o) == "data.folder" for o in overrides)
    sets, warnings, taken = eval_sets(run, split, folder_given)
    outs, labels = zip(*(run.outputs(ds) for _, ds in sets))
    if not sum(len(y) for y in labels):
        raise LitzooError(f"Nothing to evaluate: {', '.join(w for w, _ in sets)} hold(s) no examples.")
    metrics, per_class = scores(run, torch.cat(outs), torch.cat(labels))
    record = {"time": _now(), "run_dir": str(run.run_dir), "overrides": overrides, "split": taken,
              "data": [what for what, _ in sets], "size": int(sum(len(y) for y in labels)), "metrics": metrics,
              "per_class": per_class, "classes": run.class_names or None, "warnings": warnings}
    _report(record)
    record["file"] = str(_write(run, record, folder_given, taken))
    print(f"Wrote {record['file']}")
    return record


def _report(record: dict[str, Any]) -> None:
    shown = ", ".join(f"{k.split('/')[-1]} {v:.4f}" for k, v in record["metrics"].items())
    print(f"Evaluated {record['size']:,} examples ({'; '.join(record['data'])}): {shown}")
    if record["per_class"]:
        width = max(len(n) for n in record["per_class"])
        print("Per-class accuracy:")
        for name, row in record["per_class"].items():
            acc = "   n/a" if row["acc"] is None else f"{row['acc']:.4f}"
            print(f"  {name:<{width}}  {acc}  ({row['n']:,} examples)")


def _write(run: LoadedRun, record: dict[str, Any], folder_given: bool, split: str) -> Path:
    from litzoo.run.atomic import atomic_write_text
    from litzoo.run.record import strict

    folder = Path(str(run.cfg.data.get("folder") or "data")).name if folder_given else ""
    name = re.sub(r"[^\w.-]+", "_", f"{folder}_{split}" if folder else split)  # \w: non-ASCII letters stay
    path = free_path(run.run_dir / f"eval_{name}.json")
    atomic_write_text(path, json.dumps(strict(record), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def _now() -> str:
    from litzoo.run.record import now

    return now()
