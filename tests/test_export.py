"""litzoo-export (issue 20): the digits convnet to ONNX with parity against eager PyTorch (skipped without the
`export` extra), TorchScript, model.json, no silent overwrite, and a layer that cannot export named."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from litzoo.cli import export as export_cli
from litzoo.infer.export import blame, deployable, export_onnx
from litzoo.run.compose import compose_config
from litzoo.run.fit import train


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    cfg = compose_config([f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/run", "trainer.accelerator=cpu",
                          "experiment=digits_convnet", "trainer=debug", "logger=none", "callbacks=minimal"])
    train(cfg)
    return tmp / "run"


def test_onnx_export_matches_pytorch(digits_run: Path, capsys) -> None:
    pytest.importorskip("onnxruntime", reason="the optional extra litzoo[export] is not installed")
    export_cli.main([str(digits_run), "--format", "onnx"])
    folder = digits_run / "export" / "onnx"
    spec = json.loads((folder / "model.json").read_text())
    assert (folder / "model.onnx").is_file() and spec["input"]["shape"] == ["batch", 1, 28, 28]
    assert spec["output"]["classes"] == [str(i) for i in range(10)] and spec["parity"]["max_abs_diff"] <= 1e-4
    assert "16 test examples" in spec["parity"]["inputs"]  # real inputs, not random ones
    assert "ONNX Runtime vs eager PyTorch" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # an earlier export is never replaced without --force
        export_cli.main([str(digits_run), "--format", "onnx"])
    assert "--force" in capsys.readouterr().err
    export_cli.main([str(digits_run), "--format", "onnx", "--force"])


def test_torchscript_export_matches_pytorch(digits_run: Path, tmp_path: Path) -> None:
    export_cli.main([str(digits_run), "--format", "torchscript", "--out", str(tmp_path / "ts")])
    scripted = torch.jit.load(str(tmp_path / "ts" / "model.pt"))
    probs = scripted(torch.rand(3, 1, 28, 28))
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)


def test_a_layer_that_cannot_export_is_named() -> None:
    class Spectrum(nn.Module):  # torch's ONNX exporter has no aten::fft_rfft
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x).abs()

    net = nn.Sequential(nn.Linear(4, 4), Spectrum()).eval()
    with pytest.raises(torch.onnx.errors.UnsupportedOperatorError):
        export_onnx(net, torch.rand(2, 4), io.BytesIO())
    assert blame(net, torch.rand(2, 4), export_onnx).startswith("layer '1' (Spectrum) does not export (")


def test_dropout_stays_off_for_the_eager_reference() -> None:
    """Exporting puts the module back in the mode it found: the wrapper must be in eval mode as a whole, or the
    parity reference runs the network with dropout on (a GRU forecaster with dropout differed by 5 degrees)."""
    from types import SimpleNamespace

    pytest.importorskip("onnxruntime", reason="the optional extra litzoo[export] is not installed")
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model = deployable(SimpleNamespace(task=SimpleNamespace(net=net), is_classifier=True, facts={}))
    export_onnx(model, torch.rand(4, 8), io.BytesIO())
    assert not any(m.training for m in model.modules())
    x = torch.rand(4, 8)
    assert torch.equal(model(x), model(x))
