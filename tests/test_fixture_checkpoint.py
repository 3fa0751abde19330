"""A run written by an earlier litzoo (tests/fixtures/run_2026-11-30: `litzoo-train model=datacamp_dense
trainer=debug logger=none callbacks=minimal test=false`, 2026-11-30, before the run machinery moved) still
evaluates and resumes: old checkpoints keep working when modules move."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from litzoo.cli import eval as evaluate, train as train_mod

FIXTURE = Path(__file__).parent / "fixtures" / "run_2026-11-30"


def test_an_old_run_evaluates_and_resumes(tmp_path: Path, monkeypatch, capsys) -> None:
    run = tmp_path / "old_run"
    shutil.copytree(FIXTURE, run)
    monkeypatch.chdir(tmp_path)
    evaluate.main([str(run)])
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index("{"):])
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["test/loss"] > 0
    monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={run}", "trainer.max_epochs=2"])
    train_mod.main()
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "ok" and results["epochs"] == 2 and len(results["resumes"]) == 1
