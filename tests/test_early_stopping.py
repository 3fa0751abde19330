"""callbacks.early_stopping: Keras' EarlyStopping as config, in the record, and exact on resume."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from litzoo.errors import LitzooError
from litzoo.run.fit import train

# the default experiment (digits, embedded), small: an epoch is a few hundred ms
SMALL = ("callbacks=minimal", "logger=none", "data.batch_size=256", "trainer.max_epochs=8")
# min_delta 10: no epoch after the first can improve val/loss by that much, so the stop epoch is known exactly
NEVER_BETTER = ("callbacks.early_stopping.min_delta=10",)


def test_off_by_default(make_cfg) -> None:
    run = train(make_cfg(*SMALL, "trainer.max_epochs=3", *NEVER_BETTER))
    assert run["status"] == "ok" and run["epochs"] == 3 and run["stopped_early"] is None


def test_stops_early_and_says_so(make_cfg, capsys) -> None:
    """The checkpoint tested is an earlier one (here the worst val/loss, epoch 1): testing it makes Lightning
    restore every callback's state as it was then, which must not erase the record of the stop."""
    run = train(make_cfg(*SMALL, *NEVER_BETTER, "callbacks.early_stopping.patience=2",
                         "callbacks.model_checkpoint.mode=max"))
    assert Path(run["best_checkpoint"]).name.startswith("epoch000")
    # epoch 1 improves on nothing, epochs 2 and 3 do not improve by 10: Keras stops at the end of epoch 3
    assert run["status"] == "ok" and run["epochs"] == 3
    assert run["stopped_early"] == {"epoch": 3, "monitor": "val/loss", "patience": 2, "best_epoch": 1}
    on_disk = json.loads((Path(run["run_dir"]) / "results.json").read_text())
    assert on_disk["stopped_early"]["epoch"] == 3
    assert "Stopped early at epoch 3" in capsys.readouterr().out


def test_keras_names_and_restore_best_weights(make_cfg) -> None:
    import torch

    cfg = make_cfg(*SMALL, "callbacks.early_stopping.patience=1", "callbacks.early_stopping.monitor=val_accuracy",
                   "callbacks.early_stopping.min_delta=2", "callbacks.early_stopping.restore_best_weights=true",
                   "test=false")
    run = train(cfg)
    assert run["stopped_early"]["monitor"] == "val/acc" and run["stopped_early"]["epoch"] == 2
    best = torch.load(run["run_dir"] + "/checkpoints/last.ckpt", weights_only=True)
    state = next(v for k, v in best["callbacks"].items() if k.startswith("KerasEarlyStopping"))
    assert state["best_epoch"] == 1 and state["best_weights"] is not None


def test_resume_stops_at_the_same_epoch(make_cfg, tmp_path: Path) -> None:
    """Interrupted after epoch 2 (wait count 1 of 3) and resumed: stops at epoch 4, as the uninterrupted run.
    Without the restored counter and best value the resumed run would start counting afresh (epoch 6)."""
    common = (*SMALL, *NEVER_BETTER, "callbacks.early_stopping.patience=3")
    whole = train(make_cfg(*common, f"paths.output_dir={tmp_path}/whole"))
    assert whole["stopped_early"]["epoch"] == 4
    first = train(make_cfg(*common, "trainer.max_epochs=2"))
    assert first["stopped_early"] is None and first["epochs"] == 2
    resumed = train(make_cfg(*common, f"ckpt_path={first['run_dir']}"))
    assert resumed["epochs"] == 4 and resumed["stopped_early"] == whole["stopped_early"]
    assert resumed["metrics"]["best/val_loss"] == pytest.approx(whole["metrics"]["best/val_loss"], abs=1e-6)


@pytest.mark.parametrize(("key", "value", "named"), [("monitor", "val/f1", "val/f1"), ("mode", "up", "up"),
                                                     ("patience", "-1", "-1")])
def test_bad_values_are_one_paragraph(make_cfg, key: str, value: str, named: str) -> None:
    with pytest.raises(Exception) as info:
        train(make_cfg(*SMALL, f"callbacks.early_stopping.{key}={value}"))
    from litzoo.run.checks import explain

    text = explain(info.value)
    assert named in text and "valid" in text or "whole number" in text
    assert isinstance(info.value, LitzooError) or isinstance(info.value.__cause__, LitzooError)
