"""Shared fixtures: configs composed from the real conf/ tree, tiny data in real formats."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from fakedata import write_mnist
from litzoo.run.compose import compose_config

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
os.environ.pop("LITZOO_DATA", None)  # tests never read a developer's data folder unless they ask
# Tiny tensors: one thread is as fast, and a loaded 2-core machine can't stall step-by-step RNN loops.
torch.set_num_threads(1)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose_config with the run directory, logs and data under tmp_path, on CPU."""

    def _make(*overrides: str) -> DictConfig:
        base = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run", "trainer.accelerator=cpu"]
        return compose_config(base + list(overrides))

    return _make


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data_dir holding a tiny generated MNIST (240 train, 60 test) in IDX .gz files."""
    write_mnist(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real datasets folder beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not present")
    return SHARED_DATA
