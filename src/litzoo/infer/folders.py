"""Image folders evaluated: which folder a `split=` means, and its classes mapped by name onto the model's."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from litzoo.data.base import DatasetNotFoundError, TensorBatches
from litzoo.data.image_folder import SPLIT_FOLDERS, load_folder
from litzoo.errors import LitzooError
from litzoo.infer.classes import match_classes
from litzoo.infer.runs import LoadedRun


def split_folders(root: Path) -> dict[str, Path]:
    """{'train'|'val'|'test': folder} of the split folders `root` has (Keras' train/validation/test layout)."""
    return {split: root / name for split, names in SPLIT_FOLDERS.items() for name in names if (root / name).is_dir()}


def class_folders(run: LoadedRun, folder: Path) -> tuple[list[str], list[str]]:
    """(the folder's class folder of each model class, in training order; warnings)."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if run.class_names:
        return match_classes(run.class_names, found, str(folder))
    num_classes = run.task.num_classes  # an older checkpoint: the sorted folder names, as training took them
    if len(found) != num_classes:
        raise LitzooError(f"{folder} has {len(found)} class folders ({', '.join(found) or 'none'}), but the model "
                          f"has {num_classes} classes. Nothing was evaluated.")
    return found, []


def folder_set(run: LoadedRun, folder: Path) -> tuple[TensorBatches, list[str]]:
    """All images below `folder`/<class>/, labelled in the model's class order, decoded as training decoded."""
    dm = run.datamodule
    names, warnings = class_folders(run, folder)
    x, y, listing = load_folder(folder, names, dm.target_size, dm.color_mode, dm.interpolation, dm.cache_dir,
                                dm.workers)
    skipped = [f"skipped {len(listing.skipped)} unreadable or non-image files: " + ", ".join(listing.skipped[:10])]
    return TensorBatches(x, y), warnings + listing.warnings + (skipped if listing.skipped else [])


def trained_root(run: LoadedRun) -> Path | None:
    """The image folder the run trained on, from its own config.yaml (the checkpoint's may have been overridden)."""
    from litzoo.run.record import UnreadableRecord, read_yaml

    try:
        cfg = read_yaml(run.run_dir / "config.yaml")
        return Path(cfg.data.data_dir).expanduser() / cfg.data.folder if cfg is not None else None
    except (UnreadableRecord, AttributeError, TypeError):
        return None


def _trained_on(run: LoadedRun, folders: list[Path]) -> list[str]:
    """A warning when the folders evaluated are (or hold) the run's own training images: not a test accuracy."""
    root = trained_root(run)
    if root is None or not root.is_dir():
        return []
    own = {root.resolve(), *(p.resolve() for p in split_folders(root).values() if "test" not in p.name)}
    if not any(Path(f).resolve() in own for f in folders):
        return []
    warning = (f"{', '.join(map(str, folders))} includes the images this run trained on ({root}): the numbers "
               "below measure what the model learned, not how it does on new images. split=test evaluates the "
               "held-out part.")
    print(f"Warning: {warning}", file=sys.stderr)
    return [warning]


def image_sets(run: LoadedRun, split: str, folder_given: bool) -> tuple[list[tuple[str, Any]], list[str], str]:
    """([(what, dataset)], warnings, split taken) of an image-folder run (see litzoo.infer.evaluate's `split=`).

    A folder without split folders evaluated for `test` or `validation` is the run's own data: the data module's
    seeded held-out split, exactly what training tested."""
    dm = run.datamodule
    if not dm.root.is_dir():
        raise DatasetNotFoundError(f"image folder {dm.root} not found: expected {dm.root}/<class>/*.png, or "
                                   "train|validation|test/<class>/*.png. Give data.folder=<folder> (absolute, or "
                                   "relative to paths.data_dir).")
    found = split_folders(dm.root)
    if split == "auto":
        split = ("test" if "test" in found else "val" if "val" in found else "all") if folder_given else "test"
    folders = list(found.values()) or [dm.root] if split == "all" else [found[split]] if split in found else []
    if not found and split == "train":
        folders = [dm.root]
    if folders:
        sets, warnings = [], _trained_on(run, folders)
        for folder in folders:
            dataset, said = folder_set(run, folder)
            sets.append((str(folder), dataset))
            warnings += said
        return sets, warnings, split
    dm.classes, warnings = class_folders(run, found.get("train", dm.root))
    dm.setup("test")
    return [(f"the {split} split of {dm.root}", dm.datasets[split])], warnings + list(dm.data_warnings), split
