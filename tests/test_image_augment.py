"""Batched ImageDataGenerator: per-sample randomness, Keras semantics, training batches only, preview image."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from fakedata_images import write_image_folder
from litzoo.augment import ImageDataGenerator
from litzoo.run.compose import CONF_DIR
from litzoo.run.build import build
from litzoo.run.fit import train

PRESETS = sorted(p.stem for p in (CONF_DIR / "augmentation").glob("*.yaml") if p.stem != "none")


def test_parameters_are_drawn_per_sample() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 24, 24).mul(255).expand(8, -1, -1, -1).contiguous()  # 8 copies of one image
    out = ImageDataGenerator(rotation_range=40, width_shift_range=0.2, zoom_range=0.2)(x)
    assert out.shape == x.shape
    flat = out.flatten(1)
    assert all(not torch.allclose(flat[0], flat[i]) for i in range(1, 8))


def test_identity_flip_and_shift_follow_keras() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    assert torch.allclose(ImageDataGenerator()(x), x, atol=1e-4)  # nothing enabled: the image itself
    flipped = ImageDataGenerator(horizontal_flip=True)(x)
    is_flip = torch.isclose(flipped, x.flip(-1), atol=1e-4).flatten(1).all(1)
    is_same = torch.isclose(flipped, x, atol=1e-4).flatten(1).all(1)
    assert (is_flip | is_same).all() and 10 < int(is_flip.sum()) < 54  # each sample flipped with p = 0.5
    shifted = ImageDataGenerator(width_shift_range=1.0 + 1e-6)(torch.ones(32, 1, 4, 4) * 5)  # pixels, not fraction
    assert torch.allclose(shifted, torch.full_like(shifted, 5.0))  # fill_mode='nearest' repeats the edge


def test_fill_mode_constant_uses_cval() -> None:
    out = ImageDataGenerator(zoom_range=(2.0, 2.0), fill_mode="constant", cval=7.0)(torch.full((2, 3, 8, 8), 100.0))
    assert out[..., 0, 0].eq(7.0).all() and out[..., 4, 4].eq(100.0).all()  # zoom 2 = zoomed out, borders filled
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_build_and_run(preset: str, make_cfg) -> None:
    aug = instantiate(make_cfg(f"augmentation={preset}").augmentation)
    out = aug(torch.rand(4, 3, 32, 32) * 255)
    assert out.shape == (4, 3, 32, 32) and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 255


class Recorder:
    """An augmentation that marks the batches it sees (adds 1000 to them) and counts them."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x + 1000.0


def test_augmentation_on_training_batches_only(tmp_path: Path, make_cfg) -> None:
    write_image_folder(tmp_path / "data" / "imgs", size=12, corrupt=False)
    cfg = make_cfg("experiment=cats_dogs_small_augmented", "data.folder=imgs", "data.target_size=[12,12]",
                   "model=datacamp_dense", "data.batch_size=4", "trainer.max_epochs=2", "callbacks.conv_visualizer=null")
    datamodule, _, _ = build(cfg)
    assert isinstance(datamodule.augment, ImageDataGenerator)
    recorder = Recorder()
    datamodule.augment = recorder
    datamodule.setup()

    class FakeTrainer:
        training = False

    datamodule.trainer = FakeTrainer()
    for loader in (datamodule.val_dataloader(), datamodule.test_dataloader()):
        batch = datamodule.on_after_batch_transfer(next(iter(loader)), 0)
        assert recorder.calls == 0 and batch[0].max() <= 1.0  # rescaled, never augmented
    FakeTrainer.training = True
    batch = datamodule.on_after_batch_transfer(next(iter(datamodule.train_dataloader())), 0)
    assert recorder.calls == 1 and batch[0].min() > 1.0  # augmented, then rescaled: (x + 1000) / 255


def test_real_run_augments_train_only_and_logs_a_grid(tmp_path: Path, make_cfg, monkeypatch) -> None:
    write_image_folder(tmp_path / "data" / "imgs", size=12, corrupt=False)
    recorder = Recorder()
    monkeypatch.setattr("litzoo.augment.ImageDataGenerator.__call__", lambda self, x: recorder(x))
    cfg = make_cfg("experiment=cats_dogs_small_augmented", "data.folder=imgs", "data.target_size=[12,12]",
                   "model=datacamp_dense", "data.batch_size=4", "trainer.max_epochs=2", "callbacks.conv_visualizer=null")
    train(cfg)
    assert recorder.calls == 2 * 3  # 12 training images / batch 4, two epochs; validation and test never
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(cfg.paths.output_dir))).Reload()
    assert events.Tags()["images"].count("augmentation/train_batch") == 1
