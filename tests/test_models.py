"""Every model config (and the seeds' variations): builds without data files, forward shape, no NaN, backward,
Keras parameter counts, and the per-row `# (None, ...)  params` comments of its YAML against the built model.

Expected numbers live in one table, expected_params.py, each entry keyed by the model config's name
(`<config>:<variation>` for variations):
  {"keras_total": int,            # Keras' "Total params" (what litzoo-summary reports as Keras' count)
   "trainable": int,              # trainable parameters of the PyTorch model
   "torch_total": int (optional), # when PyTorch's layout differs from Keras'
   "output": tuple,               # output shape without batch
   "overrides": [..] (optional)}  # extra overrides (a variation, or random weights instead of a download)
A model config without an entry fails: new models must state their numbers.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from expected_params import EXPECTED
from litzoo.run.compose import CONF_DIR
from litzoo.models import layers as L
from litzoo.models import sequence as S
from litzoo.summary import count_params, summary_rows

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
SHAPE = re.compile(r"#.*?(\(None(?:, \d+)*\))(?:\s+([\d,]+))?")


def compose(name: str, make_cfg) -> DictConfig:
    """The model with its experiment (which picks the matching data shapes) when there is one."""
    config = name.split(":")[0]
    base = [f"experiment={config}"] if (CONF_DIR / "experiment" / f"{config}.yaml").exists() else [f"model={config}"]
    return make_cfg(*base, *EXPECTED[name].get("overrides", []))


def keras_total(net: torch.nn.Module) -> int:
    rows = summary_rows(net)
    total, _ = count_params(net)
    return total + sum(r.keras_params - r.params for r in rows if r.keras_params is not None)


def row_comments(path: Path) -> list[tuple[str, int | None] | None]:
    """Per item of the YAML's `layers:` list: (shape, params) from its `# (None, ...)  n` comment, or None."""
    items: list[list[str]] = []
    in_layers = False
    for line in path.read_text().splitlines():
        if line.startswith("layers:"):
            in_layers = True
        elif in_layers and line.startswith("  - "):
            items.append([line])
        elif in_layers and line.startswith("    ") and items:
            items[-1].append(line)
        elif in_layers and line.strip() and not line.startswith(" "):
            in_layers = False
    found = []
    for item in items:
        match = next((m for m in map(SHAPE.search, item) if m), None)
        found.append(None if match is None else (match[1], int(match[2].replace(",", "")) if match[2] else None))
    return found


def test_every_model_config_has_an_entry() -> None:
    missing = [m for m in MODELS if m not in EXPECTED]
    assert not missing, f"conf/model/{missing}.yaml: no entry in tests/expected_params.py"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_config(name: str, make_cfg) -> None:
    want = EXPECTED[name]
    net = instantiate(compose(name, make_cfg).model)
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


@pytest.mark.parametrize("name", MODELS)
def test_yaml_row_comments_match_the_summary(name: str, make_cfg) -> None:
    cfg = compose(name, make_cfg)
    comments = row_comments(CONF_DIR / "model" / f"{name}.yaml")
    kept = [c for c, spec in zip(comments, cfg.model.layers) if spec.get("when", True)]  # `when` drops a layer
    rows = summary_rows(instantiate(cfg.model))
    rows = rows[len(rows) - len(kept):]  # a transfer model's base is one extra row before its layers
    assert len(rows) == len(kept)
    checked = 0
    for comment, row in zip(kept, rows):
        if comment is None:
            continue
        shape, params = comment
        assert row.shape == shape, f"conf/model/{name}.yaml: {row.name} comment says {shape}, the model {row.shape}"
        if params is not None:
            assert (row.keras_params if row.keras_params is not None else row.params) == params, row.name
        checked += 1
    assert checked or name == "day27_conv16", f"conf/model/{name}.yaml has no per-row shape comments"


@pytest.mark.parametrize("make, fan", [
    (lambda: L.Conv2D(3, 32, 3), (3 * 9, 32 * 9)),
    (lambda: L.Dense(100, 10), (100, 10)),
    (lambda: S.Conv1D(8, 16, 5), (8 * 5, 16 * 5)),
])
def test_dense_and_conv_layers_start_from_keras_initialisers(make, fan) -> None:
    """Keras' glorot_uniform kernel and zero bias, not PyTorch's kaiming_uniform(a=sqrt(5)) and uniform bias:
    the MNIST seed recipe reached 0.9894-0.9898 test accuracy at seed 42 with PyTorch's, 0.9913 with Keras'."""
    torch.manual_seed(0)
    layer = make()
    limit = (6 / sum(fan)) ** 0.5
    assert torch.count_nonzero(layer.bias) == 0
    w = layer.weight.detach()
    assert w.abs().max() <= limit and w.abs().max() > 0.9 * limit  # glorot's bound is reached, kaiming's is sqrt(1/fan_in)
    assert w.std() == pytest.approx(limit / 3 ** 0.5, rel=0.15)


@pytest.mark.parametrize("name, std", [("he_uniform", (2 / 400) ** 0.5), ("he_normal", (2 / 400) ** 0.5),
                                       ("lecun_normal", (1 / 400) ** 0.5), ("glorot_normal", (2 / 700) ** 0.5)])
def test_kernel_initializer_takes_keras_names(name: str, std: float) -> None:
    torch.manual_seed(0)
    layer = L.Dense(400, 300, kernel_initializer=name)
    assert layer.weight.std().item() == pytest.approx(std, rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0


def test_torch_default_initializer_and_bad_names() -> None:
    torch.manual_seed(0)
    layer = L.Conv2D(16, 32, 3, kernel_initializer="torch_default")  # kaiming_uniform(a=sqrt(5)): bound 1/sqrt(fan_in)
    assert layer.weight.abs().max() <= 1 / 144 ** 0.5 and torch.count_nonzero(layer.bias) > 0
    with pytest.raises(ValueError, match="kernel_initializer must be one of .*he_uniform.*got 'xavier'"):
        L.Dense(3, 3, kernel_initializer="xavier")


def test_a_model_level_kernel_initializer_is_every_layers_default() -> None:
    from litzoo.models.sequential import sequential

    torch.manual_seed(0)
    net = sequential([1, 8, 8], [{"type": "Conv2D", "filters": 4, "kernel_size": 3},
                                 {"type": "Flatten"},
                                 {"type": "Dense", "units": 3, "kernel_initializer": "glorot_uniform"}],
                     kernel_initializer="torch_default")
    assert torch.count_nonzero(net.conv2d.bias) > 0  # the model's default: PyTorch's uniform bias
    assert torch.count_nonzero(net.dense.bias) == 0  # a layer's own choice wins
