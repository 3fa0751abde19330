"""One epoch through the same `train(cfg)` the CLI calls, on generated IDX files; what a run leaves behind."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litzoo.run.fit import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from fakedata import write_mnist
    from litzoo.run.compose import compose_config

    root = tmp_path_factory.mktemp("train")
    write_mnist(root / "data")
    cfg = compose_config([f"paths.root_dir={root}", f"paths.output_dir={root}/run", "trainer.accelerator=cpu",
                          "experiment=mnist_convnet", "trainer.max_epochs=2", "data.batch_size=32",
                          "data.download=false", "trainer.log_every_n_steps=2"])
    results = train(cfg)
    events = EventAccumulator(str(root / "run"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    return {"results": results, "dir": root / "run", "events": events}


def test_results_json(run: dict) -> None:
    text = (run["dir"] / "results.json").read_text()
    results = json.loads(text)
    assert "NaN" not in text and "Infinity" not in text
    assert results == json.loads(json.dumps(run["results"]))
    assert results["status"] == "ok" and results["error"] is None
    m = results["metrics"]
    for key in ("best/loss", "best/acc", "best/val_loss", "best/val_acc", "test/loss", "test/acc",
                "last/loss", "last/acc", "last/val_loss", "last/val_acc"):
        assert 0 <= m[key] < 10, key
    assert m["last/epoch"] == 2 and m["best/epoch"] == results["best_epoch"] in (1, 2)
    assert results["epochs"] == 2 and results["precision"] == "32-true"
    assert results["choices"] == {} and results["overrides"] == []  # outside a Hydra job: no command line to record
    assert Path(results["best_checkpoint"]).is_file() and results["wall_seconds"] > 0
    # the bars in the generated images are learnable: two epochs beat chance (10%) clearly
    assert m["test/acc"] > 0.3


def test_checkpoints_and_config_saved(run: dict) -> None:
    ckpt_dir = run["dir"] / "checkpoints"
    assert (ckpt_dir / "last.ckpt").is_file()
    assert len(list(ckpt_dir.glob("epoch*-val_loss*.ckpt"))) == 1  # save_best_only
    assert "mnist_convnet" in (run["dir"] / "config.yaml").read_text()
    ckpt = torch.load(ckpt_dir / "last.ckpt", weights_only=True)  # untrusted-input safe
    assert ckpt["hyper_parameters"]["config"]["model"]["layers"][0]["filters"] == 32


def test_tensorboard_scalars(run: dict) -> None:
    tags = set(run["events"].Tags()["scalars"])
    assert {"train/loss_step", "train/loss", "train/acc", "val/loss", "val/acc", "test/acc"} <= tags
    steps = [e.step for e in run["events"].Scalars("train/loss_step")]
    assert len(steps) >= 2 and steps == sorted(steps)


def test_tensorboard_hparams_have_real_metrics(run: dict) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    ev = run["events"]
    content = ev.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == pytest.approx(0.001)
    assert start.hparams["batch_size"].number_value == 32
    assert not [k for k in start.hparams if "_target_" in k or "dir" in k]  # no targets, no paths
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {"hp/test_acc", "hp/best_val_loss", "hp/best_epoch"} <= {m.name.tag for m in experiment.metric_infos}
    test_acc = ev.Scalars("hp/test_acc")[-1].value
    assert test_acc == pytest.approx(run["results"]["metrics"]["test/acc"], abs=1e-6)
    assert "hp_metric" not in ev.Tags()["scalars"]


def test_tensorboard_filters_activations_and_summary(run: dict) -> None:
    images = set(run["events"].Tags()["images"])
    # the ConvVisualizer (DLwP 5.4, Keras layer names): feature maps and validation confusion after epoch 1 (the
    # 5% time budget may skip later ones), the test confusion, filter patterns/Grad-CAM/mistakes at the end of fit
    assert {"activations/conv2d", "activations/conv2d_1", "activations/conv2d_2", "confusion_matrix/val"} <= images
    assert {"filters/conv2d", "filters/conv2d_2", "gradcam/val_0", "confusion_matrix", "mistakes"} <= images
    assert len(run["events"].Images("filters/conv2d")) == 1  # once, at the end of fit
    summary = run["events"].Tensors("model/summary/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "Total params: 93,322" in summary


def test_evaluate_rebuilds_from_checkpoint(run: dict) -> None:
    from litzoo.cli.eval import evaluate

    metrics = evaluate(run["dir"])  # run dir -> best checkpoint from results.json
    assert metrics["test/acc"] == pytest.approx(run["results"]["metrics"]["test/acc"], abs=1e-6)
