"""A run stopped mid-epoch records that epoch truthfully; no stale numbers, no false labels (digits, 18 steps
an epoch at batch 64)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import open_dict

from litzoo.run.compose import compose_config
from litzoo.run.fit import train

QUIET = ["logger=none", "callbacks.conv_visualizer=null", "callbacks.learning_curves=null", "trainer.accelerator=cpu"]
KEYS = ("last/loss", "last/acc", "last/val_loss", "last/val_acc", "best/val_loss", "test/loss", "test/acc")


class StopMidEpoch(pl.Callback):
    """What Lightning's Timer (max_time) and a train-metric EarlyStopping do: should_stop after a batch."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            trainer.should_stop = True


def _run(root: Path, name: str, *overrides: str) -> dict:
    cfg = compose_config([f"paths.root_dir={root}", f"paths.output_dir={root}/{name}", *QUIET, *overrides])
    return train(cfg)


def _history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_max_steps_records_the_partial_epoch_and_resumes_exactly(tmp_path: Path) -> None:
    straight = _run(tmp_path, "a", "trainer.max_epochs=3")
    cut = _run(tmp_path, "b", "trainer.max_epochs=3", "+trainer.max_steps=25")
    rows = _history(tmp_path / "b")
    assert [int(r["steps"]) for r in rows] == [18, 7]
    assert rows[1]["loss"] != rows[0]["loss"] and rows[1]["val_loss"] == ""  # its own numbers, no validation
    assert cut["partial_epoch"] == {"epoch": 2, "steps": 7, "of": 18}
    assert cut["metrics"]["last/loss"] == pytest.approx(float(rows[1]["loss"]))
    last = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)
    assert (last["epoch"], last["global_step"]) == (0, 18)  # last.ckpt: the end of the last completed epoch
    resumed = _run(tmp_path, "b", "trainer.max_epochs=3", "+trainer.max_steps=-1", f"ckpt_path={tmp_path / 'b'}")
    assert [int(r["steps"]) for r in _history(tmp_path / "b")] == [18, 18, 18]
    assert resumed["partial_epoch"] is None and resumed["global_step"] == straight["global_step"]
    for key in KEYS:
        assert resumed["metrics"][key] == pytest.approx(straight["metrics"][key], abs=1e-6), key


def test_a_stop_mid_epoch_keeps_that_epochs_own_training_metrics(tmp_path: Path) -> None:
    stop = {"_target_": f"{__name__}.StopMidEpoch", "epoch": 1, "batch": 8}
    cfg = compose_config([f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run", *QUIET,
                          "trainer.max_epochs=3"])
    with open_dict(cfg):
        cfg.callbacks.stop = stop
    results = train(cfg)
    rows = _history(tmp_path / "run")
    assert [int(r["steps"]) for r in rows] == [18, 9] and rows[1]["loss"] != rows[0]["loss"]
    assert results["partial_epoch"] == {"epoch": 2, "steps": 9, "of": 18}


def test_epochs_without_validation_show_no_stale_val_numbers(tmp_path: Path, capfd) -> None:
    _run(tmp_path, "run", "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2")
    rows = _history(tmp_path / "run")
    assert [r["val_loss"] != "" for r in rows] == [False, True, False]
    lines = [line for line in (tmp_path / "run" / "train.log").read_text().splitlines() if line.startswith("Epoch ")]
    assert ["val_loss" in line for line in lines] == [False, True, False], lines


def test_without_checkpoints_the_last_weights_are_tested_and_labelled(tmp_path: Path, capfd) -> None:
    results = _run(tmp_path, "run", "trainer.max_epochs=2", "callbacks.model_checkpoint=null",
                   "callbacks.last_checkpoint=null", "+trainer.enable_checkpointing=false")
    assert results["test_model"] == "last" and results["best_checkpoint"] is None
    out = capfd.readouterr().out
    assert "Test (last weights)" in out and "Test (best checkpoint)" not in out
    assert "checkpoints/" not in out.split("Run directory:")[1]  # only files that exist are listed
    assert json.loads((tmp_path / "run" / "results.json").read_text())["test_model"] == "last"


def test_divergence_before_any_checkpoint_does_not_promise_one(tmp_path: Path) -> None:
    from litzoo.errors import DivergedError

    with pytest.raises(DivergedError) as err:
        _run(tmp_path, "run", "trainer.max_epochs=1", "optimizer.lr=1e6")
    assert "no epoch had completed" in str(err.value) and "still holds" not in str(err.value)


class CtrlC(pl.Callback):
    """Ctrl-C at a chosen batch of a chosen epoch (Lightning turns it into a graceful stop and SystemExit)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise KeyboardInterrupt


def test_ctrl_c_during_a_resume_keeps_the_finished_runs_results(tmp_path: Path) -> None:
    import signal

    first = _run(tmp_path, "run", "trainer.max_epochs=1")
    cfg = compose_config([f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/run", *QUIET,
                          "trainer.max_epochs=3", f"ckpt_path={tmp_path / 'run'}"])
    with open_dict(cfg):
        cfg.callbacks.ctrl_c = {"_target_": f"{__name__}.CtrlC", "epoch": 1, "batch": 3}
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, handler)
    after = json.loads((tmp_path / "run" / "results.json").read_text())
    assert after["status"] == "ok" and after["resumes"][-1]["status"] == "interrupted"
    assert after["metrics"]["test/acc"] == first["metrics"]["test/acc"] and after["test_model"] == "best"
    assert after["best_checkpoint"] == first["best_checkpoint"]
    assert after["wall_seconds"] >= first["wall_seconds"] + after["session_seconds"] - 0.01


def test_double_validation_loop_and_gradient_accumulation_keep_one_row_per_epoch(tmp_path: Path) -> None:
    """lightning-hydra-template's test_train_epoch_double_val_loop, and accumulate_grad_batches: the record
    counts epochs and optimizer steps as Lightning does, one history row per epoch with that epoch's numbers."""
    results = _run(tmp_path, "a", "trainer.max_epochs=2", "+trainer.val_check_interval=0.5")
    rows = _history(tmp_path / "a")
    assert [int(r["epoch"]) for r in rows] == [1, 2] and all(r["val_loss"] for r in rows)
    assert results["status"] == "ok" and results["partial_epoch"] is None and results["global_step"] == 36
    accumulated = _run(tmp_path, "b", "trainer.max_epochs=2", "+trainer.accumulate_grad_batches=2")
    assert accumulated["global_step"] == 18 and [int(r["steps"]) for r in _history(tmp_path / "b")] == [18, 18]
