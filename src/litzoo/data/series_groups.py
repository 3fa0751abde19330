"""Several stations or sensors in one measurement CSV (`data.group_column`): one time grid per group.

Each group is put on its own regular time grid (litzoo.data.series_csv.fill_missing_times) and the grids are
stacked into one table, group after group. Windows are then built within (group, split) pieces of that table, so
no window or target spans two groups. The chronological split cuts every group at the same times (quantiles of
all groups' grid times): a test date of one station is never a training date of another. Without a group column
the file is one group, and the cuts are the plain row fractions of before.
"""
from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from litzoo.data.base import CorruptFileError
from litzoo.data.series_csv import (
    Series,
    fill_missing_times,
    read_text,
    sniff_delimiter,
    stamp,
)

SPLITS = ("train", "val", "test")


class Grid(NamedTuple):
    """The groups' regular grids one after another: (T, C) values (NaN: missing), each row's time (seconds; the row
    number without a time column) and group (index into `names`), the step in seconds (0: no time column)."""

    table: np.ndarray
    keys: np.ndarray
    row_group: np.ndarray
    names: list[str]
    step: int
    filled: int

    def spans(self) -> list[tuple[int, int]]:
        """[start, stop) rows of each group."""
        edges = np.searchsorted(self.row_group, np.arange(len(self.names) + 1))
        return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def build_grid(series: Series, path: Path, time_column: str | None, group_column: str | None,
               delimiter: str | None) -> Grid:
    """Each group on its own regular grid (missing timestamps as NaN rows); all groups share one step."""
    n = len(series.table)
    if series.times is None:
        return Grid(series.table, np.arange(n), np.zeros(n, dtype=np.int64), [""], 0, 0)
    if series.groups is None:
        check_repeated_times(series, path, time_column, delimiter)
    values = series.groups if series.groups is not None else np.full(n, "")
    names = list(dict.fromkeys(values.tolist()))  # in order of first appearance
    tables, keys, steps, filled = [], [], {}, 0
    for name in names:
        idx = np.flatnonzero(values == name)
        try:
            table, added, step = fill_missing_times(Series(series.table[idx], series.times[idx], series.lines[idx]),
                                                    path, time_column)
        except CorruptFileError as err:
            if not group_column:
                raise
            raise CorruptFileError(f"{err} (In the rows of {group_column}={name!r}.)") from None
        tables.append(table)
        keys.append(series.times[idx[0]] + step * np.arange(len(table)))
        steps[name], filled = step, filled + added
    spacing = {s for s in steps.values() if s}  # 0: a group of one row has no spacing of its own
    if len(spacing) > 1:
        shown = ", ".join(f"{k!r} {timedelta(seconds=int(s))}" for k, s in steps.items() if s)
        raise ValueError(f"{path}: the groups of {group_column!r} are spaced differently ({shown}); windows of "
                         "data.lookback rows would span different durations. Resample them to one step.")
    row_group = np.repeat(np.arange(len(names)), [len(t) for t in tables])
    return Grid(np.concatenate(tables), np.concatenate(keys), row_group, names, spacing.pop() if spacing else 0,
                filled)


def split_pieces(grid: Grid, fractions: tuple[float, ...]) -> dict[str, list[tuple[int, int, int]]]:
    """(group, start, stop) rows of each split: every group cut at the same two times, the quantiles of all
    groups' grid times at the split fractions (for one group: the row fractions)."""
    bounds = np.round(np.cumsum([0, *fractions]) * len(grid.keys)).astype(int)
    cuts = np.sort(grid.keys)[np.minimum(bounds[1:3], len(grid.keys) - 1)]  # a one-row file: no IndexError
    pieces: dict[str, list[tuple[int, int, int]]] = {s: [] for s in SPLITS}
    for g, (start, stop) in enumerate(grid.spans()):
        edges = [start, *(start + np.searchsorted(grid.keys[start:stop], cuts)).tolist(), stop]
        for i, split in enumerate(SPLITS):
            pieces[split].append((g, edges[i], edges[i + 1]))
    return pieces


def check_repeated_times(series: Series, path: Path, time_column: str, delimiter: str | None) -> None:
    """Refuse repeated timestamps in a file read as one series (most likely several stations in one file),
    suggesting the column(s) that would tell them apart as data.group_column."""
    order = np.argsort(series.times, kind="stable")
    same = np.flatnonzero(np.diff(series.times[order]) == 0)
    if not len(same):
        return
    j = int(np.argmin(order[same + 1]))  # the first repeat in file order
    first, again = order[same[j]], order[same[j] + 1]
    repeats = len(series.times) - len(np.unique(series.times))
    found = group_candidates(path, time_column, delimiter, series.times)
    if found:
        others = f" (other candidates: {', '.join(found[1:4])})" if len(found) > 1 else ""
        fix = (f"The file looks like several stations or sensors in one: set data.group_column={found[0]}{others} "
               "to build windows within each and split them all at the same times.")
    else:
        fix = ("Remove the duplicated rows; if the file holds several stations or sensors, set "
               "data.group_column=<the column that tells them apart>.")
    raise CorruptFileError(
        f"{path}:{series.lines[again]}: the time in column {time_column!r} ({stamp(series.times[again])}) repeats the "
        f"time of line {series.lines[first]} ({repeats:,} rows repeat an earlier time): times must increase "
        f"strictly. {fix} (data.time_column=null would not do: it joins the stations end to end, with test dates "
        "leaking into training.)")


def group_candidates(path: Path, time_column: str, delimiter: str | None, times: np.ndarray) -> list[str]:
    """Columns whose values make every (value, time) pair unique, with few distinct values; text columns first."""
    text = read_text(path)
    rows = [r for r in csv.reader(text.splitlines(keepends=True), delimiter=sniff_delimiter(text, delimiter)) if r]
    header, body = rows[0], rows[1:]  # read_series has checked every row's length
    stamps, ranked = times.tolist(), []
    for c, name in enumerate(header):
        values = [r[c].strip() for r in body]
        distinct = set(values)
        if name == time_column or not 2 <= len(distinct) <= min(1000, len(body) // 2):
            continue
        if len(set(zip(values, stamps))) == len(body):
            ranked.append((_numeric(distinct), len(distinct), name))
    return [name for *_, name in sorted(ranked)]


def _numeric(values: set[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True
