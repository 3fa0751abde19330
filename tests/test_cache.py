"""litzoo.cache behind all three caches: a truncated, foreign or stale entry is named, deleted and rebuilt;
writes are atomic (a failed write leaves the old entry and no temporary file)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fakedata_images import write_image_folder
from fakedata_text import write_aclimdb_tar
from litzoo import cache
from litzoo.data.features import FeatureDataModule
from litzoo.data.image_folder import ImageFolderDataModule
from litzoo.data.imdb import ImdbDataModule


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def image_dm(root: Path) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(str(root), "imgs", target_size=(16, 16), input_shape=(3, 16, 16),
                               cache_dir=str(root / "cache"))
    dm.setup()
    return dm


def test_truncated_image_cache_is_rebuilt(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", corrupt=False)
    first = image_dm(tmp_path)
    files = sorted((tmp_path / "cache").glob("images-*.pt"))
    assert len(files) == 3
    truncate(files[0])
    with pytest.warns(cache.CacheWarning, match=rf"cache file {files[0]} is unreadable.*rebuilding"):
        second = image_dm(tmp_path)
    for split in ("train", "val", "test"):
        assert torch.equal(second.splits[split][0], first.splits[split][0])
    assert torch.load(files[0], weights_only=True)["data"]["x"].shape[1:] == (3, 16, 16)  # rewritten whole


def test_truncated_feature_cache_is_rebuilt(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "cats_and_dogs_small", size=16, splits={"train": 3, "validation": 2}, corrupt=False)
    source = {"_target_": "litzoo.data.image_folder.ImageFolderDataModule", "data_dir": str(tmp_path),
              "folder": "cats_and_dogs_small", "target_size": [16, 16], "input_shape": [3, 16, 16],
              "preprocess": "imagenet"}
    base = {"_target_": "torch.nn.AvgPool2d", "kernel_size": 4}

    def make() -> FeatureDataModule:
        dm = FeatureDataModule(source, base, input_shape=(3, 4, 4), cache_dir=str(tmp_path / "cache"))
        dm.setup()
        return dm

    first = make()
    assert first.extract_seconds is not None
    [path] = (tmp_path / "cache").glob("features-*.pt")
    truncate(path)
    with pytest.warns(cache.CacheWarning, match=rf"cache file {path} is unreadable"):
        second = make()
    assert second.extract_seconds is not None  # the base ran again
    assert torch.equal(second.splits["train"][0], first.splits["train"][0])
    assert make().extract_seconds is None  # and the rebuilt entry answers the next run


def test_truncated_token_cache_is_rebuilt(tmp_path: Path) -> None:
    write_aclimdb_tar(tmp_path)

    def make() -> ImdbDataModule:
        dm = ImdbDataModule(str(tmp_path), str(tmp_path / "cache"), num_words=60, maxlen=12, input_shape=[12])
        dm.setup()
        return dm

    first = make()
    [path] = (tmp_path / "cache" / "imdb").glob("*.npz")
    truncate(path)
    with pytest.warns(cache.CacheWarning, match=rf"cache file {path} is unreadable"):
        second = make()
    assert not second.from_cache and torch.equal(second.splits["train"][0], first.splits["train"][0])
    assert make().from_cache


def test_stale_entries_are_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "entry.pt"
    torch.save({"x": torch.zeros(2)}, path)  # an older litzoo's cache layout (no metadata)
    with pytest.warns(cache.CacheWarning, match=rf"cache file {path} is stale"):
        assert cache.load_torch(path, {"key": "a"}) is None
    assert not path.exists()
    cache.save_torch(path, {"key": "a"}, {"x": torch.ones(2)})
    assert torch.equal(cache.load_torch(path, {"key": "a"})["x"], torch.ones(2))
    with pytest.warns(cache.CacheWarning, match="stale"):
        assert cache.load_torch(path, {"key": "b"}) is None  # other settings
    arrays = tmp_path / "entry.npz"
    cache.save_arrays(arrays, {"key": "a"}, {"ids": np.arange(3)})
    assert cache.load_arrays(arrays, {"key": "a"})["ids"].tolist() == [0, 1, 2]
    with pytest.warns(cache.CacheWarning, match="stale"):
        assert cache.load_arrays(arrays, {"key": "b"}) is None


def test_a_failed_write_leaves_the_old_entry_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "entry.npz"
    cache.save_arrays(path, {"key": "a"}, {"ids": np.arange(3)})

    def dies_halfway(f) -> None:
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.atomic_write(path, dies_halfway)
    assert cache.load_arrays(path, {"key": "a"})["ids"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npz"]
