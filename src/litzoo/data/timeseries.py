"""Windows over an evenly spaced measurement CSV (the Jena climate layout), DLwP 6.3.

With `time_column` set, the rows are put on their regular time grid first (litzoo.data.series_csv):
missing timestamps become missing rows, which the `missing` policy interpolates, leaves out of every
window and target (drop), or refuses (error). A sample is `timesteps = lookback // step` rows sampled
every `step` rows and ending (inclusive) at row e, and its target is the target column at row e + delay.
Windows never cross the chronological train/val/test ranges and are gathered a batch at a time from
the (T, F) table, which lives on the training device like every InMemoryDataModule's data. With
`group_column` (several stations or sensors in one file) every group has its own grid, missing-value
policy and windows, and all groups are cut at the same times (litzoo.data.series_groups).
Features and target are normalised with statistics of the training range only; the model's MAE is
reported in the target's own units (the task multiplies by the target's std), next to the
common-sense baseline "the target will be the last observed value".
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from litzoo.data.series_csv import check_delimiter, read_series
from litzoo.data.series_groups import SPLITS, Grid, build_grid, split_pieces
from litzoo.data.series_missing import drop_message, missing_report
from litzoo.run.atomic import atomic_write_text

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
    table = np.stack(cols, axis=1)
    lines = [",".join(['"Date Time"', *(f'"{c}"' for c in JENA_COLUMNS)])]
    lines += [(start + timedelta(minutes=10 * i)).strftime("%d.%m.%Y %H:%M:%S") + ","
              + ",".join(f"{v:.2f}" for v in table[i]) for i in range(n)]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)


def interpolate_missing(table: np.ndarray, columns: Sequence[str] = (), where: str = "") -> np.ndarray:
    """Linear interpolation in time per column (ends take the nearest value); all-NaN columns are an error."""
    out = table.copy()
    rows = np.arange(len(table))
    for c in range(table.shape[1]):
        bad = np.isnan(table[:, c])
        if bad.all():
            name = repr(columns[c]) if columns else str(c)
            raise ValueError(f"column {name} has no values at all{where}: data.missing=interpolate has nothing to "
                             "fill it from. Leave it out of data.features (or choose another data.target).")
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

    @property
    def device(self) -> torch.device:
        return self.features.device

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
    eval_batch_floor = 512  # windows are small: large evaluation batches

    def __init__(self, path: str, features: Sequence[str], target: str, lookback: int = 1440, step: int = 6,
                 delay: int = 144, splits: Sequence[float] = (0.5, 0.25, 0.25), missing: str = "interpolate",
                 time_column: str | None = None, time_format: str | None = None, delimiter: str | None = None,
                 group_column: str | None = None, generate: bool = False, input_shape: Sequence[int] = (),
                 **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; no classes, and the validation fraction is splits[1]."""
        if missing not in POLICIES:
            raise ValueError(f"missing must be one of {POLICIES}, got {missing!r}")
        if lookback % step or lookback < step or delay < 0:
            raise ValueError(f"need lookback a positive multiple of step and delay >= 0; got {lookback}/{step}/{delay}")
        if len(splits) != 3 or abs(sum(splits) - 1) > 1e-6 or min(splits) <= 0:
            raise ValueError(f"splits are the train/val/test fractions summing to 1, got {list(splits)}")
        check_key_columns([*features, target], time_column, group_column)
        self.timesteps = lookback // step
        if tuple(input_shape) != (self.timesteps, len(features)):
            raise ValueError(f"data.input_shape={list(input_shape)} must be [lookback // step, number of features] "
                             f"= [{self.timesteps}, {len(features)}]")
        super().__init__(val_split=splits[1], num_classes=0, input_shape=input_shape, **common)
        self.path, self.features, self.target = Path(path).expanduser(), list(features), target
        self.lookback, self.step, self.delay, self.fractions = lookback, step, delay, tuple(splits)
        self.missing, self.generate = missing, generate
        self.time_column, self.time_format, self.group_column = time_column, time_format, group_column
        self.delimiter = check_delimiter(delimiter)  # None: detected from the file (litzoo.data.series_csv)
        self.stats: dict[str, np.ndarray] = {}
        self.target_scale = 1.0
        self.reference_metrics: dict[str, float] = {}
        # The window index, for checks that no window spans two groups: the group names (empty without
        # group_column), each table row's group and time (seconds; None without time_column), each window's group.
        self.groups: list[str] = []
        self.row_group, self.row_time = np.zeros(0, dtype=np.int64), None
        self.window_groups: dict[str, np.ndarray] = {}

    def _read(self) -> tuple[Grid, str]:
        """Each group's table on its regular time grid (missing timestamps as NaN rows) and what was done, in words."""
        if not self.path.is_file():
            if not self.generate:
                raise DatasetNotFoundError(missing_files_message(
                    "Measurement CSV", self.path.parent, [self.path.name],
                    "For the Jena climate data download jena_climate_2009_2016.csv (DLwP 6.3), or set "
                    "data.generate=true to write the generated series there."))
            generate_climate_csv(self.path)
        series = read_series(self.path, self.columns, self.time_column, self.time_format, self.delimiter,
                             self.group_column)
        grid = build_grid(series, self.path, self.time_column, self.group_column, self.delimiter)
        if series.times is None:
            return grid, f"{len(grid.table):,} rows read in file order (data.time_column=null)"
        groups = (f" in {len(grid.names)} groups of {self.group_column!r} ({', '.join(grid.names[:5])}"
                  f"{', ...' if len(grid.names) > 5 else ''})" if self.group_column else "")
        return grid, (f"{len(grid.table):,} rows every {timedelta(seconds=grid.step)} by {self.time_column!r}{groups}, "
                      f"{grid.filled:,} missing timestamps added as empty rows")

    @property
    def columns(self) -> list[str]:
        """The columns read: the features, then the target unless it is one of them."""
        return self.features + ([self.target] if self.target not in self.features else [])

    def _table(self) -> Grid:
        """The table after the missing-value policy (interpolate | drop | error), per group; says what it did and
        what is missing per column, once, and warns of mostly empty columns."""
        grid, read = self._read()
        report, mostly_empty = missing_report(grid, self.columns, self.target, self.missing)
        bad = int(np.isnan(grid.table).any(axis=1).sum())
        if bad and self.missing == "error":
            raise ValueError(f"{self.path} has {bad:,} rows with missing values ({read}); data.missing=interpolate "
                             "or drop handles them")
        if bad and self.missing == "interpolate":  # within each group: never a line from one station to the next
            where = [f" in the rows of {self.group_column}={n!r}" if self.group_column else "" for n in grid.names]
            grid = grid._replace(table=np.concatenate([interpolate_missing(grid.table[a:b], self.columns, w)
                                                       for (a, b), w in zip(grid.spans(), where)]))
        done = {"interpolate": "filled by linear interpolation in time",
                "drop": "left out: no window or target touches them"}.get(self.missing, "")
        announce(f"{self.path}: {read}; {bad:,} rows with missing values" + (f" {done}" if bad else "")
                 + f" (data.missing={self.missing})" + (f"\n{report}" if report else ""))
        self._warn(mostly_empty)  # after the table it refers to
        return grid

    def _warn(self, messages: list[str]) -> None:
        """On the console now and in the run's record (data_warnings), one line each."""
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=3)
        self.data_warnings += messages

    def load_datasets(self) -> dict[str, WindowBatches]:
        """Chronological train/val/test windows within each group; statistics of all groups' training rows."""
        self.data_warnings = []
        grid = self._table()
        table, pieces = grid.table, split_pieces(grid, self.fractions)
        train = np.concatenate([np.arange(a, b) for _, a, b in pieces["train"]])
        mean, std = np.nanmean(table[train], axis=0), np.nanstd(table[train], axis=0)
        std[std == 0] = 1.0
        self.stats = {"mean": mean, "std": std}
        normed = (table - mean) / std
        t_col = self.columns.index(self.target)
        self.target_scale = float(std[t_col])
        y = table[:, t_col]
        feats = torch.from_numpy(np.nan_to_num(normed[:, : len(self.features)])).float()
        target = torch.from_numpy(np.nan_to_num(normed[:, t_col])).float()
        offsets = torch.arange(-(self.timesteps - 1) * self.step, 1, self.step)  # oldest row first, e last
        self.groups = grid.names if self.group_column else []
        self.row_group, self.row_time = grid.row_group, grid.keys if self.time_column else None
        datasets, lacking = {}, {}
        for split in SPLITS:
            ends, self.window_groups[split] = self._split_windows(split, pieces[split], table, t_col, lacking)
            datasets[split] = WindowBatches(feats, target, torch.from_numpy(ends), offsets, self.delay)
            if split != "train":  # predict the last observed target value, in the target's units
                baseline = np.nanmean(np.abs(y[ends] - y[ends + self.delay]))
                self.reference_metrics[f"{split}/baseline_mae"] = float(baseline)
        self._warn([f"{self.group_column}={name!r} gives no {' or '.join(where)} window: too few rows there for "
                    f"lookback={self.lookback} + delay={self.delay}" for name, where in lacking.items()])
        announce(f"Common-sense baseline (last value) MAE of {self.target!r}: "
                 + ", ".join(f"{k.split('/')[0]} {v:.4f}" for k, v in self.reference_metrics.items())
                 + f"; windows train/val/test: {', '.join(str(len(d)) for d in datasets.values())}")
        return datasets

    def _split_windows(self, split: str, pieces: list[tuple[int, int, int]], table: np.ndarray, t_col: int,
                       lacking: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """End rows of the split's windows and each one's group; groups without a window are added to `lacking`,
        a split without any window is refused."""
        bad, bad_y = np.isnan(table[:, : len(self.features)]).any(axis=1), np.isnan(table[:, t_col])
        found = [window_ends(a, b, self.lookback, self.step, self.delay, bad, bad_y) for _, a, b in pieces]
        if not sum(len(e) for e in found):
            raise ValueError(self._no_window(split, pieces, table, t_col))
        for (g, _, _), ends in zip(pieces, found):
            if self.group_column and not len(ends):
                lacking.setdefault(self.groups[g], []).append(split)
        return np.concatenate(found), np.concatenate([np.full(len(e), g) for (g, _, _), e in zip(pieces, found)])

    def _no_window(self, split: str, pieces: list[tuple[int, int, int]], table: np.ndarray, t_col: int) -> str:
        """Why `split` has no window: data.missing=drop (and which columns), or a range too short."""
        def count(bad: np.ndarray | None, bad_y: np.ndarray | None) -> int:
            return sum(len(window_ends(a, b, self.lookback, self.step, self.delay, bad, bad_y)) for _, a, b in pieces)

        need = f"lookback={self.lookback} + delay={self.delay}"
        if self.missing == "drop" and count(None, None):
            rows = np.concatenate([np.arange(a, b) for _, a, b in pieces])
            return f"{self.path}: " + drop_message(split, rows, table, self.columns, len(self.features), t_col, count,
                                                   need)
        where = (f"at most {max(b - a for _, a, b in pieces):,} rows in each group of {self.group_column!r}"
                 if self.group_column else f"rows {pieces[0][1]}-{pieces[0][2]}")
        rows = (self.timesteps - 1) * self.step + 1 + self.delay
        return (f"{self.path}: the {split} range ({where}) is too short for {need}: a window and its target span "
                f"{rows} rows. Use a longer series, a smaller data.lookback or data.delay, or change data.splits.")


def check_key_columns(values: list[str], time_column: str | None, group_column: str | None) -> None:
    """The time and group columns hold keys, not values; the groups are cut at the same times, so need times."""
    for key, column in (("time_column", time_column), ("group_column", group_column)):
        if column is not None and column in values:
            raise ValueError(f"data.{key}={column!r} is also a feature or the target; it holds keys, not values")
    if group_column is not None and (time_column is None or group_column == time_column):
        raise ValueError(f"data.group_column={group_column!r} needs data.time_column set to another column: every "
                         f"group is cut at the same times (got data.time_column={time_column!r})")
