"""Tiny text and sequence data in the real formats: an aclImdb tree and tarball, a GloVe file, a climate CSV."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "worst"]
FILLER = ["the", "movie", "film", "a", "plot", "actor", "and", "was", "it", "of"]
TEST_ONLY_WORD = "zyzzyva"  # appears in test reviews only: must map to out-of-vocabulary


def review(rng: np.random.Generator, positive: bool, split: str) -> str:
    words = list(rng.choice(FILLER, size=int(rng.integers(8, 30))))
    cue = POSITIVE if positive else NEGATIVE
    for _ in range(3):
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
    if split == "test":
        words.append(TEST_ONLY_WORD)
    return " ".join(words).capitalize() + ".<br /><br />The End!"


def imdb_reviews(n_per_class: int = 40, seed: int = 0) -> dict[str, str]:
    """{'aclImdb/<split>/<pos|neg>/<id>_<stars>.txt': text}."""
    rng = np.random.default_rng(seed)
    files = {}
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for i in range(n_per_class):
                stars = int(rng.integers(7, 11)) if label == "pos" else int(rng.integers(1, 5))
                files[f"aclImdb/{split}/{label}/{i}_{stars}.txt"] = review(rng, label == "pos", split)
    files["aclImdb/imdb.vocab"] = "\n".join(POSITIVE + NEGATIVE + FILLER)
    return files


def write_aclimdb_tree(root: Path, **kw: int) -> Path:
    for name, content in imdb_reviews(**kw).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root / "aclImdb"


def write_aclimdb_tar(root: Path, **kw: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content in imdb_reviews(**kw).items():
            data = content.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_glove(path: Path, words: list[str], dim: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A GloVe-format text file (`word v1 ... vdim`); returns the vectors written."""
    rng = np.random.default_rng(seed)
    vectors = {w: rng.normal(size=dim).round(4) for w in words}
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()), encoding="utf-8")
    return vectors


def write_climate_csv(path: Path, rows: int = 600, gaps: tuple[tuple[int, int], ...] = ()) -> np.ndarray:
    """A Jena-layout CSV: col A = row index, col B = 10 * sin, T = A / 10; `gaps` are (row, col) left empty
    (col 0 = A, 1 = B, 2 = T, written as '' or 'NA' alternately). Returns the full table without gaps."""
    t = np.arange(rows, dtype=float)
    table = np.stack([t, 10 * np.sin(t / 7), t / 10], axis=1)
    missing = set(gaps)
    lines = ['"Date Time","A (u)","B (u)","T (degC)"']
    for i in range(rows):
        cells = ["" if (i, c) in missing and (i + c) % 2 else "NA" if (i, c) in missing else f"{table[i, c]:.4f}"
                 for c in range(3)]
        lines.append(f"01.01.2009 {i // 6 % 24:02d}:{i % 6}0:00," + ",".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return table


TIME_LAYOUTS = {"jena": "%d.%m.%Y %H:%M:%S", "iso": "%Y-%m-%dT%H:%M:%SZ", "iso_space": "%Y-%m-%d %H:%M:%S",
                "us": "%m/%d/%Y %H:%M"}


def write_timed_csv(path: Path, rows: int = 400, skip: tuple[int, ...] = (), layout: str = "iso",
                    time_name: str = "time_hour", minutes: int = 60) -> np.ndarray:
    """A weather-station-like export with a real time column: row i of the regular grid is at 2013-01-01 +
    i * `minutes`, col A = i, col B = 10 * sin, T = A / 10; rows in `skip` are left out (missing timestamps).
    Returns the full grid table (skipped rows included)."""
    from datetime import datetime, timedelta

    t = np.arange(rows, dtype=float)
    table = np.stack([t, 10 * np.sin(t / 7), t / 10], axis=1)
    lines = [f'"{time_name}","A (u)","B (u)","T (degC)"']
    start = datetime(2013, 1, 1)
    for i in range(rows):
        if i not in skip:
            stamp = (start + timedelta(minutes=minutes * i)).strftime(TIME_LAYOUTS[layout])
            lines.append(f"{stamp}," + ",".join(f"{v:.4f}" for v in table[i]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return table
