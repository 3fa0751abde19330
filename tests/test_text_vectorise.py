"""litzoo.data.text: tokens, Keras' index convention, pad_sequences, multi-hot, hashing, n-grams, GloVe files."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from litzoo.data import text


def test_tokenize_words_chars_and_ngrams() -> None:
    assert text.tokenize("Don't like it.<br /><br />THE END!") == ["don't", "like", "it", "the", "end"]
    assert text.tokenize("the cat sat", ngrams=2) == ["the", "cat", "sat", "the cat", "cat sat"]
    assert text.tokenize("Ab c", tokens="chars") == ["a", "b", " ", "c"]
    with pytest.raises(ValueError, match="tokens must be one of"):
        text.tokenize("x", tokens="bytes")


def test_index_follows_keras_imdb_convention() -> None:
    """0 pad, 1 start, 2 OOV, 3 unused; rank r -> r + 3; only indices < num_words are kept."""
    train = [["b", "a", "b"], ["c", "b", "a", "d"]]
    vocab = text.build_vocabulary(train, num_words=7)  # room for indices 4, 5, 6
    assert vocab == ["b", "a", "c"]  # by count, ties in first-seen order (c before d)
    index = {w: text.FIRST_INDEX + i for i, w in enumerate(vocab)}
    ids = text.encode(["a", "d", "b", "c"], index, num_words=7)
    assert ids.tolist() == [text.START, 5, text.OOV, 4, 6]
    assert ids.max() < 7 and text.INDEX_FROM not in ids


def test_encode_corpus_builds_the_vocabulary_from_training_texts_only() -> None:
    train_ids, test_ids, vocab = text.encode_corpus(["good good film"], ["good unseen"], num_words=100)
    assert "unseen" not in vocab
    assert test_ids[0].tolist() == [text.START, text.FIRST_INDEX, text.OOV]
    assert train_ids[0].tolist() == [text.START, 4, 4, 5]


def test_pad_sequences_keras_defaults_pre_pad_and_pre_truncate() -> None:
    seqs = [np.array([1, 2, 3]), np.array([4, 5]), np.array([], dtype=np.int32)]
    assert text.pad_sequences(seqs, maxlen=2).tolist() == [[2, 3], [4, 5], [0, 0]]
    assert text.pad_sequences(seqs, maxlen=4).tolist() == [[0, 1, 2, 3], [0, 0, 4, 5], [0, 0, 0, 0]]
    assert text.pad_sequences(seqs, 2, padding="post", truncating="post").tolist() == [[1, 2], [4, 5], [0, 0]]
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        text.pad_sequences(seqs, 2, padding="middle")


def test_multi_hot_sets_each_index_once() -> None:
    out = text.multi_hot([np.array([1, 4, 4]), np.array([2])], dim=6)
    assert out.dtype == bool
    assert out.astype(int).tolist() == [[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]]


def test_hashing_is_stable_and_keeps_reserved_indices_free() -> None:
    assert text.hash_index("movie", 1000) == 4 + zlib.crc32(b"movie") % 996
    _, _, vocab = text.encode_corpus(["a b c"], ["d"], num_words=50, hashing=True)
    assert vocab == []
    ids = text.encode(["x", "y", "z"] * 50, None, num_words=50)
    assert ids[0] == text.START and ids[1:].min() >= text.FIRST_INDEX and ids.max() < 50
