"""The output layer follows the data (`${output_units:..}`, `${output_activation:..}`); the loss follows the output."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fakedata_images import write_image_folder
from litzoo.models.resolvers import output_activation, output_units
from litzoo.heads import classification_kind
from litzoo.run.build import build
from litzoo.run.fit import train

SMALL = ["model=cats_dogs_small_convnet", "data=image_folder", "data.folder=imgs", "data.target_size=[48,48]",
         "data.batch_size=4", "trainer.max_epochs=1", "logger=none", "callbacks=minimal"]


def test_three_class_folder_trains_with_data_num_classes_only(tmp_path: Path, make_cfg) -> None:
    write_image_folder(tmp_path / "data" / "imgs", size=48, splits={"train": 4, "validation": 2},
                       classes=("cats", "dogs", "foxes"), corrupt=False)
    cfg = make_cfg(*SMALL, "data.num_classes=3")  # no model.layers.* override
    _, task, _ = build(cfg)
    assert task.net.output_shape == (3,) and task.net.output_activation == "softmax"
    assert task.kind == "categorical"
    results = train(cfg)
    assert results["epochs"] == 1 and 0.0 <= results["metrics"]["test/acc"] <= 1.0


def test_binary_seed_keeps_its_sigmoid_unit_on_two_classes(tmp_path: Path, make_cfg) -> None:
    _, task, _ = build(make_cfg(*SMALL, f"paths.data_dir={tmp_path}"))
    assert task.net.output_shape == (1,) and task.net.output_activation == "sigmoid" and task.kind == "binary"
    out, y = torch.tensor([[0.3], [-1.0]]), torch.tensor([1, 0])
    loss, _ = task.loss_and_output(out, y)
    assert loss == F.binary_cross_entropy_with_logits(out.squeeze(-1), y.float())


def test_resolvers_and_loss_choice() -> None:
    assert (output_units(2), output_activation(2)) == (1, "sigmoid")
    assert (output_units(5), output_activation(5)) == (5, "softmax")
    with pytest.raises(ValueError, match="num_classes must be >= 2.*got 1"):
        output_units(1)
    assert classification_kind(1, None, 2) == "binary"  # DLwP 6.4's Dense(1): a logit
    assert classification_kind(10, "softmax", 10) == "categorical"
    with pytest.raises(ValueError, match=r"1 sigmoid unit\(s\) but the data has 3 classes.*output_units"):
        classification_kind(1, "sigmoid", 3)
    with pytest.raises(ValueError, match="3 sigmoid unit"):
        classification_kind(3, "sigmoid", 3)  # multi-label is not this task


def test_what_loading_found_is_in_the_record(tmp_path: Path, make_cfg) -> None:
    """An empty class folder and skipped files are named in results.json's warnings, not only on screen."""
    write_image_folder(tmp_path / "data" / "imgs", size=48, splits={"train": 4, "validation": 2},
                       classes=("cats", "dogs", "foxes"), corrupt=True)
    for f in (tmp_path / "data" / "imgs" / "validation" / "foxes").iterdir():
        f.unlink()
    with pytest.warns(UserWarning):
        results = train(make_cfg(*SMALL, "data.num_classes=3"))
    assert any("foxes" in w and "no images" in w for w in results["warnings"]), results["warnings"]
    assert any("broken.jpg" in w for w in results["warnings"]), results["warnings"]


def test_kaggle_submission_reads_a_one_unit_head_as_a_sigmoid(tmp_path: Path) -> None:
    """A binary digits subset with Keras' Dense(1, 'sigmoid'): argmax over one column gave class 0 for every
    image; the submission now reads the output as the task does (litzoo.heads.class_probabilities)."""
    from types import SimpleNamespace

    from litzoo.callbacks.submission import KaggleSubmission

    class OneLogit(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1]  # the first feature is the logit

    callback = KaggleSubmission(str(tmp_path))
    trainer = SimpleNamespace(datamodule=SimpleNamespace(predict_x=torch.tensor([[2.0], [-3.0], [0.5]])))
    callback.on_test_end(trainer, OneLogit())
    assert (tmp_path / "submission.csv").read_text() == "ImageId,Label\n1,1\n2,0\n3,1\n"
