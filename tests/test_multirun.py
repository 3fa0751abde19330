"""`litzoo-train -m`: jobs side by side under one folder, each with results.json and TensorBoard events."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_two_job_multirun(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "litzoo.train", "-m", "optimizer=adam,rmsprop", "trainer.max_epochs=1",
           f"paths.root_dir={tmp_path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    sweeps = list((tmp_path / "logs" / "digits_convnet" / "multiruns").iterdir())
    assert len(sweeps) == 1
    runs = sorted(p.parent for p in sweeps[0].glob("*/results.json"))
    assert [r.name for r in runs] == ["optimizer=adam,trainer.max_epochs=1", "optimizer=rmsprop,trainer.max_epochs=1"]
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        assert results["overrides"][0].startswith("optimizer=") and results["wall_seconds"] > 0
        assert "test/acc" in results["metrics"] and Path(results["best_checkpoint"]).is_file()
        assert list(run.glob("events.out.tfevents.*"))
    assert "Run directory:" in "\n".join(out.stdout.strip().splitlines()[-4:])
