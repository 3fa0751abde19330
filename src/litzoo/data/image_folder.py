"""Class-per-folder image trees: Keras' `flow_from_directory` / `image_dataset_from_directory` (seeds 001, 003, 004).

`<root>/{train,validation,test}/<class>/*.jpg` as in DLwP's cats_and_dogs_small, or `<root>/<class>/*`
split with a seed. Labels are the class-folder indices in sorted order (Keras' `classes`); the model's
output decides binary (one sigmoid unit) or categorical. Files that are not images or do not decode are
skipped and reported by name, never crash an epoch.

Decoding and resizing happen once: the resized images are cached as one uint8 tensor per split in
`cache_dir` (keyed by file names, sizes, mtimes and the resize settings; litzoo.cache writes them
atomically and rebuilds a damaged one), so later runs load a 2,000 image split in well under a second.
Batches stay uint8 until they reach the device, where the base module's pipeline makes them float,
augments them (training only) and preprocesses them (`preprocess`).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import Tensor

from litzoo import cache
from litzoo.data.base import DatasetNotFoundError, InMemoryDataModule, announce

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")  # Keras' white_list_formats
SPLIT_FOLDERS = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
# Keras' preprocess_input conventions, on float pixels in [0, 255] (imagenet_utils: 'tf', 'torch', 'caffe').
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess_images(x: Tensor, mode: str) -> Tensor:
    """rescale: [0, 1] (Keras `rescale=1./255`); symmetric: [-1, 1] (mode 'tf'); imagenet: torchvision's mean/std
    (mode 'torch', what torchvision's pretrained weights expect); caffe: BGR minus mean (Keras' VGG16/ResNet50
    preprocess_input, for weights converted from Keras); none: raw 0..255."""
    if mode == "rescale":
        return x / 255.0
    if mode == "symmetric":
        return x / 127.5 - 1.0
    if mode == "imagenet":
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std
    if mode == "caffe":
        return x.flip(1) - x.new_tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    if mode == "none":
        return x
    raise ValueError(f"unknown preprocess {mode!r}; valid: rescale, symmetric, imagenet, caffe, none")


def list_images(folder: Path, classes: Sequence[str]) -> tuple[list[Path], list[int], list[str]]:
    """(image files, class indices, skipped non-image files) under folder/<class>/, sorted as Keras does."""
    files, labels, skipped = [], [], []
    for index, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            raise DatasetNotFoundError(f"class folder {class_dir} not found (classes: {list(classes)})")
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(path)
                labels.append(index)
            else:
                skipped.append(f"{path} (not an image file)")
    return files, labels, skipped


def decode(path: Path, size: tuple[int, int], mode: str, resample: int) -> Tensor | str:
    """uint8 (C, H, W) image resized to size=(H, W), or the reason it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert(mode).resize((size[1], size[0]), resample)
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return f"{path} ({type(err).__name__}: {err})"
    return data.view(size[0], size[1], -1).permute(2, 0, 1).contiguous()


def load_folder(folder: Path, classes: Sequence[str], size: tuple[int, int], color_mode: str, interpolation: str,
                cache_dir: Path | None, workers: int) -> tuple[Tensor, Tensor, list[str]]:
    """All images of one split as uint8 (N, C, H, W) + int64 labels, from the cache when it is valid."""
    files, labels, skipped = list_images(folder, classes)
    key = json.dumps([str(folder), list(classes), size, color_mode, interpolation,
                      [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]])
    digest = hashlib.sha1(key.encode()).hexdigest()
    path = cache_dir / f"images-{digest[:16]}.pt" if cache_dir else None
    meta = {"kind": "images", "key": digest}
    saved = cache.load_torch(path, meta) if path is not None else None
    if saved is not None:
        return saved["x"], saved["y"], skipped + saved["skipped"]
    from PIL import Image

    resample = getattr(Image.Resampling, interpolation.upper())
    mode = "RGB" if color_mode == "rgb" else "L"
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL releases the GIL while decoding
        decoded = list(pool.map(lambda f: decode(f, size, mode, resample), files))
    good = [i for i, d in enumerate(decoded) if isinstance(d, Tensor)]
    bad = [d for d in decoded if isinstance(d, str)]
    channels = 3 if color_mode == "rgb" else 1
    x = torch.stack([decoded[i] for i in good]) if good else torch.zeros(0, channels, *size, dtype=torch.uint8)
    y = torch.tensor([labels[i] for i in good], dtype=torch.int64)
    if path is not None:
        cache.save_torch(path, meta, {"x": x, "y": y, "skipped": bad})
    return x, y, skipped + bad


class ImageFolderDataModule(InMemoryDataModule):
    """Keras' flow_from_directory: `target_size`, sorted class folders, train/validation/test or a seeded split."""

    def __init__(self, data_dir: str, folder: str, target_size: Sequence[int] = (150, 150), batch_size: int = 32,
                 val_split: float = 0.2, test_split: float = 0.0, seed: int = 0, num_classes: int = 2,
                 input_shape: Sequence[int] = (3, 150, 150), classes: Sequence[str] | None = None,
                 color_mode: str = "rgb", interpolation: str = "nearest", preprocess: str = "rescale",
                 cache_dir: str | None = None, workers: int = 2, eval_batch_size: int | None = None,
                 augment: Callable[[Tensor], Tensor] | None = None) -> None:
        if color_mode not in ("rgb", "grayscale"):
            raise ValueError(f"color_mode must be 'rgb' or 'grayscale', got {color_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; valid: {INTERPOLATIONS}")
        preprocess_images(torch.zeros(1, 3, 1, 1), preprocess)  # validate the name before any file is read
        super().__init__(batch_size, val_split, seed, num_classes, input_shape, eval_batch_size or batch_size, augment)
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
        splits, self.skipped = {}, []
        for split, path in dirs.items():
            x, y, skipped = load_folder(path, classes, self.target_size, self.color_mode, self.interpolation,
                                        self.cache_dir, self.workers)
            splits[split], self.skipped = (x, y), self.skipped + skipped
        if self.skipped:
            warnings.warn(f"skipped {len(self.skipped)} unreadable or non-image files:\n  " + "\n  ".join(self.skipped),
                          stacklevel=2)
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
