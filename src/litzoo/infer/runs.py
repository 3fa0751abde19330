"""A finished run loaded for answers: its config, data module, network (eval mode, on the GPU when there is one),
the data facts stored in its checkpoint, and the one batch loop every command runs inputs through."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from litzoo.callbacks.data_facts import KEY
from litzoo.errors import LitzooError

MAX_NAMES = 1_000_000  # a vocabulary of a million words is already far beyond any litzoo source


@dataclass
class LoadedRun:
    cfg: DictConfig
    datamodule: Any
    task: Any
    facts: dict[str, Any]
    run_dir: Path
    device: torch.device

    @property
    def is_classifier(self) -> bool:
        from litzoo.tasks import ClassificationTask

        return isinstance(self.task, ClassificationTask)

    @property
    def class_names(self) -> list[str]:
        """The training order of the output units, as stored; for an older checkpoint what its config says."""
        return list(self.facts.get("class_names") or [])

    def outputs(self, dataset: Any, batch_size: int | None = None) -> tuple[Tensor, Tensor | None]:
        """(the network's outputs, the labels or None) for a batch-indexed dataset (`ds[index_tensor]` -> tuple),
        each batch through the data module's own device pipeline (to float, preprocess; never augmentation)."""
        size = batch_size or self.datamodule.eval_batch_size
        outs, labels = [], []
        with torch.inference_mode():
            for index in torch.arange(len(dataset)).split(size):
                x, *rest = self.datamodule.on_after_batch_transfer(
                    tuple(t.to(self.device) for t in dataset[index]), 0)
                outs.append(self.task(x).float().cpu())
                labels.extend(r.cpu() for r in rest[:1])
        if not outs:
            return torch.zeros(0), None
        return torch.cat(outs), torch.cat(labels) if labels else None


def stored_facts(state: dict[str, Any], source: Path) -> dict[str, Any]:
    """The checkpoint's `data_facts`, checked for shape (the file is data); {} for a checkpoint written before
    litzoo stored them."""
    facts = state.get(KEY)
    if facts is None:
        return {}
    problem = None
    if not isinstance(facts, dict):
        problem = "is not a mapping"
    else:
        for key in ("class_names", "vocabulary"):
            names = facts.get(key, [])
            if not (isinstance(names, list) and len(names) <= MAX_NAMES and all(isinstance(n, str) for n in names)):
                problem = f"has a {key!r} that is not a list of strings"
    if problem:
        raise LitzooError(f"{source}: its stored `{KEY}` {problem}: the file was not written by litzoo-train, or "
                          "was changed since. Nothing was run.")
    return facts


def pick_device(cfg: DictConfig) -> torch.device:
    """The GPU when there is one, unless the run's config asks for the CPU."""
    wants_cpu = str(cfg.trainer.get("accelerator", "auto")) == "cpu"
    return torch.device("cuda" if torch.cuda.is_available() and not wants_cpu else "cpu")


def load_run(path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = ()) -> LoadedRun:
    """The run of `path` (a run folder or a .ckpt), through litzoo.run.build.rebuild_run."""
    from litzoo.run.build import rebuild_run

    cfg, datamodule, task, state, run_dir = rebuild_run(path, overrides, allow)
    facts = stored_facts(state, Path(path))
    device = pick_device(cfg)
    run = LoadedRun(cfg, datamodule, task.eval().to(device), facts, Path(run_dir), device)
    if KEY not in state and run.is_classifier:
        run.facts = {**facts, "class_names": _configured_names(cfg, datamodule, task.num_classes)}
        print("Note: this checkpoint stores no class names (it was written before litzoo kept them); the class "
              f"order is taken as training took it: {', '.join(run.facts['class_names']) or 'from the folder names'}.")
    return run


def _configured_names(cfg: DictConfig, datamodule: Any, num_classes: int) -> list[str]:
    """An old checkpoint's class order: the config's `data.classes`, names a source fixes itself (IMDB's neg/pos),
    else none for a folder source (its sorted folder names decide, as in training) or the digits 0..n-1."""
    from litzoo.data.image_folder import ImageFolderDataModule
    from litzoo.visual.inputs import class_names

    if cfg.data.get("classes"):
        return [str(c) for c in cfg.data.classes]
    if isinstance(datamodule, ImageFolderDataModule):
        return []
    return class_names(datamodule, num_classes)


def free_path(path: Path) -> Path:
    """`path`, or `<stem>_2<suffix>`, `_3`, ... when it exists: never overwrite a result without being asked."""
    candidate, n = path, 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.stem}_{n}{path.suffix}"), n + 1
    return candidate
