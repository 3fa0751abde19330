"""Automatic precision: bf16-mixed on bf16 GPUs, 16-mixed on older GPUs, 32-true on CPU."""
from __future__ import annotations

import pytest
import torch

from litzoo.run.build import resolve_precision


@pytest.mark.parametrize(("cuda", "bf16", "accelerator", "expected"), [
    (False, False, "auto", "32-true"),
    (True, True, "auto", "bf16-mixed"),
    (True, False, "auto", "16-mixed"),
    (True, True, "gpu", "bf16-mixed"),
    (True, True, "cpu", "32-true"),
])
def test_auto_precision(monkeypatch, cuda: bool, bf16: bool, accelerator: str, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_precision(accelerator, None) == expected


def test_explicit_precision_wins(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_precision("auto", "32-true") == "32-true"


def test_cpu_run_is_fp32(make_cfg) -> None:
    from litzoo.run.build import build

    _, _, trainer = build(make_cfg("logger=none"))
    assert trainer.precision == "32-true"


def test_no_logger_drops_logger_only_callbacks(make_cfg) -> None:
    from pytorch_lightning.callbacks import LearningRateMonitor

    from litzoo.run.build import build

    _, _, trainer = build(make_cfg("logger=none"))
    assert trainer.logger is None
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
