"""Windows over an evenly spaced measurement CSV (the Jena climate layout), DLwP 6.3.

A sample is `timesteps = lookback // step` rows sampled every `step` rows and ending (inclusive) at
row e, and its target is the target column at row e + delay. Windows never cross the chronological
train/val/test ranges and are gathered a batch at a time from the (T, F) table: never materialised.
Features and target are normalised with statistics of the training range only; the model's MAE is
reported in the target's own units (the task multiplies by the target's std), next to the
common-sense baseline "the target will be the last observed value".
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from litzoo.data.base import CorruptFileError, DatasetNotFoundError, EpochBatchSampler, missing_files_message

JENA_COLUMNS = ("p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
                "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)", "wd (deg)")
MISSING = ("", "na", "nan", "null")
POLICIES = ("interpolate", "drop", "error")


def generate_climate_csv(path: str | Path, days: int = 730, seed: int = 0) -> Path:
    """A deterministic 10-minute series in the Jena CSV layout: daily and yearly cycles, weather, noise."""
    rng = np.random.default_rng(seed)
    n = days * 144
    t = np.arange(n) / 144.0  # days
    weather = np.zeros(n)  # AR(1) anomaly with a time scale of about two days
    shocks = rng.normal(0.0, 0.12, n)
    for i in range(1, n):
        weather[i] = 0.9965 * weather[i - 1] + shocks[i]
    temp = 9.0 - 9.0 * np.cos(2 * np.pi * (t - 15) / 365.25) - 4.0 * np.cos(2 * np.pi * t) + weather
    temp += rng.normal(0.0, 0.2, n)
    p = 989.0 + 6.0 * np.sin(2 * np.pi * t / 9.0) - 0.3 * weather + rng.normal(0.0, 0.3, n)
    rh = np.clip(75.0 + 15.0 * np.cos(2 * np.pi * t) - 1.5 * weather + rng.normal(0, 3, n), 10, 100)
    vpmax = 6.1078 * np.exp(17.27 * temp / (temp + 237.3))
    vpact = vpmax * rh / 100
    tdew = 237.3 * np.log(vpact / 6.1078) / (17.27 - np.log(vpact / 6.1078))
    sh = 622 * vpact / (p - 0.378 * vpact)
    wv = np.abs(2.0 + 1.0 * np.sin(2 * np.pi * t) + rng.gamma(2.0, 0.7, n))
    cols = [p, temp, temp + 273.15 + (1000 - p) * 0.0085, tdew, rh, vpmax, vpact, vpmax - vpact, sh,
            sh * 1.6, 1.2923e5 * p / (287.05 * (temp + 273.15)) / 100, wv, wv * 1.6, rng.uniform(0, 360, n)]
    start = datetime(2009, 1, 1, 0, 10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        f.write(",".join(['"Date Time"', *(f'"{c}"' for c in JENA_COLUMNS)]) + "\n")
        table = np.stack(cols, axis=1)
        for i in range(n):
            stamp = (start + timedelta(minutes=10 * i)).strftime("%d.%m.%Y %H:%M:%S")
            f.write(stamp + "," + ",".join(f"{v:.2f}" for v in table[i]) + "\n")
    tmp.replace(path)
    return path


def read_csv(path: Path, columns: Sequence[str]) -> np.ndarray:
    """The named numeric columns as float64 (T, C); NA/empty cells become NaN for the missing-value policy."""
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise CorruptFileError(f"{path} is empty")
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path} has no column(s) {missing}; its columns are {header}")
        idx = [header.index(c) for c in columns]
        rows = []
        for lineno, row in enumerate(reader, 2):
            try:
                rows.append([math.nan if row[i].strip().lower() in MISSING else float(row[i]) for i in idx])
            except (ValueError, IndexError):
                raise CorruptFileError(f"{path}:{lineno}: not a number in columns {list(columns)}: {row}") from None
    if not rows:
        raise CorruptFileError(f"{path} has a header but no rows")
    return np.array(rows, dtype=np.float64)


def interpolate_missing(table: np.ndarray) -> np.ndarray:
    """Linear interpolation in time per column (ends take the nearest value); all-NaN columns are an error."""
    out = table.copy()
    rows = np.arange(len(table))
    for c in range(table.shape[1]):
        bad = np.isnan(table[:, c])
        if bad.all():
            raise ValueError(f"column {c} has no values at all")
        if bad.any():
            out[bad, c] = np.interp(rows[bad], rows[~bad], table[~bad, c])
    return out


def window_ends(start: int, stop: int, lookback: int, step: int, delay: int, bad_rows: np.ndarray | None = None,
                bad_targets: np.ndarray | None = None) -> np.ndarray:
    """Last rows e of all windows whose sampled rows and target row e + delay lie in [start, stop),
    leaving out windows with a missing feature (`bad_rows`) or a missing target (`bad_targets`)."""
    timesteps = lookback // step
    first = start + (timesteps - 1) * step
    ends = np.arange(first, stop - delay)
    if bad_rows is None or len(ends) == 0:
        return ends
    ok = ~(bad_targets if bad_targets is not None else bad_rows)[ends + delay]
    for off in -step * np.arange(timesteps):  # `timesteps` vectorised passes; cheap next to training
        ok &= ~bad_rows[ends + off]
    return ends[ok]


class WindowBatches(Dataset):
    """Windows gathered a batch at a time: `ds[index_tensor]` -> (x (B, timesteps, F), y (B,))."""

    def __init__(self, features: Tensor, target: Tensor, ends: Tensor, timesteps: int, step: int, delay: int) -> None:
        self.features, self.target, self.ends, self.delay = features, target, ends, delay
        self.offsets = torch.arange(-(timesteps - 1) * step, 1, step)  # oldest row first, e last

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: Tensor) -> tuple[Tensor, Tensor]:
        e = self.ends[index]
        return self.features[e[:, None] + self.offsets], self.target[e + self.delay]


class TimeseriesDataModule(pl.LightningDataModule):
    """Train/val/test windows of a measurement CSV; see the module docstring."""

    def __init__(self, path: str, features: Sequence[str], target: str, lookback: int = 1440, step: int = 6,
                 delay: int = 144, splits: Sequence[float] = (0.5, 0.25, 0.25), missing: str = "interpolate",
                 generate: bool = False, batch_size: int = 128, eval_batch_size: int | None = None, seed: int = 0,
                 input_shape: Sequence[int] = ()) -> None:
        super().__init__()
        if missing not in POLICIES:
            raise ValueError(f"missing must be one of {POLICIES}, got {missing!r}")
        if lookback % step or lookback < step or delay < 0:
            raise ValueError(f"need lookback a positive multiple of step and delay >= 0; got {lookback}/{step}/{delay}")
        if len(splits) != 3 or abs(sum(splits) - 1) > 1e-6 or min(splits) <= 0:
            raise ValueError(f"splits are the train/val/test fractions summing to 1, got {list(splits)}")
        self.timesteps = lookback // step
        if tuple(input_shape) != (self.timesteps, len(features)):
            raise ValueError(f"data.input_shape={list(input_shape)} must be [lookback // step, number of features] "
                             f"= [{self.timesteps}, {len(features)}]")
        self.path, self.features, self.target = Path(path).expanduser(), list(features), target
        self.lookback, self.step, self.delay, self.splits = lookback, step, delay, tuple(splits)
        self.missing, self.generate, self.seed = missing, generate, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or max(batch_size, 512)
        self.input_shape = tuple(input_shape)
        self.datasets: dict[str, WindowBatches] = {}
        self.stats: dict[str, np.ndarray] = {}
        self.target_scale = 1.0
        self.reference_metrics: dict[str, float] = {}

    def _table(self) -> np.ndarray:
        if not self.path.is_file():
            if not self.generate:
                raise DatasetNotFoundError(missing_files_message(
                    "Measurement CSV", self.path.parent, [self.path.name],
                    "For the Jena climate data download jena_climate_2009_2016.csv (DLwP 6.3), or set "
                    "data.generate=true to write the generated series there."))
            generate_climate_csv(self.path)
        columns = self.features + ([self.target] if self.target not in self.features else [])
        table = read_csv(self.path, columns)
        if np.isnan(table).any():
            if self.missing == "error":
                raise ValueError(f"{self.path} has {int(np.isnan(table).any(1).sum())} rows with missing values "
                                 "(data.missing=interpolate or drop handles them)")
            if self.missing == "interpolate":
                table = interpolate_missing(table)
        return table

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        table = self._table()
        n = len(table)
        bounds = np.round(np.cumsum([0, *self.splits]) * n).astype(int)
        train = table[: bounds[1]]
        mean, std = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
        std[std == 0] = 1.0
        self.stats = {"mean": mean, "std": std}
        normed = (table - mean) / std
        t_col = (self.features + [self.target]).index(self.target)
        self.target_scale = float(std[t_col])
        bad = np.isnan(table[:, : len(self.features)]).any(axis=1)
        feats = torch.from_numpy(np.nan_to_num(normed[:, : len(self.features)])).float()
        target = torch.from_numpy(np.nan_to_num(normed[:, t_col])).float()
        for i, split in enumerate(("train", "val", "test")):
            ends = window_ends(bounds[i], bounds[i + 1], self.lookback, self.step, self.delay, bad,
                               np.isnan(table[:, t_col]))
            if len(ends) == 0:
                raise ValueError(f"the {split} range (rows {bounds[i]}-{bounds[i + 1]}) is too short for "
                                 f"lookback={self.lookback} + delay={self.delay}")
            self.datasets[split] = WindowBatches(feats, target, torch.from_numpy(ends), self.timesteps, self.step,
                                                 self.delay)
            if split != "train":  # predict the last observed target value, in the target's units
                y = table[:, t_col]
                self.reference_metrics[f"{split}/baseline_mae"] = float(np.nanmean(np.abs(y[ends] - y[ends + self.delay])))
        print(f"Common-sense baseline (last value) MAE of {self.target!r}: "
              + ", ".join(f"{k.split('/')[0]} {v:.4f}" for k, v in self.reference_metrics.items())
              + f"; windows train/val/test: {', '.join(str(len(d)) for d in self.datasets.values())}")

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        sampler = EpochBatchSampler(len(self.datasets[split]), batch_size, shuffle, self.seed)
        return DataLoader(self.datasets[split], sampler=sampler, batch_size=None,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
