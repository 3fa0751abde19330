"""The MNIST loader reads real IDX files, and fails clearly when they are missing or corrupt."""
from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from fakedata import digit_like_images, write_idx, write_mnist
from litzoo.data import CorruptFileError, DatasetNotFoundError
from litzoo.data.mnist import FILES, MNISTDataModule, read_idx
from litzoo.errors import LitzooError


def _module(data_dir: Path, **kw) -> MNISTDataModule:
    return MNISTDataModule(data_dir=str(data_dir), download=False, **kw)


def test_reads_generated_idx_gz(mnist_root: Path) -> None:
    dm = _module(mnist_root, val_split=0.25, batch_size=32)
    dm.prepare_data()
    dm.setup("fit")
    images, labels = digit_like_images(240, seed=0)
    x_train, y_train = dm.splits["train"]
    x_val, y_val = dm.splits["val"]
    assert x_train.shape == (180, 1, 28, 28) and x_val.shape == (60, 1, 28, 28)
    assert dm.splits["test"][0].shape == (60, 1, 28, 28)
    # Keras validation_split: the LAST 25% of the file's order, unshuffled
    assert torch.equal(y_val, torch.from_numpy(labels[-60:].astype(np.int64)))
    assert torch.allclose(x_train[0, 0], torch.from_numpy(images[0]).float() / 255)
    batches = list(dm.train_dataloader())
    assert len(batches) == 6 and batches[0][0].shape == (32, 1, 28, 28) and batches[0][1].dtype == torch.int64


def test_reads_uncompressed_idx(tmp_path: Path) -> None:
    images, labels = digit_like_images(20, seed=3)
    raw = tmp_path / "MNIST" / "raw"
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress=False)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress=False)
    dm = _module(tmp_path, val_split=0.5)
    dm.setup()
    assert dm.splits["test"][0].shape == (20, 1, 28, 28)


def test_shuffle_order_depends_only_on_seed_and_epoch(mnist_root: Path) -> None:
    dm = _module(mnist_root, batch_size=50, seed=7)
    dm.setup()
    first = [y for _, y in _epoch(dm, 0)]
    again = [y for _, y in _epoch(dm, 0)]
    other = [y for _, y in _epoch(dm, 1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert sorted(torch.cat(first).tolist()) == sorted(dm.splits["train"][1].tolist())


def _epoch(dm: MNISTDataModule, epoch: int) -> list:
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_missing_files_message_names_files_and_folder(tmp_path: Path) -> None:
    dm = _module(tmp_path)
    dm.prepare_data()
    with pytest.raises(DatasetNotFoundError) as err:
        dm.setup()
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        assert name in msg
    assert "paths.data_dir" in msg and "download" in msg


@pytest.mark.parametrize("variant, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_failed_download_leaves_nothing_behind(tmp_path: Path, monkeypatch, variant: str, folder: str) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # what torchvision's download_url calls
    existing = tmp_path / "existing"
    existing.mkdir()
    for data_dir in (tmp_path / "nonexistent" / "data", existing):
        dm = MNISTDataModule(data_dir=str(data_dir), variant=variant)  # data.download=true is the default
        dm.prepare_data()
        with pytest.raises(LitzooError) as err:
            dm.setup()
        msg = str(err.value)
        assert str(data_dir / folder / "raw") in msg and "no network" in msg and "download" in msg
        assert all(f"{stem}.gz" in msg for pair in FILES.values() for stem in pair)
        assert "data.download=true" not in msg and "\n" not in msg  # one paragraph, no advice to set what is set
    assert not (tmp_path / "nonexistent").exists()  # a wrong paths.data_dir leaves no tree behind
    assert existing.is_dir() and not any(existing.iterdir())  # a folder that existed stays, nothing added


def test_download_creates_the_folder_only_for_files_that_arrive(tmp_path: Path, monkeypatch) -> None:
    images, labels = digit_like_images(20, seed=0)

    def fake_download(url: str, root: str, filename: str, md5: str) -> None:  # torchvision's download_url
        if "t10k-labels" in filename:
            raise urllib.error.URLError("connection lost")
        write_idx(Path(root) / filename, labels if "labels" in filename else images)

    monkeypatch.setattr("torchvision.datasets.utils.download_url", fake_download)
    dm = MNISTDataModule(data_dir=str(tmp_path / "new"))
    dm.prepare_data()
    raw = tmp_path / "new" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                                                     "train-labels-idx1-ubyte.gz"]  # complete files only
    with pytest.raises(LitzooError, match=r"for t10k-labels-idx1-ubyte.gz \(gzipped or not\).*no network"):
        dm.setup()


def test_failed_copy_removes_only_the_folders_it_created(tmp_path: Path, monkeypatch) -> None:
    def disk_full(path: Path, write) -> None:
        path.parent.mkdir(parents=True)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("litzoo.data.mnist.atomic_write", disk_full)
    monkeypatch.setattr("torchvision.datasets.utils.download_url",
                        lambda url, root, filename, md5: (Path(root) / filename).write_bytes(b"x"))
    dm = MNISTDataModule(data_dir=str(tmp_path / "data"))
    dm.prepare_data()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    (tmp_path / "data").mkdir()
    dm.prepare_data()
    assert [p.name for p in tmp_path.iterdir()] == ["data"] and not any((tmp_path / "data").iterdir())
    with pytest.raises(LitzooError, match="No space left on device"):
        dm.setup()


def test_fashion_mnist_folder(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=30, n_test=10, folder="FashionMNIST")
    dm = MNISTDataModule(data_dir=str(tmp_path), variant="fashion_mnist", download=False, val_split=0.2)
    dm.setup()
    assert len(dm.splits["test"][0]) == 10


@pytest.mark.parametrize("damage", ["truncate", "magic", "not_gzip"])
def test_corrupt_file_is_named(mnist_root: Path, damage: str) -> None:
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "magic":
        path.write_bytes(gzip.compress(b"\x12\x34" + raw[2:]))
    else:
        path.write_bytes(b"this is not gzip data")
    with pytest.raises(CorruptFileError, match="train-images-idx3-ubyte.gz"):
        read_idx(path)


def test_unknown_variant_lists_valid() -> None:
    with pytest.raises(ValueError, match="fashion_mnist"):
        MNISTDataModule(data_dir=".", variant="kmnist")


def test_real_mnist_files_parse(shared_data: Path) -> None:
    x = read_idx(shared_data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000,) and x.max() == 9
