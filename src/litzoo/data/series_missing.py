"""What is missing in a measurement table, said before training: missing cells per column, a warning for a mostly
empty column (the missing-value policy would make up most of it), and why data.missing=drop left no window."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import numpy as np

from litzoo.data.series_groups import Grid

MOSTLY_EMPTY = 0.5  # more than half of a column missing: most of what the model sees of it would be made up


def missing_report(grid: Grid, columns: Sequence[str], target: str, policy: str) -> tuple[str, list[str]]:
    """A short table of missing cells per column (empty cells and added timestamps; '' when none) and one
    warning per mostly empty column."""
    missing = np.isnan(grid.table)
    counts, total = missing.sum(axis=0), len(grid.table)
    if not counts.any():
        return "", []
    width = max(len(c) for c in columns)
    lines = [f"Missing values per column (of {total:,} rows on the time grid; empty cells and added timestamps):"]
    warned = []
    for c, name in enumerate(columns):
        share = counts[c] / total
        if counts[c]:
            lines.append(f"  {name:<{width}}  {counts[c]:>9,}  {share:6.1%}"
                         + ("  mostly empty" if share > MOSTLY_EMPTY else ""))
        if share > MOSTLY_EMPTY:
            warned.append(_mostly_empty(grid, missing[:, c], name, name == target, policy))
    return "\n".join(lines), warned


def _mostly_empty(grid: Grid, missing: np.ndarray, name: str, is_target: bool, policy: str) -> str:
    gap = longest_gap(missing, grid.spans())
    span = f"{timedelta(seconds=gap * grid.step)} ({gap:,} rows)" if grid.step else f"{gap:,} rows"
    by_group = ""
    if len(grid.names) > 1:
        shares = [missing[a:b].mean() for a, b in grid.spans()]
        by_group = "; by group " + ", ".join(f"{n!r} {s:.0%}" for n, s in zip(grid.names, shares))
    effect = {"interpolate": "data.missing=interpolate draws a straight line across every gap, so most of what the "
                             "model sees of it is made up",
              "drop": "data.missing=drop leaves out every window or target that touches those rows"}.get(policy, "")
    fix = "choose another data.target" if is_target else "leave it out of data.features"
    return (f"column {name!r} is {missing.mean():.0%} empty ({int(missing.sum()):,} of {len(missing):,} rows"
            f"{by_group}); its longest gap is {span}. " + (f"{effect}: " if effect else "")
            + f"{fix} unless that is intended.")


def longest_gap(missing: np.ndarray, spans: Sequence[tuple[int, int]]) -> int:
    """The longest run of missing rows within one group."""
    best = 0
    for start, stop in spans:
        edges = np.diff(np.concatenate([[0], missing[start:stop].astype(np.int8), [0]]))
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        best = max(best, int(runs.max()) if len(runs) else 0)
    return best


def drop_message(split: str, rows: np.ndarray, table: np.ndarray, columns: Sequence[str], n_features: int,
                 t_col: int, count_windows: Callable[[np.ndarray, np.ndarray], int], need: str) -> str:
    """Why data.missing=drop left no complete window in `split` (its table `rows`): the column(s) whose gaps alone
    cause it, else the emptiest ones there. `count_windows(bad_rows, bad_targets)` counts the split's windows."""
    missing = np.isnan(table)
    shares = missing[rows].mean(axis=0)
    causes = []
    for c in np.flatnonzero(shares):
        rest = missing.copy()
        rest[:, c] = False
        if count_windows(rest[:, :n_features].any(axis=1), rest[:, t_col]):
            causes.append(c)
    named = causes or [c for c in np.argsort(-shares)[:3] if shares[c]]
    listed = ", ".join(f"{columns[c]!r} ({shares[c]:.0%} empty there)" for c in named)
    why = (f"the gaps of {listed} alone cause it" if causes
           else f"the gaps of several columns together cause it, most of all {listed}")
    return (f"data.missing=drop leaves no complete window in the {split} range: every window ({need}) touches a "
            f"missing value, and {why}. Leave such columns out of data.features, or set data.missing=interpolate.")
