"""Exact resume: 1 epoch + resume to 3 == 3 epochs straight (data order and dropout RNG included)."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from litzoo.run.fit import train

KEYS = ("last/loss", "last/acc", "last/val_loss", "last/val_acc", "best/val_loss", "test/loss", "test/acc")


def _cfg(make_cfg, run_dir: Path, *extra: str) -> DictConfig:
    cfg = make_cfg("experiment=mnist_convnet", "data.download=false", "data.batch_size=32",
                   f"paths.output_dir={run_dir}", *extra)
    with open_dict(cfg):  # dropout makes the global RNG matter: it must be restored on resume
        cfg.model.layers.insert(6, {"type": "Dropout", "rate": 0.5})
    return cfg


def test_resume_equals_uninterrupted(make_cfg, mnist_root: Path, tmp_path: Path) -> None:
    straight = train(_cfg(make_cfg, tmp_path / "a", "trainer.max_epochs=3"))
    first = train(_cfg(make_cfg, tmp_path / "b", "trainer.max_epochs=1"))
    resumed = train(_cfg(make_cfg, tmp_path / "b", "trainer.max_epochs=3", f"ckpt_path={tmp_path / 'b'}"))
    assert first["epochs"] == 1 and resumed["epochs"] == 3
    assert resumed["global_step"] == straight["global_step"]
    assert resumed["resumes"][-1]["checkpoint"].endswith("last.ckpt")
    for key in KEYS:
        assert resumed["metrics"][key] == pytest.approx(straight["metrics"][key], abs=1e-6), key
    assert resumed["best_epoch"] == straight["best_epoch"]
    # same run directory, same TensorBoard run: the resumed events sit beside the first ones
    assert len(list((tmp_path / "b").glob("events.out.tfevents.*"))) >= 2
    assert not list((tmp_path / "b" / "checkpoints").glob(".*.tmp"))  # no temp files left by atomic saves


def test_resume_without_checkpoint_is_a_clear_error(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(f"ckpt_path={tmp_path}", "trainer.max_epochs=1")
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        train(cfg)


def test_run_dir_resolution(tmp_path: Path) -> None:
    """hydra.run.dir: ckpt_path=last -> newest run with last.ckpt; a run dir or a .ckpt -> that run."""
    import os

    from litzoo.run.compose import _run_dir_resolver
    from litzoo.run.resume import find_run_dir

    old, new = tmp_path / "2026-01-01_00-00-00", tmp_path / "2026-01-02_00-00-00"
    for i, run in enumerate((old, new)):
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
        os.utime(run / "checkpoints" / "last.ckpt", (1000 + i, 1000 + i))
    assert find_run_dir(tmp_path, "last") == new
    assert find_run_dir(tmp_path, str(old)) == old
    assert find_run_dir(tmp_path, str(old / "checkpoints" / "last.ckpt")) == old
    fresh = Path(_run_dir_resolver(str(tmp_path)))
    assert fresh.parent == tmp_path and fresh.is_dir() and not any(fresh.iterdir())  # claimed, empty
    with pytest.raises(FileNotFoundError, match="ckpt_path"):
        find_run_dir(tmp_path / "nothing", "last")


def test_a_data_source_declares_its_own_resumable_keys(tmp_path: Path) -> None:
    """One rule for a resume and a sweep re-run: the image folder's `data.folder` may change (the source says
    so in its `runtime_keys`), its `data.target_size` may not; nothing is listed elsewhere for either."""
    from litzoo.data.image_folder import ImageFolderDataModule
    from litzoo.run.resume import changed_settings

    assert "folder" in ImageFolderDataModule.runtime_keys
    before = ["data=image_folder", "model=cats_dogs_small_convnet"]
    changed, refused, _, _ = changed_settings(before, [*before, "data.folder=elsewhere", "trainer.max_epochs=9"],
                                              tmp_path)
    assert changed == ["data.folder", "trainer.max_epochs"] and refused == []
    _, refused, _, _ = changed_settings(before, [*before, "data.target_size=[64,64]"], tmp_path)
    assert "data.target_size" in refused
