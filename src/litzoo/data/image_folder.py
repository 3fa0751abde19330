"""Class-per-folder image trees: Keras' `flow_from_directory` / `image_dataset_from_directory` (seeds 001, 003, 004).

`<root>/{train,validation,test}/<class>/*.jpg` as in DLwP's cats_and_dogs_small, or `<root>/<class>/*`
split with a seed. Labels are the class-folder indices in sorted order (Keras' `classes`); the model's
output decides binary (one sigmoid unit) or categorical. Files that are not images or do not decode are
skipped and reported by name, never crash an epoch; so are empty class folders and symlinks that loop
(`data_warnings`). Images are decoded at their own depth and scaled to 8 bits (`to_8bit`: a 16-bit PNG is
not clipped white).

Decoding and resizing happen once: the resized images are cached as one uint8 tensor per split in
`cache_dir` (keyed by file names, sizes, mtimes and the resize settings; litzoo.cache writes them
atomically and rebuilds a damaged one), so later runs load a 2,000 image split in well under a second.
Batches stay uint8 until they reach the device, where the base module's pipeline makes them float,
augments them (training only) and preprocesses them (`preprocess`).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from litzoo import cache
from litzoo.data.base import DatasetNotFoundError, InMemoryDataModule, announce
from litzoo.data.pixels import preprocess_images  # and its inverse, side by side
from litzoo.data.resolvers import image_shape

if TYPE_CHECKING:
    from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")  # Keras' white_list_formats
SPLIT_FOLDERS = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
DECODER = 2  # part of the cache key: images cached by an earlier decoder (16-bit PNGs clipped white) are re-read


class Listing(NamedTuple):
    """One split's image files and class indices, the files that are not images, and what the user should hear of
    (empty class folders, symlinks that loop or point nowhere), one line each."""

    files: list[Path]
    labels: list[int]
    skipped: list[str]
    warnings: list[str]


def list_images(folder: Path, classes: Sequence[str]) -> Listing:
    """The files under folder/<class>/ (symlinks followed, loops not), sorted as Keras does."""
    listing = Listing([], [], [], [])
    for index, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            raise DatasetNotFoundError(f"class folder {class_dir} not found (classes: {list(classes)})")
        found = walk_files(class_dir, listing.warnings)
        images = [p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
        listing.skipped.extend(f"{p} (not an image file)" for p in found if p.suffix.lower() not in IMAGE_EXTENSIONS)
        if not images:
            listing.warnings.append(f"class folder {class_dir} has no images: class {name!r} (index {index}) gets no "
                                    f"{folder.name} samples")
        listing.files.extend(images)
        listing.labels.extend([index] * len(images))
    return listing


def walk_files(top: Path, warnings_out: list[str]) -> list[Path]:
    """Every file below `top`, sorted, following symlinks; a symlink to a folder above it (a loop, which would never
    end) or to nothing is not followed and is reported in `warnings_out`."""
    files, stack = [], [(top, (top.resolve(),))]  # each folder with the real paths of the folders above it
    while stack:
        folder, above = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            warnings_out.append(f"folder {folder} cannot be read ({type(err).__name__}): its files are left out")
            continue
        for entry in entries:
            path, real = Path(entry.path), above[-1] / entry.name
            if entry.is_symlink():
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError):  # a link to itself (ELOOP) or to a missing target
                    warnings_out.append(f"symlink {path} loops or points nowhere: not followed")
                    continue
            if entry.is_dir():
                if real in above:
                    warnings_out.append(f"symlink {path} points to {real}, a folder above it (a loop): not followed")
                else:
                    stack.append((path, (*above, real)))
            elif entry.is_file():
                files.append(path)
    return sorted(files)


def to_8bit(img: Image.Image, mode: str) -> Image.Image:
    """`img` as 8-bit `mode` ('RGB' or 'L') with its values scaled, never clipped as PIL's `convert` clips them (a
    16-bit grayscale PNG would come out all white).

    Integer images (modes 'I;16*', 'I') are scaled by their nominal range, 2**bits - 1 -> 255 (see `_bits`). Float
    images ('F') are taken as [0, 1], clipped and times 255: the convention of float image files, and the same scale
    for every image (its own min..max would make one image's grey another's white). Transparent pixels are
    composited onto black for every mode with alpha (RGBA, LA, PA, premultiplied, P or RGB with a transparent
    colour): what a premultiplied image shows, and what `convert` gives the (0, 0, 0, 0) pixels most encoders write.
    """
    from PIL import Image

    if img.mode.startswith("I") or img.mode == "F":
        top = 1.0 if img.mode == "F" else 2.0 ** _bits(img) - 1
        pixels = np.asarray(img, dtype=np.float32).clip(0, top) * (255 / top)
        return Image.fromarray(pixels.round().astype(np.uint8), "L").convert(mode)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        black = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, img.convert("RGBA"))
    return img.convert(mode)


def _bits(img: Image.Image) -> int:
    """Bits per sample of an integer image: 16 for 'I;16*' and for PNGs (older Pillow opens 16-bit ones as 'I'), a
    TIFF's BitsPerSample, else 16 when every value fits in 0..65535 and 31 (PIL's int32 'I') when not."""
    if img.mode.startswith("I;16") or img.format == "PNG":
        return 16
    tiff_bits = getattr(img, "tag_v2", {}).get(258)  # TIFF tag BitsPerSample, one value per channel
    if tiff_bits:
        return min(int(tiff_bits[0]), 31)
    low, high = img.getextrema()
    return 16 if low >= 0 and high <= 65535 else 31


def decode(path: Path, size: tuple[int, int], mode: str, resample: int) -> Tensor | str:
    """uint8 (C, H, W) image resized to size=(H, W), or the reason it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = to_8bit(img, mode).resize((size[1], size[0]), resample)
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return f"{path} ({type(err).__name__}: {err})"
    return data.view(size[0], size[1], -1).permute(2, 0, 1).contiguous()


def decode_all(files: Sequence[Path], size: tuple[int, int], color_mode: str, interpolation: str, workers: int
               ) -> tuple[Tensor, list[int], list[str]]:
    """(uint8 (N, C, H, W) of the files that decoded, their indices in `files`, one line per file that did not):
    every image litzoo reads, for training and for litzoo-predict, goes through here."""
    from PIL import Image

    resample = getattr(Image.Resampling, interpolation.upper())
    mode = "RGB" if color_mode == "rgb" else "L"
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL releases the GIL while decoding
        decoded = list(pool.map(lambda f: decode(f, size, mode, resample), files))
    good = [i for i, d in enumerate(decoded) if isinstance(d, Tensor)]
    channels = 3 if color_mode == "rgb" else 1
    x = torch.stack([decoded[i] for i in good]) if good else torch.zeros(0, channels, *size, dtype=torch.uint8)
    return x, good, [d for d in decoded if isinstance(d, str)]


def load_folder(folder: Path, classes: Sequence[str], size: tuple[int, int], color_mode: str, interpolation: str,
                cache_dir: Path | None, workers: int) -> tuple[Tensor, Tensor, Listing]:
    """All images of one split as uint8 (N, C, H, W) + int64 labels, from the cache when it is valid; the listing's
    `skipped` includes the files that did not decode."""
    listing = list_images(folder, classes)
    files, labels = listing.files, listing.labels
    key = json.dumps([DECODER, str(folder), list(classes), size, color_mode, interpolation,
                      [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]])
    digest = hashlib.sha1(key.encode()).hexdigest()
    path = cache_dir / f"images-{digest[:16]}.pt" if cache_dir else None
    meta = {"kind": "images", "key": digest}
    saved = cache.load_torch(path, meta) if path is not None else None
    if saved is not None:
        listing.skipped.extend(saved["skipped"])
        return saved["x"], saved["y"], listing
    x, good, bad = decode_all(files, size, color_mode, interpolation, workers)
    y = torch.tensor([labels[i] for i in good], dtype=torch.int64)
    if path is not None:
        cache.save_torch(path, meta, {"x": x, "y": y, "skipped": bad})
    listing.skipped.extend(bad)
    return x, y, listing


class ImageFolderDataModule(InMemoryDataModule):
    """Keras' flow_from_directory: `target_size`, sorted class folders, train/validation/test or a seeded split."""

    # where the data lives: a resume may change these (see base.py)
    runtime_keys = ("data_dir", "folder", "cache_dir", "workers", "eval_batch_size")
    eval_batch_floor = 0  # full-size images: evaluated in training-sized batches unless data.eval_batch_size says

    def __init__(self, data_dir: str, folder: str, target_size: Sequence[int] = (150, 150), test_split: float = 0.0,
                 classes: Sequence[str] | None = None, color_mode: str = "rgb", interpolation: str = "nearest",
                 preprocess: str = "rescale", cache_dir: str | None = None, workers: int = 2, **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; input_shape follows target_size and color_mode."""
        if color_mode not in ("rgb", "grayscale"):
            raise ValueError(f"color_mode must be 'rgb' or 'grayscale', got {color_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; valid: {INTERPOLATIONS}")
        preprocess_images(torch.zeros(1, 3, 1, 1), preprocess)  # validate the name before any file is read
        super().__init__(**{"input_shape": image_shape(target_size, color_mode), **common})
        self.root = Path(data_dir).expanduser() / folder
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.classes, self.color_mode, self.interpolation = classes, color_mode, interpolation
        self.preprocess_mode, self.test_split, self.workers = preprocess, test_split, workers
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.skipped: list[str] = []
        self.class_names: list[str] = []  # index -> class folder, known once loaded

    def _split_dirs(self) -> dict[str, Path]:
        found = {}
        for split, names in SPLIT_FOLDERS.items():
            found.update({split: self.root / n for n in names if (self.root / n).is_dir()})
        return found if "train" in found else {"train": self.root}

    def _classes(self, train_dir: Path) -> list[str]:
        classes = list(self.classes) if self.classes else sorted(p.name for p in train_dir.iterdir() if p.is_dir())
        if len(classes) != self.num_classes:
            raise ValueError(f"{train_dir} has {len(classes)} class folders {classes}, but data.num_classes="
                             f"{self.num_classes}")
        return classes

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"image folder {self.root} not found: expected {self.root}/train/<class>/*.jpg "
                                       "(or <class>/*.jpg). Set paths.data_dir=<folder> or LITZOO_DATA.")
        dirs = self._split_dirs()
        classes = self.class_names = self._classes(dirs["train"])
        splits, self.skipped, self.data_warnings = {}, [], []
        for split, path in dirs.items():
            x, y, listing = load_folder(path, classes, self.target_size, self.color_mode, self.interpolation,
                                        self.cache_dir, self.workers)
            splits[split] = (x, y)
            self.skipped += listing.skipped
            self.data_warnings += listing.warnings
        for message in self.data_warnings:  # one line each, as results.json will hold them
            warnings.warn(message, UserWarning, stacklevel=2)
        if self.skipped:
            warnings.warn(f"skipped {len(self.skipped)} unreadable or non-image files:\n  " + "\n  ".join(self.skipped),
                          stacklevel=2)
            more = f" and {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""
            self.data_warnings.append(f"skipped {len(self.skipped)} unreadable or non-image files: "
                                      + ", ".join(self.skipped[:10]) + more)
        splits = self._seeded_splits(splits)
        reuse = " (no test folder and test_split=0: test reuses the validation split)" if (
            splits["test"] is splits["val"]) else ""
        announce(f"Image folder {self.root}: classes " + ", ".join(f"{c}={i}" for i, c in enumerate(classes))
                 + "; images " + ", ".join(f"{k} {len(v[0]):,}" for k, v in splits.items()) + reuse)
        return splits

    def _seeded_splits(self, splits: dict[str, tuple[Tensor, Tensor]]) -> dict[str, tuple[Tensor, Tensor]]:
        """Missing validation/test folders: seeded fractions of the (shuffled) training images, never the sorted tail."""
        x, y = splits["train"]
        n_test = int(round(len(x) * self.test_split)) if "test" not in splits else 0
        n_val = int(round(len(x) * self.val_split)) if "val" not in splits else 0
        if n_test or n_val:
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
            x, y = x[order], y[order]
        if n_test:
            splits["test"], (x, y) = (x[-n_test:], y[-n_test:]), (x[:-n_test], y[:-n_test])
        if n_val:
            splits["val"], (x, y) = (x[-n_val:], y[-n_val:]), (x[:-n_val], y[:-n_val])
        splits["train"] = (x, y)
        splits.setdefault("test", splits["val"])  # no test folder and test_split=0: test = validation
        return splits

    def preprocess(self, x: Tensor) -> Tensor:
        """Float pixels in [0, 255] (after augmentation) -> the model's input convention (`preprocess`)."""
        return preprocess_images(x, self.preprocess_mode)
