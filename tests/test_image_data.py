"""image_folder and digits_csv DataModules on tiny generated files in the real formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fakedata_images import write_digits_csv, write_image_folder
from litzoo.data.base import CorruptFileError, DatasetNotFoundError
from litzoo.data.digits_csv import DigitsCSVDataModule, main, read_digits_csv, write_digit_recognizer_csv
from litzoo.data.image_folder import ImageFolderDataModule, preprocess_images
from litzoo.data.pixels import PREPROCESS_MODES, to_display
from litzoo.run.fit import train


def folder_dm(root: Path, **kw) -> ImageFolderDataModule:
    args = dict(data_dir=str(root), folder="imgs", target_size=(16, 16), input_shape=(3, 16, 16), seed=1,
                cache_dir=str(root / "cache"))
    return ImageFolderDataModule(**{**args, **kw})


def test_image_folder_splits_labels_and_skips_corrupt_files(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs")
    dm = folder_dm(tmp_path)
    with pytest.warns(UserWarning, match="broken.jpg") as record:
        dm.setup()
    assert "notes.txt" in str(record[0].message)
    x, y = dm.splits["train"]
    assert x.dtype == torch.uint8 and x.shape == (12, 3, 16, 16)  # 6 per class, the corrupt file skipped
    assert y.tolist() == [0] * 6 + [1] * 6  # sorted class folders: cats=0, dogs=1
    assert len(dm.splits["val"][0]) == 6 and len(dm.splits["test"][0]) == 6
    # class 0 is bright on the left, class 1 on the right: labels follow the folders
    left, right = x[:, :, :, :8].float().mean((1, 2, 3)), x[:, :, :, 8:].float().mean((1, 2, 3))
    assert ((left > right) == (y == 0)).all()


def test_image_folder_prints_classes_and_split_sizes(tmp_path: Path, capsys) -> None:
    write_image_folder(tmp_path / "imgs", splits={"train": 4, "validation": 2}, corrupt=False)
    folder_dm(tmp_path).setup()
    out = capsys.readouterr().out
    assert "classes cats=0, dogs=1; images train 8, val 4, test 4" in out
    assert "test reuses the validation split" in out


def test_image_folder_cache_is_reused(tmp_path: Path, monkeypatch) -> None:
    write_image_folder(tmp_path / "imgs", corrupt=False)
    first = folder_dm(tmp_path)
    first.setup()
    assert len(list((tmp_path / "cache").glob("images-*.pt"))) == 3
    monkeypatch.setattr("litzoo.data.image_folder.decode", lambda *a: pytest.fail("decoded despite the cache"))
    second = folder_dm(tmp_path)
    second.setup()
    assert torch.equal(second.splits["train"][0], first.splits["train"][0])
    monkeypatch.undo()
    for f in (tmp_path / "imgs" / "train" / "cats").iterdir():
        f.write_bytes(b"")  # changed files change the cache key: re-read, now unreadable and skipped
    third = folder_dm(tmp_path)
    with pytest.warns(UserWarning, match="img_0.jpg"):
        third.setup()
    assert len(third.splits["train"][0]) == 6


def test_seeded_split_without_split_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", splits={"": 10}, corrupt=False)
    dm = folder_dm(tmp_path, val_split=0.2, test_split=0.2)
    dm.setup()
    sizes = {k: len(v[0]) for k, v in dm.splits.items()}
    assert sizes == {"train": 12, "val": 4, "test": 4}
    assert 0 < dm.splits["val"][1].float().mean() < 1  # shuffled, not the sorted tail (all dogs)
    again = folder_dm(tmp_path, val_split=0.2, test_split=0.2, cache_dir=None)
    again.setup()
    assert torch.equal(again.splits["val"][0], dm.splits["val"][0])


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="imgs"):
        folder_dm(tmp_path).setup()
    write_image_folder(tmp_path / "imgs", corrupt=False)
    with pytest.raises(ValueError, match="3 class folders|2 class folders"):
        folder_dm(tmp_path, num_classes=3).setup()
    with pytest.raises(ValueError, match="preprocess"):
        folder_dm(tmp_path, preprocess="zscore")


def test_preprocess_conventions() -> None:
    x = torch.full((1, 3, 2, 2), 255.0)
    assert preprocess_images(x, "rescale").max() == 1.0
    assert preprocess_images(x * 0, "symmetric").min() == -1.0
    imagenet = preprocess_images(x, "imagenet")[0, :, 0, 0]
    assert torch.allclose(imagenet, (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
    caffe = preprocess_images(torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1), "caffe").flatten()
    assert torch.allclose(caffe, torch.tensor([30 - 103.939, 20 - 116.779, 10 - 123.68]))  # BGR


def test_digits_csv_reads_splits_predictions_and_classes(tmp_path: Path) -> None:
    folder = write_digits_csv(tmp_path / "digit-recognizer")
    dm = DigitsCSVDataModule(str(tmp_path), batch_size=8, test_fraction=0.1, val_split=0.2)
    dm.setup()
    assert {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 43, "val": 11, "test": 6}
    assert dm.predict_x.shape == (10, 1, 28, 28) and dm.predict_x.max() <= 1.0
    x, y = dm.splits["train"]
    assert torch.allclose(x[:, 0, 0, 0] * 255, y.float() * 20)  # pixel0 / 255 in the (0, 0) corner
    subset = DigitsCSVDataModule(str(tmp_path), classes=[7, 2], num_classes=2, val_split=0.2)
    subset.setup()
    assert set(torch.cat([v[1] for v in subset.splits.values()]).tolist()) == {0, 1}
    (folder / "train.csv").write_text("label,foo\n1,2\n")
    with pytest.raises(CorruptFileError, match="train.csv"):
        read_digits_csv(folder / "train.csv", labeled=True)


def test_digits_csv_missing_file_says_how_to_generate(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="python -m litzoo.data.digits_csv"):
        DigitsCSVDataModule(str(tmp_path)).setup()


def test_csv_tool_takes_the_data_folder_or_its_mnist_raw(tmp_path: Path, mnist_root: Path, capsys) -> None:
    main([str(mnist_root), str(tmp_path / "a")])  # the README's command: a folder that holds MNIST/raw
    main([str(mnist_root / "MNIST" / "raw"), str(tmp_path / "b")])
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv").read_bytes()
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(DatasetNotFoundError, match="MNIST/raw"):
        main([str(tmp_path / "a"), str(tmp_path / "c")])


def test_csv_from_mnist_and_kaggle_run_writes_submission(tmp_path: Path, mnist_root: Path, make_cfg) -> None:
    write_digit_recognizer_csv(mnist_root / "MNIST" / "raw", tmp_path / "data" / "digit-recognizer")
    cfg = make_cfg("experiment=kaggle_dropout_strides", "trainer.max_epochs=1", "logger=none", "callbacks.lr_monitor=null",
                   "callbacks.conv_visualizer=null")
    results = train(cfg)
    assert results["metrics"]["test/acc"] >= 0.0
    rows = (Path(cfg.paths.output_dir) / "submission.csv").read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 61  # MNIST fake: 60 test images
    assert json.loads((Path(cfg.paths.output_dir) / "results.json").read_text())["epochs"] == 1


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_to_display_inverts_each_preprocessing(mode: str) -> None:
    """Both directions live in litzoo.data.pixels: a new convention without its inverse fails here."""
    pixels = torch.randint(0, 256, (2, 3, 4, 4)).float()
    torch.testing.assert_close(to_display(preprocess_images(pixels, mode), mode), pixels / 255, atol=1e-5, rtol=0)
