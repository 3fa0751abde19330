"""Keras' fit habits as config: task.class_weight and data.validation_split."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from litzoo.class_weight import class_weights
from litzoo.errors import LitzooError
from litzoo.run.fit import train


def test_balanced_is_sklearns_rule() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    y = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y.numpy())
    assert class_weights("balanced", 3, y).tolist() == pytest.approx(expected.tolist())


def test_list_mapping_and_names() -> None:
    assert class_weights([1, 2.5], 2, None).tolist() == [1.0, 2.5]
    assert class_weights({"1": 4.0}, 3, None).tolist() == [1.0, 4.0, 1.0]
    assert class_weights({"dog": 3.0}, 2, None, ["cat", "dog"]).tolist() == [1.0, 3.0]
    assert class_weights(None, 2, None) is None


@pytest.mark.parametrize(("setting", "said"), [([1.0], "1 weight(s) but the data has 2"),
                                                ({"cow": 2.0}, "'cow'"), ([1.0, -1.0], ">= 0"),
                                                ("heavy", "'heavy' is not valid")])
def test_bad_weights_name_the_value(setting, said: str) -> None:
    with pytest.raises(LitzooError, match=None) as info:
        class_weights(setting, 2, torch.tensor([0, 1]), ["cat", "dog"])
    assert said in str(info.value)


def test_balanced_refuses_an_empty_class() -> None:
    with pytest.raises(LitzooError, match="class\\(es\\) b have no training sample"):
        class_weights("balanced", 3, torch.tensor([0, 0, 2]), ["a", "b", "c"])


def test_training_loss_is_weighted_as_keras_validation_is_not(make_cfg) -> None:
    from hydra.utils import instantiate

    cfg = make_cfg("task.class_weight=[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,9.0]")
    task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))
    task.class_weight = class_weights(list(cfg.task.class_weight), 10, None)
    logits, y = torch.randn(8, 10), torch.tensor([9, 9, 1, 2, 3, 4, 5, 6])
    per_sample = F.cross_entropy(logits, y, reduction="none")
    task.train()
    keras = (per_sample * task.class_weight[y]).sum() / len(y)  # SUM_OVER_BATCH_SIZE: not over the weights' sum
    assert task.loss_and_output(logits, y)[0].item() == pytest.approx(keras.item())
    task.eval()
    assert task.loss_and_output(logits, y)[0].item() == pytest.approx(per_sample.mean().item())


def test_class_weight_trains_and_changes_the_run(make_cfg) -> None:
    small = ("callbacks=minimal", "logger=none", "trainer.max_epochs=1", "test=false")
    plain = train(make_cfg(*small, "paths.output_dir=${paths.root_dir}/plain"))
    weighted = train(make_cfg(*small, "task.class_weight=balanced"))
    heavy = train(make_cfg(*small, "paths.output_dir=${paths.root_dir}/heavy", "task.class_weight={0: 50.0}"))
    assert plain["status"] == weighted["status"] == heavy["status"] == "ok"
    # digits are nearly balanced: balanced weights are ~1 and the run nearly the same; class 0 x50 is not
    assert weighted["metrics"]["best/loss"] == pytest.approx(plain["metrics"]["best/loss"], rel=0.05)
    assert heavy["metrics"]["best/loss"] != pytest.approx(plain["metrics"]["best/loss"], rel=0.05)


def test_validation_split_is_kerass_name_for_val_split(make_cfg) -> None:
    from hydra.utils import instantiate

    from litzoo.cli.train import _keras_keys

    assert _keras_keys(["data.validation_split=0.5", "+data.validation_split=0.3", "-m"]) == [
        "data.val_split=0.5", "data.val_split=0.3", "-m"]
    dm = instantiate(make_cfg("+data.validation_split=0.5").data)
    dm.setup("fit")
    assert dm.val_split == 0.5 and len(dm.splits["val"][0]) == pytest.approx(len(dm.splits["train"][0]), abs=2)
    assert any("validation_split" in w for w in dm.data_warnings)


def test_validation_split_on_the_command_line(tmp_path) -> None:
    import json

    done = subprocess.run([sys.executable, "-m", "litzoo.cli.train", "data.validation_split=0.5", "trainer.max_epochs=1",
                           "callbacks=minimal", "logger=none", "test=false", f"paths.log_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "data.validation_split (Keras' name) is read as data.val_split" in done.stderr
    (results,) = tmp_path.glob("*/runs/*/results.json")
    assert "data.val_split=0.5" in json.loads(results.read_text())["overrides"]
