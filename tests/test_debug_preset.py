"""`trainer=debug` is a quick check of ANY experiment: applied after the experiment, on generated data."""
from __future__ import annotations

from pathlib import Path

import pytest

from fakedata import write_mnist
from fakedata_images import write_digits_csv, write_image_folder
from fakedata_text import write_aclimdb_tree, write_glove
from litzoo.run.compose import CONF_DIR, compose_config
from litzoo.run.fit import train

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
PRETRAINED = ("vgg16", "resnet50")  # a random 14-25M-parameter base at 150x150 (or 224) on CPU: slow
# ImageNet weights need the network: these run with random weights (their download error is tested elsewhere)
NO_DOWNLOAD = {"vgg16_features": ["data.base.weights=none"], "vgg16_head": ["model.weights=none"],
               "vgg16_finetune": ["model.weights=none"], "resnet50_transfer": ["model.weights=none"]}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder holding every source the experiments read, tiny, in the real formats."""
    root = tmp_path_factory.mktemp("debug") / "data"
    write_mnist(root, n_train=120, n_test=30)
    write_image_folder(root / "cats_and_dogs_small", {"train": 8, "validation": 4, "test": 4}, size=24, corrupt=False)
    write_digits_csv(root / "digit-recognizer", n_train=80, n_test=10)
    write_aclimdb_tree(root, n_per_class=12)
    write_glove(root / "glove.6B.100d.txt", ["good", "bad", "movie", "the"], dim=100)
    return root


def test_debug_preset_wins_over_the_experiment() -> None:
    for name, (epochs, batches) in {"cats_dogs_small_augmented": (100, None), "jena_gru": (20, 500)}.items():
        plain = compose_config([f"experiment={name}"])
        assert plain.trainer.max_epochs == epochs and plain.trainer.get("limit_train_batches") == batches
        debug = compose_config([f"experiment={name}", "trainer=debug"])
        assert debug.trainer.max_epochs == 1 and debug.trainer.limit_train_batches == 5
        assert debug.trainer.limit_val_batches == 3 and debug.trainer.accelerator == "cpu"
    explicit = compose_config(["experiment=jena_gru", "trainer=debug", "trainer.max_epochs=2"])
    assert explicit.trainer.max_epochs == 2  # the command line still has the last word


@pytest.mark.parametrize("experiment", [pytest.param(e, marks=pytest.mark.slow) if e.startswith(PRETRAINED) else e
                                        for e in EXPERIMENTS])
def test_every_experiment_runs_under_trainer_debug(experiment: str, data_root: Path, tmp_path: Path) -> None:
    cfg = compose_config([f"experiment={experiment}", "trainer=debug", f"paths.root_dir={tmp_path}",
                          f"paths.data_dir={data_root}", f"paths.output_dir={tmp_path}/run",
                          f"paths.cache_dir={tmp_path}/cache", *NO_DOWNLOAD.get(experiment, [])])
    results = train(cfg)
    assert results["status"] == "ok" and results["epochs"] == 1
    assert results["global_step"] <= 5 and (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
