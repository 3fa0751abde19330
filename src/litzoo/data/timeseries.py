"""Windows over an evenly spaced measurement CSV (the Jena climate layout), DLwP 6.3.

With `time_column` set, the rows are put on their regular time grid first (litzoo.data.series_csv):
missing timestamps become missing rows, which the `missing` policy interpolates, leaves out of every
window and target (drop), or refuses (error). A sample is `timesteps = lookback // step` rows sampled
every `step` rows and ending (inclusive) at row e, and its target is the target column at row e + delay.
Windows never cross the chronological train/val/test ranges and are gathered a batch at a time from
the (T, F) table, which lives on the training device like every InMemoryDataModule's data.
Features and target are normalised with statistics of the training range only; the model's MAE is
reported in the target's own units (the task multiplies by the target's std), next to the
common-sense baseline "the target will be the last observed value".
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from litzoo.data.base import (
    DatasetNotFoundError,
    InMemoryDataModule,
    announce,
    missing_files_message,
    move,
)
from litzoo.data.series_csv import check_delimiter, fill_missing_times, read_series

JENA_COLUMNS = ("p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
                "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)", "wd (deg)")
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

    def __init__(self, features: Tensor, target: Tensor, ends: Tensor, offsets: Tensor, delay: int) -> None:
        self.features, self.target, self.ends, self.offsets, self.delay = features, target, ends, offsets, delay

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return len(self.offsets), self.features.shape[1]

    def to(self, device: torch.device, moved: dict[int, Tensor]) -> WindowBatches:
        return WindowBatches(*(move(t, device, moved) for t in (self.features, self.target, self.ends, self.offsets)),
                             self.delay)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: Tensor) -> tuple[Tensor, Tensor]:
        e = self.ends[index]
        return self.features[e[:, None] + self.offsets], self.target[e + self.delay]


class TimeseriesDataModule(InMemoryDataModule):
    """Train/val/test windows of a measurement CSV; see the module docstring."""

    runtime_keys = ("path", "generate", "delimiter", "eval_batch_size")  # where the data lives: resumable (base.py)

    def __init__(self, path: str, features: Sequence[str], target: str, lookback: int = 1440, step: int = 6,
                 delay: int = 144, splits: Sequence[float] = (0.5, 0.25, 0.25), missing: str = "interpolate",
                 time_column: str | None = None, time_format: str | None = None, delimiter: str | None = None,
                 generate: bool = False,
                 batch_size: int = 128, eval_batch_size: int | None = None, seed: int = 0,
                 input_shape: Sequence[int] = (), augment: Callable[[Tensor], Tensor] | None = None) -> None:
        if missing not in POLICIES:
            raise ValueError(f"missing must be one of {POLICIES}, got {missing!r}")
        if lookback % step or lookback < step or delay < 0:
            raise ValueError(f"need lookback a positive multiple of step and delay >= 0; got {lookback}/{step}/{delay}")
        if len(splits) != 3 or abs(sum(splits) - 1) > 1e-6 or min(splits) <= 0:
            raise ValueError(f"splits are the train/val/test fractions summing to 1, got {list(splits)}")
        if time_column is not None and time_column in [*features, target]:
            raise ValueError(f"time_column={time_column!r} is also a feature or the target; it holds times, not values")
        self.timesteps = lookback // step
        if tuple(input_shape) != (self.timesteps, len(features)):
            raise ValueError(f"data.input_shape={list(input_shape)} must be [lookback // step, number of features] "
                             f"= [{self.timesteps}, {len(features)}]")
        super().__init__(batch_size, splits[1], seed, 0, input_shape, eval_batch_size or max(batch_size, 512), augment)
        self.path, self.features, self.target = Path(path).expanduser(), list(features), target
        self.lookback, self.step, self.delay, self.fractions = lookback, step, delay, tuple(splits)
        self.missing, self.generate = missing, generate
        self.time_column, self.time_format = time_column, time_format
        self.delimiter = check_delimiter(delimiter)  # None: detected from the file (litzoo.data.series_csv)
        self.stats: dict[str, np.ndarray] = {}
        self.target_scale = 1.0
        self.reference_metrics: dict[str, float] = {}

    def _read(self) -> tuple[np.ndarray, str]:
        """The table on its regular time grid (missing timestamps as NaN rows) and what was done, in words."""
        if not self.path.is_file():
            if not self.generate:
                raise DatasetNotFoundError(missing_files_message(
                    "Measurement CSV", self.path.parent, [self.path.name],
                    "For the Jena climate data download jena_climate_2009_2016.csv (DLwP 6.3), or set "
                    "data.generate=true to write the generated series there."))
            generate_climate_csv(self.path)
        columns = self.features + ([self.target] if self.target not in self.features else [])
        series = read_series(self.path, columns, self.time_column, self.time_format, self.delimiter)
        if series.times is None:
            return series.table, f"{len(series.table):,} rows read in file order (data.time_column=null)"
        table, filled, step = fill_missing_times(series, self.path, self.time_column)
        return table, (f"{len(table):,} rows every {timedelta(seconds=step)} by {self.time_column!r}, "
                       f"{filled:,} missing timestamps added as empty rows")

    def _table(self) -> np.ndarray:
        """The table after the missing-value policy (interpolate | drop | error); says what it did, once."""
        table, read = self._read()
        bad = int(np.isnan(table).any(axis=1).sum())
        if bad and self.missing == "error":
            raise ValueError(f"{self.path} has {bad:,} rows with missing values ({read}); data.missing=interpolate "
                             "or drop handles them")
        if bad and self.missing == "interpolate":
            table = interpolate_missing(table)
        done = {"interpolate": "filled by linear interpolation in time",
                "drop": "left out: no window or target touches them"}.get(self.missing, "")
        announce(f"{self.path}: {read}; {bad:,} rows with missing values" + (f" {done}" if bad else "")
                 + f" (data.missing={self.missing})")
        return table

    def load_datasets(self) -> dict[str, WindowBatches]:
        """Chronological train/val/test windows; statistics of the training range only."""
        table = self._table()
        bounds = np.round(np.cumsum([0, *self.fractions]) * len(table)).astype(int)
        mean, std = np.nanmean(table[: bounds[1]], axis=0), np.nanstd(table[: bounds[1]], axis=0)
        std[std == 0] = 1.0
        self.stats = {"mean": mean, "std": std}
        normed = (table - mean) / std
        t_col = (self.features + [self.target]).index(self.target)
        self.target_scale = float(std[t_col])
        bad, y = np.isnan(table[:, : len(self.features)]).any(axis=1), table[:, t_col]
        feats = torch.from_numpy(np.nan_to_num(normed[:, : len(self.features)])).float()
        target = torch.from_numpy(np.nan_to_num(normed[:, t_col])).float()
        offsets = torch.arange(-(self.timesteps - 1) * self.step, 1, self.step)  # oldest row first, e last
        datasets = {}
        for i, split in enumerate(("train", "val", "test")):
            ends = window_ends(bounds[i], bounds[i + 1], self.lookback, self.step, self.delay, bad, np.isnan(y))
            if len(ends) == 0:
                raise ValueError(f"the {split} range (rows {bounds[i]}-{bounds[i + 1]}) is too short for "
                                 f"lookback={self.lookback} + delay={self.delay}")
            datasets[split] = WindowBatches(feats, target, torch.from_numpy(ends), offsets, self.delay)
            if split != "train":  # predict the last observed target value, in the target's units
                baseline = np.nanmean(np.abs(y[ends] - y[ends + self.delay]))
                self.reference_metrics[f"{split}/baseline_mae"] = float(baseline)
        announce(f"Common-sense baseline (last value) MAE of {self.target!r}: "
                 + ", ".join(f"{k.split('/')[0]} {v:.4f}" for k, v in self.reference_metrics.items())
                 + f"; windows train/val/test: {', '.join(str(len(d)) for d in datasets.values())}")
        return datasets
