"""Every model config: builds without data files, forward shape, no NaN, backward, Keras parameter counts.

Expected numbers live in one table per model family (expected_params_*.py), each entry:
  {"keras_total": int,            # Keras' "Total params" (what litzoo-summary reports as Keras' count)
   "trainable": int,              # trainable parameters of the PyTorch model
   "torch_total": int (optional), # when PyTorch's layout differs from Keras'
   "output": tuple,               # output shape without batch
   "overrides": [..] (optional)}  # extra overrides for the test (e.g. random weights instead of a download)
A model config without an entry fails: new models must state their numbers.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from litzoo.summary import count_params, summary_rows
from litzoo.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
EXPECTED: dict = {}
for _path in sorted(Path(__file__).parent.glob("expected_params_*.py")):
    EXPECTED.update(importlib.import_module(_path.stem).EXPECTED)
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def model_overrides(name: str) -> list[str]:
    """Compose the model with its experiment (which picks the matching data shapes) when there is one."""
    base = [f"experiment={name}"] if (ROOT / "experiments" / f"{name}.yaml").exists() else [f"model={name}"]
    return base + list(EXPECTED.get(name, {}).get("overrides", []))


def keras_total(net: torch.nn.Module) -> int:
    rows = summary_rows(net)
    total, _ = count_params(net)
    return total + sum(r.keras_params - r.params for r in rows if r.keras_params is not None)


@pytest.mark.parametrize("name", MODELS)
def test_model_config(name: str, make_cfg) -> None:
    assert name in EXPECTED, f"conf/model/{name}.yaml has no entry in tests/expected_params_*.py"
    want = EXPECTED[name]
    net = instantiate(make_cfg(*model_overrides(name)).model)
    total, trainable = count_params(net)
    assert keras_total(net) == want["keras_total"]
    assert trainable == want["trainable"]
    if "torch_total" in want:
        assert total == want["torch_total"]
    assert tuple(net.output_shape) == tuple(want["output"])

    x = net.example_input(3)
    if x.is_floating_point():
        x = torch.randn_like(x)
    net.train()
    out = net(x)
    assert out.shape == (3, *want["output"])
    assert torch.isfinite(out).all()
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
