"""Any path works: a run folder named like a file manager's copy in a home folder with an umlaut resumes and
evaluates (no path reaches Hydra's override parser unquoted)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from litzoo.cli import eval as evaluate, train as train_mod
from litzoo.run.compose import compose_config

WEIRD = "run (1) jürgen, #2'"


def test_resume_and_eval_from_a_path_with_spaces_unicode_comma_parentheses_hash_quote(tmp_path: Path, monkeypatch,
                                                                                       capsys) -> None:
    cfg = compose_config([f"paths.root_dir={tmp_path}", "trainer=debug", "test=false", "logger=none",
                          "callbacks=minimal", "trainer.accelerator=cpu"])
    cfg.paths.output_dir = str(tmp_path / "first")
    train_mod.train(cfg)
    run = tmp_path / "home" / "jürgen" / WEIRD
    shutil.copytree(tmp_path / "first", run)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={run}", "trainer.max_epochs=2"])
    train_mod.main()
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "ok" and results["epochs"] == 2 and results["run_dir"] == str(run)
    monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                                      "trainer.max_epochs=3"])
    train_mod.main()
    assert json.loads((run / "results.json").read_text())["epochs"] == 3
    capsys.readouterr()
    evaluate.main([str(run)])
    assert "test/acc" in capsys.readouterr().out


def test_a_resume_with_nothing_to_train_says_so_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    import pytest

    cfg = compose_config([f"paths.root_dir={tmp_path}", "trainer=debug", "test=false", "logger=none",
                          "callbacks=minimal", "trainer.accelerator=cpu", f"paths.output_dir={tmp_path}/run"])
    train_mod.train(cfg)
    before = (tmp_path / "run" / "results.json").read_text()
    monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={tmp_path / 'run'}", "trainer.max_epochs=1"])
    with pytest.raises(SystemExit) as stopped:
        train_mod.main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "Nothing to train: the run" in err and "already has 1 epoch(s)" in err
    assert (tmp_path / "run" / "results.json").read_text() == before


def test_eval_resolves_checkpoints_inside_the_run_folder_only(tmp_path: Path, capsys) -> None:
    """A copied run whose best checkpoint was deleted: eval says so and tests its own last.ckpt, never the
    original's best through the absolute path in results.json."""
    cfg = compose_config([f"paths.root_dir={tmp_path}", "trainer=debug", "test=false", "logger=none",
                          "callbacks=minimal", "trainer.accelerator=cpu", f"paths.output_dir={tmp_path}/a"])
    results = train_mod.train(cfg)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "checkpoints" / Path(results["best_checkpoint"]).name).unlink()
    capsys.readouterr()
    evaluate.main([str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert "is missing; using" in out and f"Checkpoint: {tmp_path / 'b' / 'checkpoints' / 'last.ckpt'}" in out
    assert str(tmp_path / "a") not in out
