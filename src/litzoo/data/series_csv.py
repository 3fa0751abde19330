"""Reading a measurement CSV (the Jena climate layout, weather-station exports) with its time column.

CSV text as spreadsheets export it (also read by litzoo.data.digits_csv): UTF-8 with or without Excel's
byte-order mark, CRLF or LF line ends, and ',', ';', tab or '|' between values (`delimiter`, detected with
csv.Sniffer over the header and first lines unless given). Bytes that are not UTF-8 are refused with the
file and byte offset, never decoded into wrong column names.

Every row must hold as many values as the header has names (otherwise every later column would be
read one place off). The time column is parsed (ISO 8601 or Jena's `%d.%m.%Y %H:%M:%S`, detected from
the first row, or `time_format`); timestamps must increase strictly. A regular series' step is its
most common spacing; a missing timestamp becomes a row of NaN, for the missing-value policy to handle,
so that no window or target silently spans a gap.
"""
from __future__ import annotations

import calendar
import codecs
import csv
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

from litzoo.data.base import CorruptFileError

MISSING = ("", "na", "nan", "null")
JENA_FORMAT = "%d.%m.%Y %H:%M:%S"  # '01.01.2009 00:10:00'
AUTO_HELP = f"ISO 8601 ('2013-01-01T05:00:00Z', '2013-01-01 05:00:00') or Jena's '{JENA_FORMAT}'"
# not data.time_column=null: read in file order, several stations' rows would be joined end to end
UNORDERED_HELP = ("Sort the file by time and remove duplicated rows; if it holds several stations or sensors, set "
                  "data.group_column=<the column that tells them apart>.")
DELIMITERS = (",", ";", "\t", "|")  # what csv.Sniffer may choose from
# Hydra's override grammar refuses a bare ';' and a typed tab: data.delimiter=semicolon, =tab (or quoted ';', '\t')
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}


def check_delimiter(delimiter: str | None) -> str | None:
    """`data.delimiter` as one character (or one of DELIMITER_NAMES), or None to detect it."""
    if delimiter is None:
        return None
    char = DELIMITER_NAMES.get(str(delimiter), str(delimiter))
    if len(char) != 1 or char in "\r\n\"":
        raise ValueError(f"data.delimiter must be one character or one of {sorted(DELIMITER_NAMES)} (null: "
                         f"detected), got {delimiter!r}")
    return char


def read_text(path: Path) -> str:
    """The file as text, as encoding 'utf-8-sig' reads it; a byte that is not UTF-8 is named by its offset."""
    raw = path.read_bytes()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")  # 'utf-8-sig' by hand: its error offsets would not count the BOM
    except UnicodeDecodeError as err:
        offset = bom + err.start
        line = raw.count(b"\n", 0, offset) + 1
        raise CorruptFileError(
            f"{path} is not UTF-8 text: byte 0x{raw[offset]:02x} at byte offset {offset} (line {line}) is not valid "
            f"UTF-8 ({err.reason}). Save the file as UTF-8 (Excel: Save As 'CSV UTF-8'), or convert it, e.g. "
            "iconv -f cp1252 -t utf-8 for a Windows export.") from None


def sniff_delimiter(text: str, delimiter: str | None) -> str:
    """`delimiter` when given, else csv.Sniffer's choice among DELIMITERS over the header and 10 lines."""
    if delimiter is not None:
        return delimiter
    sample = "".join(text[: 1 << 20].splitlines(keepends=True)[:11])  # a prefix: never copy a 100 MB text
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:  # a single column (nothing to split), or no consistent candidate: the comma of the name
        return ","


def describe_delimiter(char: str, given: str | None) -> str:
    return f"{char!r} ({'data.delimiter' if given is not None else 'detected; set data.delimiter to override'})"


class Series(NamedTuple):
    """The named columns as float64 (T, C), NaN where missing; times in seconds (UTC) or None; file lines;
    the group column's values (str) or None."""

    table: np.ndarray
    times: np.ndarray | None
    lines: np.ndarray
    groups: np.ndarray | None = None


def read_series(path: Path, columns: Sequence[str], time_column: str | None = None,
                time_format: str | None = None, delimiter: str | None = None,
                group_column: str | None = None) -> Series:
    """The numeric `columns` (NA/empty cells NaN), the parsed `time_column` and the `group_column`'s text;
    bad rows name file and line."""
    text = read_text(path)
    sep = sniff_delimiter(text, delimiter)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=sep)  # LF, CRLF or CR
    header = next(reader, None)
    if header is None:
        raise CorruptFileError(f"{path} is empty")
    wanted = list(columns) + [c for c in (time_column, group_column) if c]
    absent = [c for c in wanted if c not in header]
    if absent:
        raise ValueError(f"{path} has no column(s) {absent}; its columns, split at "
                         f"{describe_delimiter(sep, delimiter)}, are {header}")
    idx = [header.index(c) for c in columns]
    t_idx = header.index(time_column) if time_column else None
    g_idx = header.index(group_column) if group_column else None
    rows, stamps, lines, groups = [], [], [], []
    for row in reader:
        if not row:  # blank line
            continue
        if len(row) != len(header):
            raise CorruptFileError(
                f"{path}:{reader.line_num}: {len(row)} values, but the header (line 1) names {len(header)} "
                "columns: every column after the first difference would be read one place off. Make the "
                "header name each column of the rows (check the delimiter and a missing or extra name).")
        try:
            rows.append([math.nan if row[i].strip().lower() in MISSING else float(row[i]) for i in idx])
        except ValueError:
            comma = " (a decimal comma? write numbers with a point)" if sep != "," and "," in "".join(row) else ""
            raise CorruptFileError(f"{path}:{reader.line_num}: not a number in columns {list(columns)}{comma}: "
                                   f"{row}") from None
        stamps.append(row[t_idx] if t_idx is not None else "")
        groups.append(row[g_idx].strip() if g_idx is not None else "")
        lines.append(reader.line_num)
    if not rows:
        raise CorruptFileError(f"{path} has a header but no rows")
    lines_arr = np.array(lines)
    times = parse_times(stamps, time_format, path, lines_arr, time_column) if time_column else None
    return Series(np.array(rows, dtype=np.float64), times, lines_arr, np.array(groups) if group_column else None)


def _parser(first: str, time_format: str | None) -> tuple[Callable[[str], datetime], str]:
    """A str -> datetime function and its description: `time_format`, else detected from the first value."""
    if time_format:
        return (lambda v: datetime.strptime(v.strip(), time_format)), f"data.time_format={time_format!r}"
    try:
        datetime.fromisoformat(first.strip())
        return (lambda v: datetime.fromisoformat(v.strip())), "ISO 8601"
    except ValueError:
        datetime.strptime(first.strip(), JENA_FORMAT)  # a ValueError here: no known layout
        return (lambda v: datetime.strptime(v.strip(), JENA_FORMAT)), f"Jena's {JENA_FORMAT!r}"


def parse_times(values: Sequence[str], time_format: str | None, path: Path, lines: np.ndarray,
                column: str) -> np.ndarray:
    """Seconds since 1970 as int64 (times without a zone are read as UTC, those with one converted to it)."""
    try:
        parse, layout = _parser(values[0], time_format)
    except ValueError:
        raise CorruptFileError(f"{path}:{lines[0]}: time {values[0]!r} in column {column!r} is not {AUTO_HELP}: "
                               "set data.time_format to its strptime format (e.g. '%m/%d/%Y %H:%M').") from None
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            out[i] = calendar.timegm(parse(value).utctimetuple())
        except ValueError:
            raise CorruptFileError(f"{path}:{lines[i]}: time {value!r} in column {column!r} does not match the "
                                   f"layout of the first row ({layout}).") from None
    return out


def regular_rows(times: np.ndarray, lines: np.ndarray, path: Path, column: str) -> tuple[np.ndarray, int]:
    """(row position of each timestamp on the regular grid, step in seconds); refuses unordered times."""
    if len(times) < 2:
        return np.zeros(len(times), dtype=np.int64), 0
    gaps = np.diff(times)
    bad = np.flatnonzero(gaps <= 0)
    if len(bad):
        i = bad[0] + 1
        what = "repeats the time of" if gaps[i - 1] == 0 else "is earlier than the time of"
        raise CorruptFileError(f"{path}:{lines[i]}: the time in column {column!r} ({stamp(times[i])}) {what} line "
                               f"{lines[i - 1]}: times must increase strictly. {UNORDERED_HELP}")
    values, counts = np.unique(gaps, return_counts=True)
    step = int(values[np.argmax(counts)])  # the most common spacing: a regular series' step
    off = np.flatnonzero(gaps % step)
    if len(off):
        i = off[0] + 1
        raise CorruptFileError(f"{path}:{lines[i]}: the time in column {column!r} ({stamp(times[i])}) is "
                               f"{gaps[i - 1]} s after line {lines[i - 1]}, not a multiple of the series' step of "
                               f"{step} s (its most common spacing): the rows are not evenly spaced. {UNORDERED_HELP}")
    return (times - times[0]) // step, step


def stamp(seconds: int) -> str:
    """A time in seconds since 1970 as 'YYYY-mm-dd HH:MM:SS' (UTC)."""
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fill_missing_times(series: Series, path: Path, column: str) -> tuple[np.ndarray, int, int]:
    """(table on the regular grid, missing timestamps filled with NaN rows, step in seconds)."""
    positions, step = regular_rows(series.times, series.lines, path, column)
    full = np.full((int(positions[-1]) + 1, series.table.shape[1]), np.nan)
    full[positions] = series.table
    return full, len(full) - len(series.table), step
