"""Tiny image datasets in the real on-disk formats: JPEG/PNG class folders (with a corrupt file), digit CSVs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def class_image(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    """Class 0: bright left half; class 1: bright right half; plus noise."""
    img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
    img[:, half] = 220
    return Image.fromarray(img)


def write_image_folder(root: Path, splits: dict[str, int] | None = None, size: int = 20,
                       classes: tuple[str, ...] = ("cats", "dogs"), corrupt: bool = True) -> Path:
    """root/<split>/<class>/img_<i>.jpg|png (n per class); train/ gets a corrupt .jpg and a notes.txt."""
    rng = np.random.default_rng(0)
    for split, n in (splits or {"train": 6, "validation": 3, "test": 3}).items():
        for label, name in enumerate(classes):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                ext = "jpg" if i % 2 == 0 else "png"
                class_image(label, size, rng).save(folder / f"img_{i}.{ext}")
    first = root / next(iter(splits or {"train": 0})) / classes[0]
    if corrupt:
        (first / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
        (first / "notes.txt").write_text("not an image")
    return root


def write_digits_csv(folder: Path, n_train: int = 60, n_test: int = 10) -> Path:
    """Kaggle digit-recognizer train.csv (label,pixel0..783) and test.csv (pixels only)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    header = [f"pixel{i}" for i in range(784)]
    labels = np.arange(n_train) % 10
    pixels = rng.integers(0, 256, size=(n_train, 784))
    pixels[:, 0] = labels * 20  # a recognisable pixel per class
    np.savetxt(folder / "train.csv", np.c_[labels, pixels], fmt="%d", delimiter=",",
               header=",".join(["label", *header]), comments="")
    np.savetxt(folder / "test.csv", rng.integers(0, 256, size=(n_test, 784)), fmt="%d", delimiter=",",
               header=",".join(header), comments="")
    return folder


CLASSES = ("Ankle_boot", "café", "zebra")  # sorted: the training order of write_stripes' folders


def write_stripes(root: Path, classes: tuple[str, ...] = CLASSES, n: int = 8, seed: int = 0) -> Path:
    """root/<class>/<i>.png: 16x16 RGB noise with a bright vertical band whose place is the class."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 50, (16, 16, 3), dtype=np.uint8)
            img[:, label * 5:(label + 1) * 5] = 230
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root
