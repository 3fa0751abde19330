"""The Large Movie Review Dataset (IMDB), read from aclImdb_v1.tar.gz or an extracted aclImdb/ tree.

Reviews are tokenised once and cached under `cache_dir` as token ids (keyed by the source file and the
tokenisation settings; litzoo.cache writes them atomically and rebuilds a damaged one); a later run only
pads or multi-hots the cached ids. The vocabulary is built from the training reviews only (index
convention: litzoo.data.text). Like Keras' imdb.npz, both splits are
shuffled once with seed 113, so Keras' `validation_split` (the last fraction) holds both classes.
"""
from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from litzoo import cache
from litzoo.data import text
from litzoo.data.base import (
    CorruptFileError,
    DatasetNotFoundError,
    InMemoryDataModule,
    announce,
    missing_files_message,
)
from litzoo.data.resolvers import text_shape

ARCHIVE = "aclImdb_v1.tar.gz"
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")
SHUFFLE_SEED = 113  # keras.datasets.imdb.load_data(seed=113)
MODES = ("multihot", "sequence")


def find_source(data_dir: str | Path) -> Path:
    """The extracted aclImdb/ tree if present, else the archive; a clear error when neither is there."""
    folder = Path(data_dir).expanduser()
    tree, archive = folder / "aclImdb", folder / ARCHIVE
    if (tree / "train").is_dir() and (tree / "test").is_dir():
        return tree
    if archive.is_file():
        return archive
    raise DatasetNotFoundError(missing_files_message(
        "IMDB (Large Movie Review Dataset)", folder,
        [ARCHIVE, "or aclImdb/{train,test}/{pos,neg}/*.txt"],
        f"Download https://ai.stanford.edu/~amaas/data/sentiment/{ARCHIVE} into that folder (no need to extract it)."))


def _members(source: Path) -> Iterator[tuple[str, bytes]]:
    if source.is_dir():
        for path in source.glob("*/*/*.txt"):
            yield path.relative_to(source.parent).as_posix(), path.read_bytes()
        return
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                if member.isfile() and _MEMBER.search(member.name):
                    yield member.name, tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise CorruptFileError(f"cannot read the IMDB archive {source}: {err}") from None


def read_reviews(source: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """{'train'|'test': (texts, labels)}; label 1 = pos; each split shuffled with Keras' seed 113."""
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for name, raw in _members(source):
        m = _MEMBER.search(name)
        if m:
            split, label, file_id = m.group(1), int(m.group(2) == "pos"), int(m.group(3))
            found[split].append((label, file_id, raw.decode("utf-8", errors="replace")))
    out = {}
    for split, items in found.items():
        if not items:
            raise CorruptFileError(f"{source} has no aclImdb/{split}/{{pos,neg}}/*.txt reviews")
        items.sort(key=lambda t: (t[0], t[1]))  # tree and archive give the same order
        order = np.random.default_rng(SHUFFLE_SEED).permutation(len(items))
        out[split] = ([items[i][2] for i in order], np.array([items[i][0] for i in order], dtype=np.int64))
    return out


def _ragged(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0, *map(len, seqs)])
    return (np.concatenate(seqs) if seqs else np.zeros(0, np.int32)), offsets


def _unragged(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return np.split(flat, offsets[1:-1])


def encoded_reviews(source: Path, cache_dir: str | Path, tokens: str, num_words: int, ngrams: int,
                    hashing: bool) -> tuple[dict[str, tuple[list[np.ndarray], np.ndarray]], list[str], bool]:
    """Token ids per split, the vocabulary, and whether the cache answered (tokenising is the slow part)."""
    stat = source.stat()
    settings = {"source": str(source.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime),
                "tokens": tokens, "num_words": num_words, "ngrams": ngrams, "hashing": hashing}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir).expanduser() / "imdb" / f"{tokens}-{num_words}-{key}.npz"
    z = cache.load_arrays(path, settings)
    if z is not None:
        splits = {s: (_unragged(z[f"{s}_ids"], z[f"{s}_offsets"]), z[f"{s}_labels"]) for s in ("train", "test")}
        return splits, [str(w) for w in z["vocabulary"]], True
    reviews = read_reviews(source)
    train_ids, test_ids, vocabulary = text.encode_corpus(reviews["train"][0], reviews["test"][0], tokens, num_words,
                                                         ngrams, hashing)
    splits = {"train": (train_ids, reviews["train"][1]), "test": (test_ids, reviews["test"][1])}
    arrays = {}
    for s, (ids, labels) in splits.items():
        arrays[f"{s}_ids"], arrays[f"{s}_offsets"] = _ragged(ids)
        arrays[f"{s}_labels"] = labels
    cache.save_arrays(path, settings, {"vocabulary": np.array(vocabulary, dtype=str), **arrays})
    return splits, vocabulary, False


class ImdbDataModule(InMemoryDataModule):
    """IMDB sentiment (25k train, 25k test) as multi-hot vectors or padded integer sequences."""

    runtime_keys = ("data_dir", "cache_dir", "eval_batch_size")  # where the data lives: resumable (base.py)

    def __init__(self, data_dir: str, cache_dir: str, mode: str = "sequence", tokens: str = "words",
                 num_words: int = 10_000, maxlen: int | None = None, ngrams: int = 1, hashing: bool = False,
                 **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments; input_shape follows mode, maxlen and num_words."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "sequence" and not maxlen:
            raise ValueError("mode='sequence' needs maxlen (pad_sequences length)")
        super().__init__(**{"input_shape": text_shape(mode, maxlen, num_words), **common})
        self.data_dir, self.cache_dir = data_dir, cache_dir
        self.mode, self.tokens, self.num_words, self.maxlen = mode, tokens, num_words, maxlen
        self.ngrams, self.hashing = ngrams, hashing
        self.vocabulary: list[str] = []  # known once loaded; the task fills pretrained Embeddings from it
        self.class_names = ["neg", "pos"]  # label 1 = aclImdb's pos/ folder
        self.from_cache = False

    def vectorise(self, seqs: Sequence[np.ndarray]) -> Tensor:
        if self.mode == "multihot":  # bool in memory (1/4 of float32), float per batch (the base's to-float step)
            return torch.from_numpy(text.multi_hot(seqs, self.num_words))
        return torch.from_numpy(text.pad_sequences(seqs, self.maxlen))

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        source = find_source(self.data_dir)
        splits, self.vocabulary, self.from_cache = encoded_reviews(source, self.cache_dir, self.tokens, self.num_words,
                                                                   self.ngrams, self.hashing)
        self._describe(len(splits["train"][1]), len(splits["test"][1]))
        return {s: (self.vectorise(ids), torch.from_numpy(labels)) for s, (ids, labels) in splits.items()}

    def _describe(self, n_train: int, n_test: int) -> None:
        words = (f"the hashing trick into {self.num_words - text.FIRST_INDEX:,} slots (no vocabulary)" if self.hashing
                 else f"a vocabulary of {len(self.vocabulary):,} {self.tokens} (num_words={self.num_words:,}, "
                      "from the training reviews)")
        shape = (f"multi-hot vectors of {self.num_words:,}" if self.mode == "multihot"
                 else f"sequences padded/truncated to maxlen={self.maxlen} tokens")
        announce(f"IMDB {'(from the token cache) ' if self.from_cache else ''}reviews: train {n_train:,} "
                 f"(the last {self.val_split:.0%} for validation), test {n_test:,}; {words}; {shape}")
