"""Lightning's own flags, tried the way a Lightning user would: each trains, or is refused before training
naming litzoo's own way. Tiny runs on the generated digits (trainer=debug: 1 epoch of 5 batches)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from litzoo.errors import LitzooError
from litzoo.run.build import build
from litzoo.run.fit import train

QUICK = ["trainer=debug", "callbacks=minimal"]  # no end-of-fit pictures: seconds a run


def test_fast_dev_run_trains_validates_tests_and_is_recorded_ok(make_cfg, tmp_path: Path) -> None:
    # Lightning swaps in its DummyLogger: the HPARAMS entry is skipped, not an AttributeError after testing
    results = train(make_cfg("+trainer.fast_dev_run=true", "callbacks=minimal"))
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == saved["status"] == "ok" and saved["error"] is None
    assert {"best/val_loss", "test/loss", "test/acc"} <= set(saved["metrics"])


def test_checkpointing_off_drops_litzoos_checkpoints_and_tests_the_last_weights(make_cfg, tmp_path: Path) -> None:
    results = train(make_cfg(*QUICK, "+trainer.enable_checkpointing=false"))
    assert results["status"] == "ok" and results["best_checkpoint"] is None
    assert "test/acc" in results["metrics"] and not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("switch", ["+trainer.enable_progress_bar=false", "callbacks.progress_bar=null"])
def test_progress_output_can_be_switched_off_entirely(make_cfg, tmp_path: Path, switch: str) -> None:
    assert train(make_cfg(*QUICK, switch))["status"] == "ok"
    log = (tmp_path / "run" / "train.log").read_text()
    assert "Epoch" not in log and "it/s" not in log  # neither litzoo's Keras line nor Lightning's TQDM bar


def test_overfit_batches_trains_on_the_same_batches_every_epoch(make_cfg) -> None:
    cfg = make_cfg("callbacks=minimal", "trainer.max_epochs=2", "+trainer.overfit_batches=2")
    results = train(cfg)  # Lightning's own overfit_batches would swap the batch sampler: a shape error
    assert results["status"] == "ok" and results["epochs"] == 2
    datamodule, _, trainer = build(cfg)
    assert (trainer.limit_train_batches, trainer.limit_val_batches, trainer.overfit_batches) == (2, 2, 0)
    datamodule.setup()
    sampler = datamodule.train_dataloader().sampler
    first = list(sampler)[:2]
    sampler.set_epoch(1)
    assert all((a == b).all() for a, b in zip(first, list(sampler)[:2], strict=True))


def test_profiler_report_goes_to_the_run_folder(make_cfg, tmp_path: Path) -> None:
    assert train(make_cfg(*QUICK, "+trainer.profiler=simple"))["status"] == "ok"
    run_dir = tmp_path / "run"
    assert "Profiler Report" in (run_dir / "fit-profile.txt").read_text()
    assert (run_dir / "test-profile.txt").is_file()
    assert f"report goes to {run_dir / 'fit-profile.txt'}" in (run_dir / "train.log").read_text()


def test_default_root_dir_is_refused_naming_litzoos_paths(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(LitzooError, match=r"trainer\.default_root_dir=.*paths\.log_dir=<folder>.*paths\.root_dir"):
        train(make_cfg(*QUICK, f"trainer.default_root_dir={tmp_path}/elsewhere"))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_top_level_key_nothing_reads_is_named_before_training(make_cfg, capsys) -> None:
    build(make_cfg(*QUICK, "+initial_epoch=3"))
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "initial_epoch" in warnings[0]
    build(make_cfg(*QUICK))
    assert "Warning" not in capsys.readouterr().out


def test_logger_false_and_null_mean_no_logger(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "litzoo.cli.train", "logger=false", *QUICK, "test=false", f"paths.root_dir={tmp_path}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "logs" / "digits_convnet" / "runs").iterdir()
    assert json.loads((run_dir / "results.json").read_text())["status"] == "ok"
    assert not list(run_dir.glob("events.out.tfevents.*"))
    from litzoo.cli.train import _logger_off  # the same rewrite of a sweep's list

    assert _logger_off(["-m", "logger=null,tensorboard", "logger=False", "seed=1"]) == [
        "-m", "logger=none,tensorboard", "logger=none", "seed=1"]


def test_offline_feature_base_hint_names_data_base_weights(tmp_path: Path, monkeypatch) -> None:
    import urllib.error

    from torchvision.models import VGG16_Weights

    from fakedata_images import write_image_folder
    from litzoo.data.features import FeatureDataModule

    def offline(*_a, **_k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    write_image_folder(tmp_path / "imgs", size=32, splits={"train": 3, "validation": 2}, corrupt=False)
    source = {"_target_": "litzoo.data.image_folder.ImageFolderDataModule", "data_dir": str(tmp_path),
              "folder": "imgs", "target_size": [32, 32], "input_shape": [3, 32, 32], "preprocess": "imagenet"}
    base = {"_target_": "litzoo.models.pretrained.vgg16", "weights": "imagenet"}
    with pytest.raises(Exception, match=r"data\.base\.weights=none") as err:
        FeatureDataModule(source, base, input_shape=(512, 1, 1)).setup()
    assert "model.weights" not in str(err.value)
