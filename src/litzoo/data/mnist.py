"""MNIST and Fashion-MNIST from the original IDX files (torchvision's folder layout and mirrors).

Files are looked up in `<data_dir>/<MNIST|FashionMNIST>/raw/`, gzipped or not, exactly where
`torchvision.datasets.MNIST(root=data_dir)` keeps them. They are parsed here, straight from the .gz,
instead of through torchvision's dataset class: that class extracts next to the archives, which fails
on a read-only shared folder. Downloading (when online) uses torchvision's mirrors and md5 sums; a download
that fails (offline, a wrong paths.data_dir) creates no folder and leaves no partial file.
"""
from __future__ import annotations

import contextlib
import gzip
import shutil
import socket
import tempfile
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from litzoo.data.base import CorruptFileError, DatasetNotFoundError, InMemoryDataModule
from litzoo.errors import LitzooError
from litzoo.run.checkpoint import atomic_write

# IDX type codes (http://yann.lecun.com/exdb/mnist/): 0x08 = unsigned byte.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
               0x0E: np.dtype(">f8")}
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
VARIANTS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")  # Fashion-MNIST's label order


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped); any inconsistency raises CorruptFileError naming the file."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise CorruptFileError(f"cannot read IDX file {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise CorruptFileError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise CorruptFileError(f"{path}: IDX header says shape {shape} ({expected} bytes), file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def find_idx(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


class DownloadFailed(Exception):
    """Every mirror failed for one file; the message names the file and each mirror's reason."""


def download(variant: str, folder: Path) -> None:
    """torchvision's mirrors and md5 checks, one file at a time into a temporary folder; only a complete, verified
    file is copied into `folder`, which (with its missing parents) is created just then. A failure leaves no partial
    file and no folder that did not exist before (a wrong paths.data_dir must not leave a tree behind)."""
    from torchvision.datasets import MNIST, FashionMNIST
    from torchvision.datasets.utils import download_url

    cls = MNIST if variant == "mnist" else FashionMNIST
    with tempfile.TemporaryDirectory(prefix="litzoo-download-") as tmp:
        for filename, md5 in cls.resources:
            if find_idx(folder, filename.removesuffix(".gz")) is not None:
                continue
            errors = []
            for mirror in cls.mirrors:
                try:
                    download_url(f"{mirror}{filename}", root=tmp, filename=filename, md5=md5)
                    break
                except Exception as err:  # offline, HTTP error, bad md5: try the next mirror
                    errors.append(f"{mirror}: {_reason(err)}")
                    Path(tmp, filename).unlink(missing_ok=True)
            else:
                raise DownloadFailed(f"{filename} from {'; '.join(errors)}")
            _move_into(Path(tmp, filename), folder)


def _reason(err: BaseException) -> str:
    """An exception in words; a failed connection says 'no network', which is what the user needs to know."""
    text = f"{type(err).__name__}: {err}"
    offline = isinstance(err, (ConnectionError, TimeoutError, socket.gaierror)) or (
        isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError))
    return f"no network ({text})" if offline else text


def _move_into(file: Path, folder: Path) -> None:
    """Copy `file` into `folder` atomically, creating the folder; if that fails, remove exactly the folders made here."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        with file.open("rb") as source:
            atomic_write(folder / file.name, lambda target: shutil.copyfileobj(source, target))
    except (OSError, LitzooError):  # LitzooError: the disk is full
        for made in created:  # deepest first; rmdir refuses a folder something else has filled meanwhile
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def load_idx_split(folder: Path, split: str) -> tuple[Tensor, Tensor]:
    """Images scaled to [0, 1] as (N, 1, 28, 28) float32, labels int64."""
    img_path, lbl_path = (find_idx(folder, stem) for stem in FILES[split])
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CorruptFileError(f"{img_path} / {lbl_path}: {images.shape} images do not match {labels.shape} labels")
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255.0)  # the seeds' `/ 255`
    return x, torch.from_numpy(labels.astype(np.int64))


class MNISTDataModule(InMemoryDataModule):
    """MNIST / Fashion-MNIST (60k train, 10k test); validation = the last `val_split` of train (Keras)."""

    # where the data lives: a resume may change these (see base.py)
    runtime_keys = ("data_dir", "download", "eval_batch_size")

    def __init__(self, data_dir: str, variant: str = "mnist", download: bool = True, **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; the files' ten classes of 28x28 grey pixels unless given."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown MNIST variant {variant!r}; valid: {sorted(VARIANTS)}")
        super().__init__(**{"num_classes": 10, "input_shape": (1, 28, 28), **common})
        self.folder = Path(data_dir).expanduser() / VARIANTS[variant] / "raw"
        self.variant, self.download = variant, download
        self.download_error: str | None = None  # why prepare_data's download failed, for load()'s message
        self.class_names = list(FASHION_CLASSES) if variant == "fashion_mnist" else [str(i) for i in range(10)]

    def _missing(self) -> list[str]:
        return [stem for pair in FILES.values() for stem in pair if find_idx(self.folder, stem) is None]

    def prepare_data(self) -> None:
        if not self._missing() or not self.download:
            return
        try:
            download(self.variant, self.folder)
        except DownloadFailed as err:  # offline, bad md5: load() says so
            self.download_error = str(err)
        except OSError as err:  # e.g. a read-only data folder
            self.download_error = _reason(err)

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        missing = self._missing()
        if missing:
            raise DatasetNotFoundError(self._not_found(missing))
        return {split: load_idx_split(self.folder, split) for split in FILES}

    def _not_found(self, missing: list[str]) -> str:
        """One paragraph: the folder, the files looked for, what the download did, what to do next."""
        files = ", ".join(f"{stem}.gz" for stem in missing)
        if self.download_error:
            kept = "" if self.folder.exists() else " Nothing was created on disk."
            tried = f"Downloading them from torchvision's mirrors failed: {self.download_error}.{kept}"
        elif self.download:
            tried = ("Downloading is on (data.download=true) but did not run in this process (Lightning runs it "
                     "in prepare_data, on the first process only).")
        else:
            tried = "Downloading is off: set data.download=true on a machine with network."
        return (f"{self.variant} not found: looked in {self.folder} for {files} (gzipped or not). {tried} "
                "Otherwise copy the four IDX files from http://yann.lecun.com/exdb/mnist/ (Fashion-MNIST: its GitHub "
                "releases) into that folder, or set paths.data_dir=<folder> (or the LITZOO_DATA environment "
                f"variable) to the data folder that holds {VARIANTS[self.variant]}/raw.")
