"""`litzoo-train -m`: jobs side by side under one folder named by what varies, each with results.json and
TensorBoard events, and the sweep's summary table at the end."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path


def test_two_job_multirun(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "litzoo.cli.train", "-m", "optimizer=adam,rmsprop", "trainer.max_epochs=1",
           f"paths.root_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "digits_convnet" / "multiruns").iterdir()
    runs = sorted(p.parent for p in sweep.glob("*/results.json"))
    assert [r.name for r in runs] == ["optimizer=adam", "optimizer=rmsprop"]  # the constant max_epochs left out
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        assert results["status"] == "ok" and "trainer.max_epochs=1" in results["overrides"]
        assert "test/acc" in results["metrics"] and Path(results["best_checkpoint"]).is_file()
        assert list(run.glob("events.out.tfevents.*"))
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["optimizer"] for r in rows) == ["adam", "rmsprop"] and {r["status"] for r in rows} == {"ok"}
    closing = out.stdout.strip().splitlines()[-4:]  # the table closes the output: title, header, 2 jobs
    assert "2 jobs: 2 ok" in closing[0] and closing[1].split()[:3] == ["job", "optimizer", "status"]


def test_a_varying_path_names_the_job_folders(tmp_path: Path) -> None:
    """Folders are named by what varies, a location included: with paths.* always left out of the names (the
    old exclude_keys list) both jobs went to one folder and the second was skipped as already done."""
    cmd = [sys.executable, "-m", "litzoo.cli.train", "-m", "paths.data_dir=d1,d2", "trainer.max_epochs=1",
           "callbacks=minimal", "logger=none", "test=false", f"paths.root_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "digits_convnet" / "multiruns").iterdir()
    assert sorted(p.parent.name for p in sweep.glob("*/results.json")) == ["paths.data_dir=d1", "paths.data_dir=d2"]
