"""Transfer learning mechanics with random weights (no ImageNet weights offline): two-phase fine-tuning
in one resumable run, and feature extraction with cached base outputs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fakedata_images import write_image_folder
from litzoo.data.features import FeatureDataModule
from litzoo.run.build import build
from litzoo.run.fit import train

SMALL = ["data.folder=imgs", "data.target_size=[32,32]", "data.batch_size=4", "model.weights=none",
         "callbacks.conv_visualizer=null", "callbacks.finetune.unfreeze_at_epoch=1"]


def trainable(task, prefix: str) -> bool:
    return all(p.requires_grad for n, p in task.net.named_parameters() if n.startswith(prefix))


def test_finetune_two_phases_in_one_run_and_resume(tmp_path: Path, make_cfg) -> None:
    write_image_folder(tmp_path / "data" / "imgs", size=32, splits={"train": 4, "validation": 2}, corrupt=False)
    cfg = make_cfg("experiment=vgg16_finetune", *SMALL, "trainer.max_epochs=1")
    _, task, _ = build(cfg)
    assert not trainable(task, "vgg16.") and trainable(task, "dense")
    first = train(cfg)
    ckpt = torch.load(first["run_dir"] + "/checkpoints/last.ckpt", weights_only=True)
    assert len(ckpt["optimizer_states"][0]["param_groups"]) == 1  # phase 1: the head only

    resumed = make_cfg("experiment=vgg16_finetune", *SMALL, "trainer.max_epochs=2", f"ckpt_path={first['run_dir']}")
    before = ckpt["state_dict"]["net.vgg16.block5_conv1.weight"]
    block4 = ckpt["state_dict"]["net.vgg16.block4_conv3.weight"]
    result = train(resumed)
    assert result["resumes"][-1]["checkpoint"].endswith("last.ckpt") and result["epochs"] == 2
    after = torch.load(first["run_dir"] + "/checkpoints/last.ckpt", weights_only=True)
    groups = after["optimizer_states"][0]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-5, 1e-5]  # head at head_lr, block5 group at lr
    assert not torch.equal(after["state_dict"]["net.vgg16.block5_conv1.weight"], before)  # block5 trained
    assert torch.equal(after["state_dict"]["net.vgg16.block4_conv3.weight"], block4)  # block4 still frozen


def test_feature_extraction_caches_base_outputs(tmp_path: Path, make_cfg) -> None:
    write_image_folder(tmp_path / "data" / "cats_and_dogs_small", size=32, splits={"train": 4, "validation": 2},
                       corrupt=False)
    overrides = ["experiment=vgg16_features", "data.source.target_size=[32,32]", "data.source.input_shape=[3,32,32]",
                 "data.input_shape=[512,1,1]", "data.base.weights=none", "trainer.max_epochs=2",
                 "callbacks.conv_visualizer=null"]
    cfg = make_cfg(*overrides)
    result = train(cfg)
    # tested on the 4 validation images (no test/ folder, test_split 0): a whole number of them right
    assert result["metrics"]["test/acc"] * 4 == pytest.approx(round(result["metrics"]["test/acc"] * 4))
    assert result["epochs"] == 2 and result["status"] == "ok"
    cached = list((tmp_path / "data" / "cache").glob("features-*.pt"))
    assert len(cached) == 1
    again, _, _ = build(make_cfg(*overrides))
    assert isinstance(again, FeatureDataModule)
    again.setup()
    assert again.extract_seconds is None  # served from the cache, the base did not run again
    assert again.splits["train"][0].shape == (8, 512, 1, 1)
