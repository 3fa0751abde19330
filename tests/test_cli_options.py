"""A command's own key=value options (litzoo-eval's split=, litzoo-visualize's layer=) apart from config
overrides: one reading, the same as every override's (litzoo.run.compose.split_override)."""
from __future__ import annotations

import pytest

from litzoo.cli import own_options
from litzoo.cli.visualize import parse_args


def test_own_options_and_overrides_apart() -> None:
    options, overrides = own_options(["split=all", "data.folder=/x", "split=test", "+split=1", "~split"], ["split"])
    assert options == {"split": "test"}  # the last one wins
    assert overrides == ["data.folder=/x", "+split=1", "~split"]  # '+'/'~' are Hydra's: config keys


def test_visualize_types_its_options_and_refuses_a_bare_word() -> None:
    options, overrides = parse_args(["layer=conv2d", "images=3", "step=0.5", "paths.data_dir=/d"])
    assert options == {"layer": "conv2d", "images": 3, "step": 0.5} and overrides == ["paths.data_dir=/d"]
    with pytest.raises(SystemExit, match="must be a int"):
        parse_args(["images=many"])
    with pytest.raises(SystemExit, match="is not key=value"):
        parse_args(["conv2d"])
