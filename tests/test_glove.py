"""GloVe vectors are read on the data side (litzoo.data.glove) and handed to the Embedding as a matrix."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fakedata_text import write_glove
from litzoo.data.base import CorruptFileError, DatasetNotFoundError
from litzoo.data.glove import load_glove
from litzoo.models.sequence import Embedding

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "litzoo" / "models"


def test_matrix_rows_follow_the_vocabulary_and_missing_words_stay_zero(tmp_path) -> None:
    vectors = write_glove(tmp_path / "glove.txt", ["the", "film", "unused"], dim=4)
    matrix, found = load_glove(tmp_path / "glove.txt", ["the", "film", "absent"], first_index=4, num_rows=8, dim=4)
    assert found == 2 and matrix.shape == (8, 4)
    np.testing.assert_allclose(matrix[4].numpy(), vectors["the"], rtol=1e-6)
    np.testing.assert_allclose(matrix[5].numpy(), vectors["film"], rtol=1e-6)
    assert matrix[:4].abs().sum() == 0 and matrix[6:].abs().sum() == 0  # reserved rows, "absent", unused rows


def test_errors_name_the_file_and_the_problem(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nope.txt.*glove.6B.100d.txt"):
        load_glove(tmp_path / "nope.txt", ["a"], 4, 8, 4)
    (tmp_path / "g.txt").write_text("a 1 2 3\n")
    with pytest.raises(CorruptFileError, match="g.txt:1: 3 values for 'a'.*output_dim=4"):
        load_glove(tmp_path / "g.txt", ["a"], 4, 8, 4)


def test_embedding_receives_a_matrix() -> None:
    emb = Embedding(6, 3, trainable=False)
    matrix = torch.arange(18.0).view(6, 3)
    emb.set_weights(matrix)
    assert torch.equal(emb.weight, matrix) and not emb.weight.requires_grad
    with pytest.raises(ValueError, match=r"shape \(6, 3\).*got \(5, 3\)"):
        emb.set_weights(torch.zeros(5, 3))


def test_models_read_no_data_files() -> None:
    """models/ never imports litzoo.data and reads no file except pretrained base weights (torch.load)."""
    for path in MODELS_DIR.glob("*.py"):
        source = path.read_text()
        imports_data = r"^\s*(from|import) litzoo\.data|^\s*from litzoo import .*\bdata\b"
        assert not re.search(imports_data, source, re.M), path.name
        assert not re.search(r"\bopen\(|read_text|np\.load", source), path.name
