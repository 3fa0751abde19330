"""New inputs read as the run's data source reads its own: the same decoder, target size, colour mode, CSV reader,
tokenizer and vocabulary, window and normalisation statistics (each source's own functions, called here).

One reader per kind of source; a source without one (digits, MNIST: built-in sets) is refused by name.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from litzoo.data.base import TensorBatches
from litzoo.errors import LitzooError
from litzoo.infer.runs import LoadedRun


class Inputs(NamedTuple):
    """What each row of predictions.csv is called, the batch-indexed inputs, what the user should hear of."""

    names: list[str]
    dataset: TensorBatches
    warnings: list[str]


def _files(paths: list[Path], suffixes: tuple[str, ...], warnings: list[str]) -> list[Path]:
    """The files given, and those below the folders given whose suffix is one of `suffixes`, in order."""
    from litzoo.data.image_folder import walk_files

    found = []
    for path in paths:
        if path.is_dir():
            found += [f for f in walk_files(path, warnings) if f.suffix.lower() in suffixes]
        elif path.is_file():
            found.append(path)
        else:
            raise LitzooError(f"Input {path} does not exist: give files or folders to predict. Nothing was predicted.")
    return found


def read_images(run: LoadedRun, paths: list[Path]) -> Inputs:
    """Image files (or folders of them) decoded and resized as training did (litzoo.data.image_folder.decode_all)."""
    from litzoo.data.image_folder import IMAGE_EXTENSIONS, decode_all

    dm, warnings = run.datamodule, []
    files = _files(paths, IMAGE_EXTENSIONS, warnings)
    x, good, bad = decode_all(files, dm.target_size, dm.color_mode, dm.interpolation, dm.workers)
    return Inputs([str(files[i]) for i in good], TensorBatches(x), warnings + [f"skipped {d}" for d in bad])


def read_digit_rows(run: LoadedRun, paths: list[Path]) -> Inputs:
    """Rows of digit-recognizer CSVs (`label,pixel0..` or `pixel0..`), read by litzoo.data.digits_csv."""
    from litzoo.data.digits_csv import read_digits_csv, to_images
    from litzoo.data.series_csv import read_text

    names, images = [], []
    for path in _files(paths, (".csv",), []):
        labeled = read_text(path).lstrip().lower().startswith("label")
        pixels, _ = read_digits_csv(path, labeled, run.datamodule.delimiter)
        names += [f"{path} row {i + 1}" for i in range(len(pixels))]
        images.append(to_images(pixels))
    return Inputs(names, TensorBatches(torch.cat(images) if images else torch.zeros(0, 1, 28, 28)), [])


def read_texts(run: LoadedRun, paths: list[Path]) -> Inputs:
    """Text files (or folders of .txt), tokenized with the run's settings and its stored vocabulary."""
    from litzoo.data import text

    dm = run.datamodule
    vocabulary = run.facts.get("vocabulary") or []
    if not vocabulary and not dm.hashing:
        raise LitzooError(f"The checkpoint of {run.run_dir} stores no vocabulary (it was written before litzoo kept "
                          "it), and a vocabulary built from other texts would give the words other ids. Train the "
                          "run again (or resume it for one epoch) to store it. Nothing was predicted.")
    index = None if dm.hashing else {w: text.FIRST_INDEX + i for i, w in enumerate(vocabulary)}
    files = _files(paths, (".txt",), [])
    ids = [text.encode(text.tokenize(f.read_bytes().decode("utf-8", errors="replace"), dm.tokens, dm.ngrams),
                       index, dm.num_words) for f in files]
    return Inputs([str(f) for f in files], TensorBatches(dm.vectorise(ids)), [])


def read_series_window(run: LoadedRun, paths: list[Path]) -> Inputs:
    """The last window of a measurement CSV (the run's columns, time grid and statistics): one forecast, or one
    per station when the run was trained with `data.group_column` (each from that station's own last rows)."""
    from litzoo.data.series_csv import read_series
    from litzoo.data.series_groups import build_grid

    dm, stats = run.datamodule, run.facts.get("stats") or {}
    if len(paths) != 1 or not paths[0].is_file() or not stats:
        raise LitzooError("A series model forecasts from the last window of ONE measurement CSV with the run's "
                          f"columns ({', '.join(dm.columns)}), and needs the training statistics its checkpoint "
                          f"stores{'' if stats else ' (this one has none: train it again)'}; got "
                          f"{', '.join(map(str, paths))}. Nothing was predicted.")
    series = read_series(paths[0], dm.columns, dm.time_column, dm.time_format, dm.delimiter, dm.group_column)
    grid = build_grid(series, paths[0], dm.time_column, dm.group_column, dm.delimiter)
    windows = [_last_window(run, paths[0], grid.table[a:b], name) for name, (a, b) in zip(grid.names, grid.spans())]
    names = [f"{paths[0]} ({dm.group_column}={name}: window ending at its last row)" if dm.group_column else
             f"{paths[0]} (window ending at its last row, {len(grid.table)})" for name in grid.names]
    return Inputs(names, TensorBatches(torch.cat(windows)), [])


def _last_window(run: LoadedRun, path: Path, table: np.ndarray, group: str) -> Tensor:
    """(1, timesteps, F): the last `lookback` rows of one group's grid, gaps interpolated, normalised as in training."""
    from litzoo.data.timeseries import interpolate_missing

    dm, stats = run.datamodule, run.facts["stats"]
    rows = (dm.timesteps - 1) * dm.step + 1
    if len(table) < rows:
        where = f" for {dm.group_column}={group!r}" if dm.group_column else ""
        raise LitzooError(f"{path} has {len(table)} rows{where}; one window needs {rows} (lookback={dm.lookback}, "
                          f"step={dm.step}). Nothing was predicted.")
    recent = interpolate_missing(table[-rows:]) if np.isnan(table[-rows:]).any() else table[-rows:]
    normed = (recent[::dm.step] - np.asarray(stats["mean"])) / np.asarray(stats["std"])
    return torch.from_numpy(normed[:, : len(dm.features)]).float()[None]


def reader(run: LoadedRun) -> Callable[[LoadedRun, list[Path]], Inputs]:
    """The reader for the run's data source; a source without one is refused by name."""
    from litzoo.data.digits_csv import DigitsCSVDataModule
    from litzoo.data.image_folder import ImageFolderDataModule
    from litzoo.data.imdb import ImdbDataModule
    from litzoo.data.timeseries import TimeseriesDataModule

    readers = {ImageFolderDataModule: read_images, DigitsCSVDataModule: read_digit_rows, ImdbDataModule: read_texts,
               TimeseriesDataModule: read_series_window}
    for source, read in readers.items():
        if type(run.datamodule) is source:  # a subclass (VGG16 features) takes other inputs
            return read
    raise LitzooError(f"litzoo-predict reads inputs for runs trained on image folders, digit-recognizer CSVs, IMDB "
                      f"texts and measurement CSVs; this run's data is {type(run.datamodule).__name__} "
                      f"({run.cfg.data.get('_target_')}), a built-in set with no files of its own to read.")
