"""Text vectorisation of the seed notes (DLwP 6.1): tokens, a top-N index, multi-hot, padded sequences,
characters, the hashing trick and word n-grams (GloVe files: litzoo.data.glove).

Index convention: Keras' `imdb.load_data()` (imdb.npz) exactly, so `num_words` means what it means there:
0 = padding, 1 = start of sequence, 2 = out of vocabulary, 3 = reserved (never produced), and the token
of frequency rank r (1 = most frequent in the TRAINING texts) gets r + 3 (Keras' `index_from=3`). Only
indices < num_words are kept, so num_words=10,000 keeps 9,996 words, and DLwP's decoding recipe
`reverse_word_index.get(i - 3, '?')` works unchanged. Ties in frequency keep first-seen order.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, START, OOV = 0, 1, 2
INDEX_FROM = 3
FIRST_INDEX = INDEX_FROM + 1  # index of the most frequent token
TOKEN_KINDS = ("words", "chars")
_WORD = re.compile(r"[a-z0-9']+")  # Keras Tokenizer: lower-case, punctuation is a separator, ' is kept


def clean(text: str) -> str:
    """Lower-case, with the IMDB reviews' HTML line breaks turned into spaces."""
    return text.replace("<br />", " ").lower()


def tokenize(text: str, tokens: str = "words", ngrams: int = 1) -> list[str]:
    """Words (with all word n-grams up to `ngrams`, a bag-of-n-grams, DLwP 6.1) or characters."""
    if tokens not in TOKEN_KINDS:
        raise ValueError(f"tokens must be one of {TOKEN_KINDS}, got {tokens!r}")
    if ngrams < 1:
        raise ValueError(f"ngrams must be >= 1, got {ngrams!r}")
    if tokens == "chars":
        return list(clean(text))
    words = _WORD.findall(clean(text))
    grams = [" ".join(words[i:i + n]) for n in range(2, ngrams + 1) for i in range(len(words) - n + 1)]
    return words + grams


def build_vocabulary(token_lists: Iterable[Sequence[str]], num_words: int) -> list[str]:
    """Tokens by frequency rank, the most frequent first; token i gets index FIRST_INDEX + i (< num_words)."""
    if num_words <= FIRST_INDEX:
        raise ValueError(f"num_words must be > {FIRST_INDEX} (0-3 are reserved), got {num_words!r}")
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return [w for w, _ in counts.most_common(num_words - FIRST_INDEX)]


def hash_index(token: str, num_words: int) -> int:
    """The hashing trick (DLwP 6.1.1) with a stable hash (crc32; Python's hash() changes between runs)."""
    return FIRST_INDEX + zlib.crc32(token.encode("utf-8")) % (num_words - FIRST_INDEX)


def encode(tokens: Sequence[str], index: dict[str, int] | None, num_words: int) -> np.ndarray:
    """[START, id, id, ...] as int32: ids from `index` (OOV when absent) or hashed when index is None."""
    if index is None:
        ids = [hash_index(t, num_words) for t in tokens]
    else:
        ids = [index.get(t, OOV) for t in tokens]
    return np.array([START, *ids], dtype=np.int32)


def encode_corpus(train: Sequence[str], test: Sequence[str], tokens: str = "words", num_words: int = 10_000,
                  ngrams: int = 1, hashing: bool = False) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Token ids for train and test texts; the vocabulary comes from the training texts only."""
    train_tokens = [tokenize(t, tokens, ngrams) for t in train]
    vocabulary = [] if hashing else build_vocabulary(train_tokens, num_words)
    index = None if hashing else {w: FIRST_INDEX + i for i, w in enumerate(vocabulary)}
    train_ids = [encode(t, index, num_words) for t in train_tokens]
    test_ids = [encode(tokenize(t, tokens, ngrams), index, num_words) for t in test]
    return train_ids, test_ids, vocabulary


def pad_sequences(sequences: Sequence[np.ndarray], maxlen: int, padding: str = "pre", truncating: str = "pre",
                  value: int = PAD) -> np.ndarray:
    """keras.preprocessing.sequence.pad_sequences: (N, maxlen) int64; defaults pad and cut at the front."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"padding/truncating must be 'pre' or 'post', got {padding!r}/{truncating!r}")
    if maxlen < 1:
        raise ValueError(f"maxlen must be >= 1, got {maxlen!r}")
    out = np.full((len(sequences), maxlen), value, dtype=np.int64)
    for i, seq in enumerate(sequences):
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if len(seq):
            if padding == "pre":
                out[i, maxlen - len(seq):] = seq
            else:
                out[i, :len(seq)] = seq
    return out


def multi_hot(sequences: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """DLwP's vectorize_sequences: row i has 1 at every index in sequence i (counts and order are lost)."""
    out = np.zeros((len(sequences), dim), dtype=bool)
    lengths = np.array([len(s) for s in sequences])
    if lengths.sum():
        out[np.repeat(np.arange(len(sequences)), lengths), np.concatenate(sequences)] = True
    return out
