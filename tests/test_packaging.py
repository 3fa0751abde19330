"""Configs ship with the package: a built wheel, with the checkout out of reach, composes every experiment."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_has_the_configs_and_summary_runs_from_an_empty_folder(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("litzoo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "litzoo/conf/train.yaml" in names and "litzoo/conf/experiment/mnist_convnet.yaml" in names
    # hydra/sweeper=optuna: the plugin (namespace package, no hydra_plugins/__init__.py) and its configs
    assert "hydra_plugins/litzoo_optuna_sweeper/optuna_sweeper.py" in names
    assert "hydra_plugins/__init__.py" not in names and "litzoo/conf/hydra/sweeper/sampler/grid.yaml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import litzoo; "
            "assert litzoo.__file__.startswith(sys.argv[1]), litzoo.__file__; "
            "from litzoo.cli.summary import main; main(['experiment=mnist_convnet']); "
            "assert 'pytorch_lightning' not in sys.modules, 'litzoo-summary must not import Lightning'")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", code, str(site)], cwd=empty, capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Total params: 93,322" in run.stdout
