"""Tiny datasets written in the real on-disk formats, so the real loading code runs in tests."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_CODES = {np.dtype(np.uint8): 0x08}


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write `array` as an IDX file (magic 0x0000TTDD, big-endian dims, raw data), gzipped if asked."""
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.ascontiguousarray(array).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def digit_like_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose class (0-9) is a bright horizontal bar at row 2 + 2.4*label, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 2 + int(2.4 * label)
        images[i, row:row + 2, 4:24] = 255
    return images, labels


def write_mnist(root: Path, n_train: int = 240, n_test: int = 60, folder: str = "MNIST") -> Path:
    """`root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` as torchvision lays them out."""
    raw = root / folder / "raw"
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = digit_like_images(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return raw
