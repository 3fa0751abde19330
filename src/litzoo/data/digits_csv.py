"""The Kaggle digit-recognizer CSV (seed 004): `label,pixel0..pixel783` rows; test CSV without labels.

Preprocessing as the seed's `data_prep`: pixels / 255, reshaped to 28x28x1, labels as class indices
(the one-hot `to_categorical` + categorical_crossentropy is CrossEntropy on indices). The Kaggle test
CSV has no labels: its images are kept for predictions (callbacks.submission writes submission.csv);
the labeled test split is the last `test_fraction` of train.csv, validation the last `val_split` of the
rest (Keras' validation_split, no shuffling).

No such CSV here? Generate one from the MNIST IDX files (a data folder holding MNIST/raw, or that raw folder):
    python -m litzoo.data.digits_csv <data folder with MNIST/raw> <data_dir>/digit-recognizer
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from litzoo.data.base import (
    CorruptFileError,
    DatasetNotFoundError,
    InMemoryDataModule,
    missing_files_message,
)
from litzoo.data.series_csv import (
    check_delimiter,
    describe_delimiter,
    read_text,
    sniff_delimiter,
)

PIXELS = 28 * 28


def read_digits_csv(path: Path, labeled: bool, delimiter: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 (N, 784) pixels, int64 labels or None); a wrong header or value names the file (and line, column).

    The text is read as litzoo.data.series_csv reads a CSV: UTF-8 with or without a byte-order mark, CRLF or LF,
    `delimiter` (None: detected)."""
    text = read_text(path)
    sep = sniff_delimiter(text, delimiter)
    lines = text.splitlines()  # LF, CRLF or CR
    header = [name.strip() for name in next(csv.reader(lines[:1], delimiter=sep), [])]
    expected = (["label"] if labeled else []) + [f"pixel{i}" for i in range(PIXELS)]
    if header != expected:
        raise CorruptFileError(f"{path}: header must be {'label,' if labeled else ''}pixel0..pixel783, got "
                               f"{sep.join(header[:3])}... ({len(header)} columns, split at "
                               f"{describe_delimiter(sep, delimiter)})")
    numbers = [i for i, line in enumerate(lines) if i and line.strip()]  # file line i + 1 of each data row
    try:
        data = np.loadtxt([lines[i] for i in numbers], delimiter=sep, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise CorruptFileError(f"{path}: {err}") from None
    if data.shape[1] != len(expected):
        raise CorruptFileError(f"{path}: rows hold {data.shape[1]} values, the header names {len(expected)}")
    check_range(path, data, expected, [i + 1 for i in numbers])
    return data[:, -PIXELS:].astype(np.uint8), (data[:, 0] if labeled else None)


def check_range(path: Path, data: np.ndarray, names: list[str], lines: list[int]) -> None:
    """Labels 0..9 and pixels 0..255, or the first bad cell by file line (= the row a spreadsheet shows) and column."""
    low, high = np.zeros(len(names), dtype=np.int64), np.full(len(names), 255)
    if names[0] == "label":
        high[0] = 9
    bad = (data < low) | (data > high)
    if not bad.any():
        return
    row, col = (int(v) for v in np.argwhere(bad)[0])
    kind = "a label must be a digit 0..9" if names[col] == "label" else "a pixel must be 0..255"
    raise CorruptFileError(
        f"{path}, line {lines[row]} (spreadsheet row {lines[row]}, the header being row 1; data row {row + 1}), column "
        f"{names[col]!r}: value {data[row, col]} is out of range: {kind}. {int(bad.sum())} cell(s) in "
        f"{int(bad.any(axis=1).sum())} row(s) are out of range in all; fix them before training.")


def to_images(pixels: np.ndarray) -> Tensor:
    return torch.from_numpy(pixels).float().div_(255.0).view(-1, 1, 28, 28)  # the seed's reshape and / 255


class DigitsCSVDataModule(InMemoryDataModule):
    """Kaggle digit-recognizer train.csv (+ optional test.csv for predictions); `classes` keeps a subset."""

    # where the data lives: a resume may change these (see base.py)
    runtime_keys = ("data_dir", "folder", "delimiter", "eval_batch_size")

    def __init__(self, data_dir: str, folder: str = "digit-recognizer", train_file: str = "train.csv",
                 test_file: str | None = "test.csv", test_fraction: float = 0.1, classes: Sequence[int] | None = None,
                 delimiter: str | None = None, **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; ten classes of 28x28 grey pixels unless given."""
        super().__init__(**{"num_classes": 10, "input_shape": (1, 28, 28), **common})
        if classes is not None and len(classes) != self.num_classes:
            raise ValueError(f"classes={list(classes)} has {len(classes)} entries but num_classes={self.num_classes}")
        self.folder = Path(data_dir).expanduser() / folder
        self.train_file, self.test_file, self.test_fraction = train_file, test_file, test_fraction
        self.classes = list(classes) if classes is not None else None
        self.class_names = [str(c) for c in classes] if classes is not None else None  # label i is digit classes[i]
        self.delimiter = check_delimiter(delimiter)  # None: detected from each file (litzoo.data.series_csv)
        self.predict_x: Tensor | None = None

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        train = self.folder / self.train_file
        if not train.is_file():
            how = ("Download train.csv from https://www.kaggle.com/c/digit-recognizer, or generate it from MNIST: "
                   f"python -m litzoo.data.digits_csv <data folder with MNIST/raw> {self.folder}")
            raise DatasetNotFoundError(missing_files_message("digit-recognizer CSV", self.folder, [self.train_file], how))
        pixels, labels = read_digits_csv(train, labeled=True, delimiter=self.delimiter)
        if self.classes is not None:  # e.g. DataCamp's 3-class subset; labels become 0..k-1 in `classes` order
            keep = np.isin(labels, self.classes)
            lookup = np.zeros(max(max(self.classes), 9) + 1, dtype=np.int64)
            lookup[self.classes] = np.arange(len(self.classes))
            pixels, labels = pixels[keep], lookup[labels[keep]]
        x, y = to_images(pixels), torch.from_numpy(labels.astype(np.int64))
        n_test = max(1, int(round(len(x) * self.test_fraction)))
        test = self.folder / self.test_file if self.test_file else None
        if test is not None and test.is_file():
            self.predict_x = to_images(read_digits_csv(test, labeled=False, delimiter=self.delimiter)[0])
        return {"train": (x[:-n_test], y[:-n_test]), "test": (x[-n_test:], y[-n_test:])}


def find_mnist_raw(folder: Path) -> Path:
    """The folder holding MNIST's IDX files: `folder` itself, or its MNIST/raw (torchvision's layout) or raw/."""
    from litzoo.data.mnist import find_idx

    candidates = [folder, folder / "MNIST" / "raw", folder / "raw"]
    for candidate in candidates:
        if find_idx(candidate, "train-images-idx3-ubyte") is not None:
            return candidate
    raise DatasetNotFoundError("no MNIST IDX files (train-images-idx3-ubyte[.gz]) in any of: "
                               + ", ".join(map(str, candidates)))


def write_digit_recognizer_csv(mnist_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """train.csv (label + pixels, MNIST's 60,000 training images) and test.csv (pixels only, its 10,000 test
    images), from a folder holding MNIST/raw or from the raw folder itself."""
    from litzoo.data.mnist import load_idx_split

    mnist_raw = find_mnist_raw(mnist_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, name, labeled in (("train", "train.csv", True), ("test", "test.csv", False)):
        x, y = load_idx_split(mnist_raw, split)
        pixels = (x * 255).round().to(torch.int64).view(len(x), -1).numpy()
        rows = np.concatenate([y.numpy()[:, None], pixels], axis=1) if labeled else pixels
        header = (["label"] if labeled else []) + [f"pixel{i}" for i in range(PIXELS)]
        np.savetxt(out_dir / name, rows, fmt="%d", delimiter=",", header=",".join(header), comments="")
        paths.append(out_dir / name)
    return paths[0], paths[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write Kaggle digit-recognizer CSVs from MNIST IDX files.")
    parser.add_argument("mnist_dir", type=Path, help="a data folder holding MNIST/raw, or the folder with "
                        "train-images-idx3-ubyte.gz etc. itself")
    parser.add_argument("out_dir", type=Path, help="e.g. data/digit-recognizer")
    args = parser.parse_args(argv)
    for path in write_digit_recognizer_csv(args.mnist_dir, args.out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
