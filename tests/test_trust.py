"""A checkpoint or run folder from elsewhere is data: its stored config may not choose what code runs.

Each attack is a real checkpoint of a tiny digits run whose stored config was edited the way an attacker
would, then handed to eval, visualize, a resume and a sweep resume. The marker file the attack would
create must never appear, the command must exit 1, and its message must name the target.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from litzoo.cli import eval as evaluate, export, predict, train as train_mod, visualize
from litzoo.run.compose import compose_config
from litzoo.run.trust import UntrustedConfig, ensure_buildable, why_refused

FAST = ["trainer=debug", "test=false", "trainer.accelerator=cpu", "callbacks=minimal", "logger=none"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trust")
    cfg = compose_config([f"paths.root_dir={root}", f"paths.output_dir={root}/clean", *FAST])
    train_mod.train(cfg)
    return root / "clean"


def _poisoned(clean_run: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    """A copy of the clean run whose checkpoints' stored configs `edit(config, marker)` changed."""
    run = tmp_path / "shared_run"
    shutil.copytree(clean_run, run)
    marker = tmp_path / "pwned"
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        for key in ("config", "config_unresolved"):
            edit(state["hyper_parameters"][key], str(marker))
        torch.save(state, ckpt)
    return run, marker


def _open_as_model(config: dict[str, Any], marker: str) -> None:
    config["model"] = {"_target_": "builtins.open", "file": marker, "mode": "w"}


def _nested_open(config: dict[str, Any], marker: str) -> None:
    config["model"]["input_shape"] = {"_target_": "builtins.open", "file": marker, "mode": "w"}


def _pickle_via_torch_load(config: dict[str, Any], marker: str) -> None:
    config["model"] = {"_target_": "torch.load", "weights_only": False,
                       "f": {"_target_": "io.BytesIO", "initial_bytes": marker.encode()}}


def _evil_callback(config: dict[str, Any], marker: str) -> None:
    config["callbacks"]["evil"] = {"_target_": "builtins.open", "file": marker, "mode": "w"}


def _walk_through_our_module(config: dict[str, Any], marker: str) -> None:
    # the prefix is litzoo's, but the path walks on to another object (numpy.savetxt here)
    config["model"]["input_shape"] = {"_target_": "litzoo.data.base.np.savetxt", "fname": marker, "X": [[1.0]]}


def _our_own_file_writer(config: dict[str, Any], marker: str) -> None:
    # a litzoo function that writes a file: not a buildable target, although it is ours
    config["model"]["input_shape"] = {"_target_": "litzoo.data.timeseries.generate_climate_csv", "path": marker}


def _node_through_interpolation(config: dict[str, Any], marker: str) -> None:
    config["payload"] = {"_target_": "builtins.open", "file": marker, "mode": "w"}
    config["model"]["input_shape"] = "${payload}"


ATTACKS = {"open_model": (_open_as_model, "builtins.open"), "nested": (_nested_open, "builtins.open"),
           "torch_load": (_pickle_via_torch_load, "torch.load"), "callback": (_evil_callback, "builtins.open"),
           "walk": (_walk_through_our_module, "litzoo.data.base.np.savetxt"),
           "own_writer": (_our_own_file_writer, "generate_climate_csv"),
           "interpolation": (_node_through_interpolation, "builtins.open")}


def _exit_code(fn) -> int:
    with pytest.raises(SystemExit) as stopped:
        fn()
    return stopped.value.code


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_eval_visualize_and_resume_refuse_untrusted_targets(attack: str, clean_run: Path, tmp_path: Path,
                                                            capsys, monkeypatch) -> None:
    edit, target = ATTACKS[attack]
    run, marker = _poisoned(clean_run, tmp_path, edit)
    monkeypatch.chdir(tmp_path)
    commands = {
        "eval": lambda: evaluate.main([str(run)]),
        "eval_ckpt": lambda: evaluate.main([str(run / "checkpoints" / "last.ckpt")]),
        "visualize": lambda: visualize.main([str(run)]),
        "predict": lambda: predict.main([str(run), str(tmp_path), "--out", str(tmp_path / "p.csv")]),
        "export": lambda: export.main([str(run), "--format", "torchscript", "--out", str(tmp_path / "export")]),
        "resume": lambda: (monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={run}",
                                                             "trainer.max_epochs=2"]), train_mod.main()),
    }
    for name, command in commands.items():
        assert _exit_code(command) == 1, name
        err = capsys.readouterr().err
        assert target in err and "does not build it" not in err, (name, err[-800:])
        assert "litzoo does not build from a file" in err and "LITZOO_ALLOW_TARGETS" in err, (name, err[-800:])
        assert not marker.exists(), name
    assert (run / "results.json").read_text() == (clean_run / "results.json").read_text()  # record untouched


def test_sweep_resume_refuses_a_poisoned_job_checkpoint(clean_run: Path, tmp_path: Path) -> None:
    """A sweep re-run continues a killed job from its last.ckpt: that file's config is checked first."""
    args = [sys.executable, "-m", "litzoo.cli.train", "-m", "seed=1,2", *FAST, f"paths.root_dir={tmp_path}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    job = tmp_path / "sweep" / "seed=1"
    marker = tmp_path / "pwned"
    state = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
    _evil_callback(state["hyper_parameters"]["config_unresolved"], str(marker))
    torch.save(state, job / "checkpoints" / "last.ckpt")
    results = (job / "results.json").read_text().replace('"status": "ok"', '"status": "interrupted"')
    (job / "results.json").write_text(results)  # as if killed: the re-run resumes it from last.ckpt
    again = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]
    assert "builtins.open" in again.stderr and "Traceback" not in again.stderr
    assert not marker.exists()
    assert '"status": "failed"' in (job / "results.json").read_text()


def test_allowed_by_the_user_not_by_the_file(clean_run: Path, tmp_path: Path, monkeypatch) -> None:
    """LITZOO_ALLOW_TARGETS (or --allow-target) lets a trusted file build more; a key in the file cannot."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"name": "x", "model": {"_target_": "collections.OrderedDict"},
                            "allow_targets": ["collections.*"], "LITZOO_ALLOW_TARGETS": "collections.*"})
    with pytest.raises(UntrustedConfig, match="collections.OrderedDict"):
        ensure_buildable(cfg, "a.ckpt")
    ensure_buildable(cfg, "a.ckpt", allow=("collections.OrderedDict",))
    monkeypatch.setenv("LITZOO_ALLOW_TARGETS", "collections.*")
    ensure_buildable(cfg, "a.ckpt")


@pytest.mark.parametrize("target", ["litzoo.models.sequential.sequential", "torch.nn.Linear", "torch.optim.Adam",
                                    "torch.optim.lr_scheduler.OneCycleLR", "pytorch_lightning.Trainer",
                                    "pytorch_lightning.callbacks.EarlyStopping", "torchmetrics.Accuracy",
                                    "pytorch_lightning.loggers.TensorBoardLogger", "litzoo.tasks.ClassificationTask",
                                    "pytorch_lightning.strategies.DDPStrategy",
                                    "litzoo.run.tensorboard.TensorBoardLogger"])
def test_buildable_targets(target: str) -> None:
    assert why_refused(target) is None


@pytest.mark.parametrize("target", ["builtins.open", "os.system", "numpy.savetxt", "torch.load",
                                    "torch.nn.modules.module.torch.load", "litzoo.run.checkpoint.atomic_torch_save",
                                    "litzoo.data.mnist.download", "torch.nn.init.zeros_", "torch.hub.load",
                                    "pytorch_lightning.callbacks.os.remove", "litzoo.callbacks.curves.os.remove",
                                    "litzoo.run.tensorboard.EventFile", "litzoo.run.tensorboard.os.remove",
                                    "", "a b", None, 3])
def test_refused_targets(target: Any) -> None:
    assert why_refused(target)


def test_side_effect_resolvers_and_names_are_refused() -> None:
    from litzoo.run.trust import check_stored

    with pytest.raises(UntrustedConfig, match="litzoo_run_dir"):
        check_stored({"name": "x", "a": "${litzoo_run_dir:/tmp/evil,null}"}, "f.ckpt")
    with pytest.raises(UntrustedConfig, match="oc.create"):
        check_stored({"name": "x", "a": "${oc.create:{_target_: builtins.open}}"}, "f.ckpt")
    with pytest.raises(UntrustedConfig, match="folder name"):
        check_stored({"name": "../../etc"}, "f.ckpt")
    with pytest.raises(UntrustedConfig, match="not a mapping"):
        check_stored(["x"], "f.ckpt")


def test_every_packaged_experiment_passes_the_check() -> None:
    """The list is not too narrow: each shipped experiment, as stored in its checkpoint, is buildable."""
    from omegaconf import OmegaConf

    from litzoo.run.compose import CONF_DIR

    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        cfg = compose_config([f"experiment={path.stem}", "paths.output_dir=/tmp/x"])
        ensure_buildable(OmegaConf.create(copy.deepcopy(OmegaConf.to_container(cfg))), path.name)


def test_loose_checkpoint_continues_in_a_new_run_folder(clean_run: Path, tmp_path: Path, monkeypatch) -> None:
    loose = tmp_path / "downloads"
    loose.mkdir()
    shutil.copy(clean_run / "checkpoints" / "last.ckpt", loose / "model.ckpt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["litzoo-train", f"ckpt_path={loose / 'model.ckpt'}", "trainer.max_epochs=2",
                                      f"paths.root_dir={tmp_path}"])
    train_mod.main()
    assert sorted(p.name for p in loose.iterdir()) == ["model.ckpt"]  # nothing written beside the file
    (run,) = (tmp_path / "logs" / "digits_convnet" / "runs").iterdir()
    import json

    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "ok" and results["epochs"] == 2
    assert results["resumes"][0]["checkpoint"] == str((loose / "model.ckpt").resolve())
