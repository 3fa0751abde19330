"""DLwP 5.4's pictures on a real 2-epoch digits run: the training callback, `litzoo-visualize`, and the maths."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litzoo.run.compose import compose_config
from litzoo.run.fit import train

LAYERS = ("conv2d", "conv2d_1", "conv2d_2")  # the MNIST convnet's Keras names
TRAINING_FILES = [f"activations_{n}.png" for n in LAYERS] + [f"filters_{n}.png" for n in LAYERS] + [
    "gradcam_val_0.png", "gradcam_val_1.png", "confusion_matrix.png", "mistakes.png"]


def images_in(run_dir: Path) -> set[str]:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    return set(events.Tags()["images"])


def assert_png(path: Path) -> None:
    with Image.open(path) as img:
        assert img.format == "PNG", path
        img.load()  # decodes every byte: a truncated file fails here
        assert min(img.size) >= 64, (path, img.size)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vis")
    cfg = compose_config([f"paths.root_dir={root}", f"paths.output_dir={root}/run", "trainer.accelerator=cpu",
                          "trainer.max_epochs=2", "callbacks.conv_visualizer.max_overhead=null",
                          "callbacks.conv_visualizer.steps=20"])
    train(cfg)
    return root / "run"


@pytest.fixture(scope="module")
def trained(run: Path) -> dict:
    from litzoo.visual.report import Subject
    from litzoo.cli.visualize import load_run

    cfg, datamodule, task, _, _ = load_run(run)
    return {"subject": Subject(task.net, datamodule, task.num_classes), "datamodule": datamodule}


def test_training_writes_every_picture(run: Path) -> None:
    for name in TRAINING_FILES:
        assert_png(run / "visualizations" / name)


def test_training_logs_matching_tensorboard_images(run: Path) -> None:
    tags = images_in(run)
    expected = {f"activations/{n}" for n in LAYERS} | {f"filters/{n}" for n in LAYERS} | {
        "gradcam/val_0", "gradcam/val_1", "confusion_matrix/val", "confusion_matrix", "mistakes"}
    assert expected <= tags


def test_filter_pattern_raises_its_filters_activation(trained: dict) -> None:
    from litzoo.visual.compute import filter_patterns

    subject = trained["subject"]
    found = filter_patterns(subject.net, subject.layers, "conv2d_2", list(range(16)), (1, 28, 28), subject.to_model)
    live = found.start > 0  # a ReLU filter at zero on the grey start has no gradient to climb (as in Keras)
    assert live.sum() >= 4
    assert (found.end[live] >= 5 * found.start[live]).all(), found.gain


def test_gradcam_has_the_layers_grid_and_is_non_negative(trained: dict) -> None:
    from litzoo.visual.compute import grad_cam
    from litzoo.visual.inputs import first_batch
    from litzoo.visual.layers import run_until

    subject = trained["subject"]
    x, _ = first_batch(trained["datamodule"], "val", 3, torch.device("cpu"))
    for name in ("conv2d_2", "conv2d_1"):
        grid = run_until(subject.net, x, subject.layers, name)[name].shape[-2:]
        found = grad_cam(subject.net, subject.layers[name], x)
        assert found.cam.shape == (3, *grid) and (found.cam >= 0).all() and found.cam.sum() > 0
        assert torch.allclose(found.probs.sum(1), torch.ones(3))


def test_cli_writes_pictures_and_tensorboard(run: Path, tmp_path: Path) -> None:
    image = tmp_path / "my_digit.png"
    canvas = np.zeros((40, 40), np.uint8)
    canvas[8:32, 18:23] = 255  # a "1"
    Image.fromarray(canvas).save(image)
    shutil.rmtree(run / "visualizations")
    script = Path(sys.executable).with_name("litzoo-visualize")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "litzoo.cli.visualize"]
    done = subprocess.run(command + [str(run), "images=2", "filters=4", "steps=5", f"image={image}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in TRAINING_FILES + ["gradcam_my_digit.png"]:
        assert_png(run / "visualizations" / name)
    assert {"gradcam/my_digit", "filters/conv2d_2", "confusion_matrix"} <= images_in(run)


def test_cli_names_the_valid_layers(run: Path) -> None:
    from litzoo.cli.visualize import visualize

    with pytest.raises(ValueError, match="valid layer names: conv2d, conv2d_1, conv2d_2"):
        visualize(run, layer="dense", filters=0, mistakes=0)


def test_mixed_precision_pictures_run_in_fp32(tmp_path: Path) -> None:
    cfg = compose_config([f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run", "trainer.accelerator=cpu",
                          "trainer.precision=bf16-mixed", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                          "callbacks.conv_visualizer.filters=2", "callbacks.conv_visualizer.steps=3"])
    train(cfg)
    for name in ("filters_conv2d_2.png", "gradcam_val_0.png", "activations_conv2d.png", "confusion_matrix.png"):
        assert_png(tmp_path / "run" / "visualizations" / name)


def test_text_model_heat_map_and_projector(tmp_path: Path) -> None:
    from fakedata_text import write_aclimdb_tree

    write_aclimdb_tree(tmp_path / "data")
    cfg = compose_config([f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run", "trainer.accelerator=cpu",
                          "experiment=imdb_conv1d", f"paths.data_dir={tmp_path / 'data'}", "data.num_words=40",
                          "data.maxlen=48", "data.batch_size=16", "trainer.max_epochs=2", "optimizer.lr=1e-2"])
    train(cfg)
    run = tmp_path / "run"
    assert_png(run / "visualizations" / "text_heatmap_0.png")
    events = EventAccumulator(str(run), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "text_heatmap/0" in events.Tags()["images"]
    assert any(t.startswith("text_heatmap/0") for t in events.Tags()["tensors"])  # the markdown word list
    projector = (run / "projector_config.pbtxt").read_text()
    assert "embedding" in projector
    metadata = next(run.glob("*/embedding*/metadata.tsv")).read_text().split("\n")
    assert "great" in metadata and metadata[0] == "<pad>"


def test_a_perfect_validation_epoch_still_draws_mistakes(trained: dict, tmp_path: Path) -> None:
    """Bug: when the last validation epoch had no wrong prediction, no `mistakes` picture was written at all."""
    from types import SimpleNamespace

    from litzoo.callbacks.visualize import ConvVisualizer
    from litzoo.visual.inputs import Mistakes, device_batch

    cpu, datamodule = torch.device("cpu"), trained["datamodule"]
    callback = ConvVisualizer(activations=False, filters=0, gradcam=False, text=False)
    callback.batch = device_batch(datamodule, next(iter(datamodule.val_dataloader())), cpu)[:2]
    callback.val_mistakes = Mistakes(16)
    callback.val_mistakes.seen = 48  # a whole validation epoch, not one wrong prediction
    trainer = SimpleNamespace(interrupted=False, is_global_zero=True, default_root_dir=str(tmp_path), logger=None,
                              global_step=0, datamodule=datamodule)
    callback.on_fit_end(trainer, SimpleNamespace(net=trained["subject"].net, device=cpu, num_classes=10))
    assert_png(tmp_path / "visualizations" / "mistakes.png")
