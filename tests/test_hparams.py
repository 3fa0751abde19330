"""TensorBoard's HPARAMS tab: the same short list of keys for every run, metrics under hp/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from litzoo.run.hparams import run_hparams, run_metrics

EXPECTED = {"model", "data", "optimizer", "scheduler", "augmentation", "seed", "status", "lr", "batch_size",
            "max_epochs"}


def read_hparams(run_dir: Path) -> tuple[dict[str, object], set[str]]:
    """(hparams of the run's session_start_info, its hp/ scalar tags) as TensorBoard reads them."""
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    values = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    return values, {t for t in events.Tags()["scalars"] if t.startswith("hp/")}


def test_runs_with_different_optimizers_have_the_same_hparams_keys(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "litzoo.cli.train", "-m", "optimizer=adam,sgd", "trainer=debug", f"paths.root_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "digits_convnet" / "multiruns").iterdir()
    (adam, adam_metrics), (sgd, sgd_metrics) = (read_hparams(sweep / f"optimizer={o}") for o in ("adam", "sgd"))
    assert set(adam) == set(sgd) == EXPECTED | {"trainer"}  # + the command line's trainer=debug
    assert (adam["optimizer"], sgd["optimizer"], adam["lr"], sgd["lr"]) == ("adam", "sgd", 0.001, 0.01)
    assert adam_metrics == sgd_metrics >= {"hp/best_val_loss", "hp/best_val_acc", "hp/test_loss", "hp/test_acc"}


def test_hparams_are_choices_key_numbers_and_overrides_without_paths(make_cfg) -> None:
    cfg = make_cfg("optimizer=sgd", "optimizer.momentum=0.9", "trainer=cpu")
    results = {"choices": {"model": "mnist_convnet", "data": "digits", "optimizer": "sgd", "scheduler": "none",
                           "augmentation": "none", "trainer": "cpu"},
               "overrides": ["optimizer=sgd", "optimizer.momentum=0.9", "trainer=cpu", "paths.root_dir=/x",
                             "+callbacks.foo=1", "ckpt_path=/x/last.ckpt", "optimizer.lr=0.01"],
               "metrics": {"best/epoch": 3, "best/loss": 0.2, "best/val_loss": 0.5, "best/val_acc": 0.9,
                           "test/acc": 0.8, "last/val_loss": 0.6, "best/val_mae": None}}
    hp = run_hparams(cfg, results)
    assert list(hp) == ["model", "data", "optimizer", "scheduler", "augmentation", "seed", "status", "lr",
                        "batch_size",
                        "max_epochs", "optimizer.momentum", "trainer"]  # the swept/set keys come last
    assert (hp["optimizer"], hp["optimizer.momentum"], hp["trainer"], hp["lr"]) == ("sgd", 0.9, "cpu", 0.01)
    assert not any("path" in k or "dir" in k or "_target_" in k for k in hp)
    assert run_metrics(results) == {"hp/best_epoch": 3.0, "hp/best_val_loss": 0.5, "hp/best_val_acc": 0.9,
                                    "hp/test_acc": 0.8}


def test_lightning_stand_in_loggers_take_no_hparams(make_cfg, tmp_path: Path, monkeypatch) -> None:
    """fast_dev_run's DummyLogger and the DummyExperiment of a DDP rank >= 1 get nothing, and nothing breaks."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only
    from pytorch_lightning.loggers import TensorBoardLogger
    from pytorch_lightning.loggers.logger import DummyLogger

    from litzoo.run.hparams import log_run_hparams
    from litzoo.run.loggers import takes_hparams, tensorboard_writer

    cfg, results = make_cfg(), {"global_step": 3, "metrics": {"best/val_loss": 0.5}}
    assert not takes_hparams(DummyLogger()) and tensorboard_writer(DummyLogger()) is None
    log_run_hparams(DummyLogger(), cfg, results)
    logger = TensorBoardLogger(save_dir=str(tmp_path / "tb"), name="", version="")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert tensorboard_writer(logger) is None
    log_run_hparams(logger, cfg, results)
    assert not (tmp_path / "tb").exists()  # rank >= 1 writes no events
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    log_run_hparams(logger, cfg, results)  # rank zero: the real writer
    assert read_hparams(tmp_path / "tb")[1] == {"hp/best_val_loss"}


def test_a_run_that_fails_in_fit_has_its_hparams_row_with_status_failed(make_cfg, monkeypatch) -> None:
    """Every run appears in HPARAMS with its status (an Optuna trial that raised was missing from the table)."""
    import pytest

    from litzoo.run.fit import train
    from litzoo.tasks import ClassificationTask

    def broken(self, batch, batch_idx):
        raise RuntimeError("a bug in a training step")

    monkeypatch.setattr(ClassificationTask, "training_step", broken)
    cfg = make_cfg("trainer=debug", "logger=tensorboard")
    with pytest.raises(RuntimeError, match="a bug in a training step"):
        train(cfg)
    values, _ = read_hparams(Path(cfg.paths.output_dir))
    assert values["status"] == "failed" and values["lr"] == pytest.approx(1e-3)
