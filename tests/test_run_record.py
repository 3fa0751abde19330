"""Runs you can trust (issue 7): a true last.ckpt, divergence stops, honest results.json, resume from the
checkpoint's own config, moved runs, eval with a new data location, plain errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from litzoo.run.resume import resume_config
from litzoo.errors import DivergedError, LitzooError
from litzoo.tasks import ClassificationTask
from litzoo.run.fit import train

FAST = ("++trainer.limit_train_batches=4", "data.batch_size=32", "callbacks=minimal", "logger=none")


class WorseningTask(ClassificationTask):
    """Validation loss + 10 per epoch: only the first epoch is ever the best."""

    def loss_and_output(self, out, y):
        loss, pred = super().loss_and_output(out, y)
        return (loss + 10.0 * self.current_epoch if not self.training else loss), pred


class PoisonAtSecondEpoch(Callback):
    """Turns one weight into NaN when epoch 2 starts: the loss of its first step is NaN."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 1:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")


def strict_json(path: Path) -> dict:
    """json.loads that refuses the NaN/Infinity tokens Python's json writes by default."""
    def refuse(token: str) -> None:
        raise ValueError(f"{path} is not strict JSON: {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _ckpt_epoch(path: Path) -> int:
    return torch.load(path, weights_only=True)["epoch"]


def test_last_ckpt_is_the_final_epoch_when_val_loss_stops_improving(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(*FAST, "trainer.max_epochs=3", "task._target_=test_run_record.WorseningTask")
    results = train(cfg)
    ckpts = tmp_path / "run" / "checkpoints"
    assert _ckpt_epoch(ckpts / "last.ckpt") == 2  # Lightning's epoch counter: the 3rd epoch
    assert [p.name[:8] for p in ckpts.glob("epoch*.ckpt")] == ["epoch000"]
    assert results["best_epoch"] == 1 and results["metrics"]["last/epoch"] == 3
    assert results["metrics"]["last/val_loss"] > results["metrics"]["best/val_loss"] + 19


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(*FAST, "trainer.max_epochs=4", "+callbacks.poison._target_=test_run_record.PoisonAtSecondEpoch")
    with pytest.raises(DivergedError, match=r"epoch 2, step \d+.*learning rate"):
        train(cfg)
    run = tmp_path / "run"
    results = strict_json(run / "results.json")
    assert results["status"] == "diverged" and "epoch 2" in results["error"]
    assert "test/acc" not in results["metrics"]  # a diverged model is never tested
    assert results["epochs"] == 1 and results["best_epoch"] == 1
    names = [p.name for p in (run / "checkpoints").glob("*.ckpt")]
    assert not [n for n in names if "nan" in n.lower()]
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(t).all() for t in state["state_dict"].values())


def test_huge_learning_rate_is_diverged_not_ok(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(DivergedError):
        train(make_cfg(*FAST, "trainer.max_epochs=2", "optimizer.lr=1e6"))
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "diverged"


def test_failure_after_the_run_dir_exists_writes_a_failed_record(make_cfg, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()  # as Hydra does before calling the task function
    with pytest.raises(LitzooError, match="data.num_words"):
        train(make_cfg(*FAST, "model=imdb_lstm"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "failed" and "data.num_words" in results["error"] and "imdb" in results["error"]


@pytest.mark.parametrize("override, needle", [("trainer.max_epochs=abc", "trainer.max_epochs='abc'"),
                                              ("data.batch_size=0", "data.batch_size=0"),
                                              ("optimizer.lr=-1", "optimizer.lr=-1")])
def test_bad_values_fail_before_training(make_cfg, tmp_path: Path, override: str, needle: str) -> None:
    with pytest.raises(LitzooError, match=needle.replace(".", r"\.").replace("'", "'")):
        train(make_cfg(*FAST, override))
    assert not (tmp_path / "run").exists()  # nothing written


def _first_run(make_cfg, run: Path, *extra: str) -> dict:
    cfg = make_cfg(*FAST, "trainer.max_epochs=1", "optimizer=adam", f"paths.output_dir={run}", *extra)
    return train(cfg, provenance={"overrides": ["optimizer=adam"], "choices": {"optimizer": "adam"}})


def test_resume_uses_the_checkpoints_config(make_cfg, tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "a"
    _first_run(make_cfg, run)
    monkeypatch.chdir(tmp_path)
    cfg, provenance, applied = resume_config([f"ckpt_path={run}", "trainer.max_epochs=2"])
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.data.batch_size == 32  # not the defaults
    assert cfg.trainer.max_epochs == 2 and Path(cfg.paths.output_dir) == run
    assert provenance["overrides"] == ["optimizer=adam"] and applied == ["trainer.max_epochs=2"]
    results = train(cfg, provenance, applied)
    assert results["epochs"] == 2 and results["resumes"][0]["overrides"] == ["trainer.max_epochs=2"]
    assert results["overrides"] == ["optimizer=adam"]


def test_resume_refuses_changes_before_touching_the_run(make_cfg, tmp_path: Path) -> None:
    run = tmp_path / "a"
    _first_run(make_cfg, run)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    with pytest.raises(LitzooError, match=r"model\.layers.*Nothing was written"):
        resume_config([f"ckpt_path={run}", "model=datacamp_conv"])
    with pytest.raises(LitzooError, match=r"optimizer\.lr"):
        resume_config([f"ckpt_path={run}", "optimizer.lr=0.5", "trainer.max_epochs=3"])
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_config_yaml_is_never_overwritten(make_cfg, tmp_path: Path) -> None:
    run = tmp_path / "a"
    _first_run(make_cfg, run)
    original = (run / "config.yaml").read_text()
    cfg, provenance, applied = resume_config([f"ckpt_path={run}", "trainer.max_epochs=2"])
    train(cfg, provenance, applied)
    assert (run / "config.yaml").read_text() == original


def test_moved_run_keeps_its_best_checkpoint(make_cfg, tmp_path: Path, monkeypatch) -> None:
    worse = "task._target_=test_run_record.WorseningTask"
    monkeypatch.setenv("LITZOO_ALLOW_TARGETS", "test_run_record.*")  # a checkpoint names it: the user allows it
    _first_run(make_cfg, tmp_path / "a", worse)
    shutil.move(tmp_path / "a", tmp_path / "b")
    cfg, provenance, applied = resume_config([f"ckpt_path={tmp_path / 'b'}", "trainer.max_epochs=3"])
    results = train(cfg, provenance, applied)
    ckpts = tmp_path / "b" / "checkpoints"
    names = sorted(p.name for p in ckpts.glob("*.ckpt"))
    assert len(names) == 2 and names[0].startswith("epoch000-") and names[1] == "last.ckpt"
    assert results["best_checkpoint"] == str(ckpts / names[0])
    assert results["best_epoch"] == 1 and _ckpt_epoch(ckpts / "last.ckpt") == 2


def test_eval_follows_a_new_data_location(make_cfg, mnist_root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from litzoo.cli.eval import evaluate

    cfg = make_cfg("experiment=mnist_convnet", "data.download=false", *FAST, "trainer.max_epochs=1")
    results = train(cfg)
    moved = tmp_path / "elsewhere"
    shutil.move(mnist_root, moved)
    metrics = evaluate(tmp_path / "run", [f"paths.data_dir={moved}"])
    assert metrics["test/acc"] == pytest.approx(results["metrics"]["test/acc"], abs=1e-6)
    assert "epoch000" in capsys.readouterr().out  # says which checkpoint it evaluated
    monkeypatch.setenv("LITZOO_DATA", str(moved))
    assert evaluate(tmp_path / "run")["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)


def test_full_disk_is_one_clear_paragraph(make_cfg, tmp_path: Path, monkeypatch) -> None:
    import litzoo.run.checkpoint as ckpt_io

    def full(obj, f, *a, **k):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 7")

    monkeypatch.setattr(ckpt_io.torch, "save", full)
    with pytest.raises(LitzooError, match="disk is full"):
        train(make_cfg(*FAST, "trainer.max_epochs=1"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "failed" and "disk is full" in results["error"]
    assert not list((tmp_path / "run" / "checkpoints").glob("*"))  # no half-written file left behind


def test_ctrl_c_records_interrupted_and_resumes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "litzoo.cli.train", f"paths.root_dir={tmp_path}", "trainer.max_epochs=200",
           "callbacks=minimal", "logger=none", f"hydra.run.dir={run}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last.ckpt").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    results = strict_json(run / "results.json")
    assert results["status"] == "interrupted" and 1 <= results["epochs"] < 200
    assert "Traceback" not in err and "interrupted" in err
    target = results["epochs"] + 1
    cfg, provenance, applied = resume_config([f"ckpt_path={run}", f"trainer.max_epochs={target}"])
    resumed = train(cfg, provenance, applied)
    assert resumed["status"] == "ok" and resumed["epochs"] == target
    assert resumed["resumes"][-1]["overrides"] == [f"trainer.max_epochs={target}"]


def test_a_classifier_stuck_at_chance_is_flagged_not_hidden() -> None:
    """day27_complete (seed 42): every ReLU of its Dense(6) died in epoch 1, val acc 0.5 for 10 epochs, status ok."""
    from litzoo.run.record import learning_warnings

    stuck = {"best/val_acc": 0.5, "last/acc": 0.5, "best/val_loss": 0.6931}
    (warning,) = learning_warnings(stuck, 2)
    assert "did not learn" in warning and "0.5000" in warning and "2 classes" in warning
    assert learning_warnings({"best/val_acc": 0.105, "last/acc": 0.11}, 10)  # ten classes: chance is 0.1
    assert not learning_warnings({"best/val_acc": 0.62, "last/acc": 0.66}, 2)  # weak, but learning
    assert not learning_warnings({"best/val_acc": 0.5, "last/acc": 0.9}, 2)  # overfits: training accuracy moved
    assert not learning_warnings({"best/val_loss": 0.1}, None)  # regression: no accuracy, no class count


def test_runs_started_in_the_same_second_never_share_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug: two `litzoo-train` started in the same second (two terminals, a script) got one run directory and
    overwrote each other's results.json, history and checkpoints. The folder is now claimed with mkdir."""
    from datetime import datetime

    import litzoo.run.resume as config

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return cls(2026, 11, 24, 10, 7, 7)

    monkeypatch.setattr(config, "datetime", Frozen)
    first, second, third = (config.new_run_dir(tmp_path / "runs") for _ in range(3))
    assert [p.name for p in (first, second, third)] == ["2026-11-24_10-07-07", "2026-11-24_10-07-07_1",
                                                        "2026-11-24_10-07-07_2"]
    assert all(p.is_dir() for p in (first, second, third))


def test_a_run_refuses_an_unreadable_record_in_its_folder(make_cfg, tmp_path: Path) -> None:
    """A resume keeps the record's `started` and `resumes`: from a record that is not a JSON object it would
    crash (AttributeError) or guess; it is named in one line and nothing is trained."""
    from litzoo.run.record import UnreadableRecord

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text('["not", "a", "record"]\n')
    with pytest.raises(UnreadableRecord, match=r"results\.json is unreadable: not a JSON object but an array\. "
                                               r"Move it away"):
        train(make_cfg(*FAST, "trainer.max_epochs=1"))
    assert (run / "results.json").read_text() == '["not", "a", "record"]\n'
    assert not (run / "train.log").exists() and not (run / "checkpoints").exists()
