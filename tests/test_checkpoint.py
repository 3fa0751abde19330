"""A crash or Ctrl-C while saving never leaves a half-written checkpoint; loads are weights_only."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

import litzoo.run.checkpoint as ckpt_mod
from litzoo.run.checkpoint import AtomicCheckpointIO
from litzoo.run.fit import train


def _torch_save_that_dies(exc: BaseException):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        real_save({"partial": torch.zeros(1000)}, f)  # some bytes reach the file, then the process "dies"
        raise exc

    return save


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_previous_file(tmp_path: Path, monkeypatch, exc: BaseException) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state": torch.arange(5)}, target)
    monkeypatch.setattr(ckpt_mod.torch, "save", _torch_save_that_dies(exc))
    with pytest.raises(type(exc)):
        io.save_checkpoint({"state": torch.arange(7)}, target)
    monkeypatch.undo()
    assert torch.equal(io.load_checkpoint(target)["state"], torch.arange(5))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_load_refuses_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"obj": Path("x")}, path)  # an arbitrary class: not allowed under weights_only
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        AtomicCheckpointIO().load_checkpoint(path)


def test_crash_during_training_leaves_resumable_last_ckpt(make_cfg, mnist_root: Path, tmp_path: Path,
                                                          monkeypatch) -> None:
    run = tmp_path / "run"
    common = ("experiment=mnist_convnet", "data.download=false", "data.batch_size=64")
    train(make_cfg(*common, "trainer.max_epochs=1"))
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    monkeypatch.setattr(ckpt_mod.torch, "save", _torch_save_that_dies(KeyboardInterrupt()))
    handler = signal.getsignal(signal.SIGINT)
    try:  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            train(make_cfg(*common, "trainer.max_epochs=2", f"ckpt_path={run}"))
    finally:
        signal.signal(signal.SIGINT, handler)
    monkeypatch.undo()
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before
    resumed = train(make_cfg(*common, "trainer.max_epochs=2", f"ckpt_path={run}"))
    assert resumed["epochs"] == 2
