"""Pretrained word vectors in GloVe's text format (DLwP 6.1.3): an embedding matrix for a vocabulary.

The task hands its network and the data module's `vocabulary` to `fill_pretrained_embeddings` when fitting
starts, which builds the matrix and gives it to the model's Embedding (`set_weights`), as the book's
`embedding_matrix` does.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from litzoo.data import text
from litzoo.data.base import CorruptFileError, DatasetNotFoundError


def load_glove(path: str | Path, vocabulary: Sequence[str], first_index: int, num_rows: int,
               dim: int) -> tuple[torch.Tensor, int]:
    """(num_rows, dim) matrix from `word v1 ... vN` lines: word i of `vocabulary` -> row first_index + i.

    Rows of words the file lacks (and the reserved rows below `first_index`) stay 0, as in DLwP; returns
    the matrix and the number of vocabulary words found.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"GloVe file {path} not found (e.g. glove.6B.100d.txt from "
                                   "https://nlp.stanford.edu/projects/glove/; set the Embedding's embeddings_file)")
    wanted = {w: first_index + i for i, w in enumerate(vocabulary) if first_index + i < num_rows}
    matrix = torch.zeros(num_rows, dim)
    found = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            word, *values = line.rstrip("\n").rstrip(" ").split(" ")
            if len(values) != dim:
                raise CorruptFileError(f"{path}:{lineno}: {len(values)} values for {word!r}, the Embedding "
                                       f"has output_dim={dim}")
            row = wanted.get(word)
            if row is not None:
                try:
                    matrix[row] = torch.tensor([float(v) for v in values])
                except ValueError:
                    raise CorruptFileError(f"{path}:{lineno}: non-numeric value in the vector of {word!r}") from None
                found += 1
    return matrix, found


def fill_pretrained_embeddings(module: nn.Module, vocabulary: Sequence[str]) -> list[str]:
    """Give every Embedding that names an `embeddings_file` (GloVe format) its matrix for this vocabulary."""
    from litzoo.models.sequence import Embedding

    filled = []
    for name, m in module.named_modules():
        if isinstance(m, Embedding) and m.embeddings_file:
            if not vocabulary:
                raise ValueError("pretrained embeddings need a word vocabulary; they cannot be used with hashing=true")
            matrix, found = load_glove(m.embeddings_file, vocabulary, text.FIRST_INDEX, m.num_embeddings,
                                       m.embedding_dim)
            m.set_weights(matrix)
            print(f"{name}: {found:,} of {min(len(vocabulary), m.num_embeddings - text.FIRST_INDEX):,} words "
                  f"found in {m.embeddings_file} ({'trainable' if m.weight.requires_grad else 'frozen'})")
            filled.append(name)
    return filled
