"""The IMDB data module on a tiny generated aclImdb tree and tarball, the token cache, GloVe, one training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from fakedata_text import POSITIVE, TEST_ONLY_WORD, write_aclimdb_tar, write_aclimdb_tree, write_glove
from litzoo.data import text
from litzoo.data import glove, imdb
from litzoo.data.base import DatasetNotFoundError
from litzoo.run.fit import train


def make_dm(data_dir, cache_dir, **kw) -> imdb.ImdbDataModule:
    kw.setdefault("maxlen", 12)
    shape = [kw.get("num_words", 60)] if kw.get("mode") == "multihot" else [kw["maxlen"]]
    dm = imdb.ImdbDataModule(str(data_dir), str(cache_dir), num_words=kw.pop("num_words", 60), input_shape=shape,
                             val_split=0.25, **kw)
    dm.setup("fit")
    return dm


def test_tree_and_tarball_give_the_same_data(tmp_path) -> None:
    write_aclimdb_tree(tmp_path / "tree")
    write_aclimdb_tar(tmp_path / "tar")
    a, b = make_dm(tmp_path / "tree", tmp_path / "cache"), make_dm(tmp_path / "tar", tmp_path / "cache")
    for split in ("train", "val", "test"):
        assert torch.equal(a.splits[split][0], b.splits[split][0]) and torch.equal(a.splits[split][1], b.splits[split][1])
    assert a.splits["train"][0].shape == (60, 12) and a.splits["test"][0].shape == (80, 12)
    assert 0 < a.splits["val"][1].float().mean() < 1  # shuffled once (seed 113): both classes in validation


def test_vocabulary_comes_from_training_reviews_only(tmp_path, capsys) -> None:
    write_aclimdb_tar(tmp_path)
    dm = make_dm(tmp_path, tmp_path / "cache", num_words=1000, maxlen=60)
    assert (f"a vocabulary of {len(dm.vocabulary)} words (num_words=1,000, from the training reviews); sequences "
            "padded/truncated to maxlen=60 tokens") in capsys.readouterr().out
    assert TEST_ONLY_WORD not in dm.vocabulary and set(POSITIVE) <= set(dm.vocabulary)
    assert (dm.splits["test"][0] == text.OOV).any(dim=1).all()  # every test review ends with the unseen word
    x = dm.splits["train"][0]
    assert (x[:, 0] == text.PAD).all()  # short reviews are pre-padded...
    assert ((x == text.START).sum(dim=1) == 1).all()  # ...and keep their start token


def test_tokenising_is_cached_per_setting(tmp_path, monkeypatch) -> None:
    write_aclimdb_tar(tmp_path)
    first = make_dm(tmp_path, tmp_path / "cache")
    assert not first.from_cache

    def no_reading(*_a, **_k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(imdb, "read_reviews", no_reading)
    second = make_dm(tmp_path, tmp_path / "cache", maxlen=5)  # padding length is not part of the key
    assert second.from_cache and torch.equal(second.splits["train"][0], first.splits["train"][0][:, -5:])
    with pytest.raises(AssertionError, match="cache"):
        make_dm(tmp_path, tmp_path / "cache", ngrams=2)  # a new tokenisation setting re-reads the texts


@pytest.mark.parametrize("kw", [{"mode": "multihot"}, {"tokens": "chars"}, {"hashing": True}, {"ngrams": 2}])
def test_vectorisation_options(tmp_path, kw) -> None:
    write_aclimdb_tar(tmp_path)
    dm = make_dm(tmp_path, tmp_path / "cache", **kw)
    x = dm.splits["train"][0]
    if kw.get("mode") == "multihot":
        assert x.dtype == torch.bool and x.shape == (60, 60) and x[:, text.START].all()
        batch = dm.on_after_batch_transfer((x[:4], dm.splits["train"][1][:4]), 0)
        assert batch[0].dtype == torch.float32
    else:
        assert x.dtype == torch.int64 and 0 <= x.min() and x.max() < 60
    if kw.get("tokens") == "chars":
        assert "e" in dm.vocabulary and all(len(c) == 1 for c in dm.vocabulary)
    if kw.get("ngrams"):
        assert any(" " in w for w in dm.vocabulary)


def test_missing_data_names_the_files_and_the_download(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        make_dm(tmp_path / "empty", tmp_path / "cache")
    msg = str(err.value)
    assert "aclImdb_v1.tar.gz" in msg and "ai.stanford.edu" in msg and "paths.data_dir" in msg


def test_glove_file_fills_the_embedding_frozen(tmp_path, make_cfg) -> None:
    write_aclimdb_tar(tmp_path / "data")
    dm = make_dm(tmp_path / "data", tmp_path / "cache", num_words=40)
    vectors = write_glove(tmp_path / "glove.txt", [*dm.vocabulary[:5], "notinvocab"], dim=100)
    cfg = make_cfg("experiment=imdb_glove_flatten", "data.num_words=40", "data.maxlen=12",
                   f"model.layers.0.embeddings_file={tmp_path / 'glove.txt'}")
    net = instantiate(cfg.model)
    assert glove.fill_pretrained_embeddings(net, dm.vocabulary) == ["embedding"]
    weight = net.embedding.weight
    np.testing.assert_allclose(weight[text.FIRST_INDEX + 2].numpy(), vectors[dm.vocabulary[2]], rtol=1e-6)
    assert weight[text.FIRST_INDEX + 6].abs().sum() == 0 and not weight.requires_grad


def test_multihot_experiment_trains_end_to_end(tmp_path, make_cfg) -> None:
    write_aclimdb_tar(tmp_path / "data")
    cfg = make_cfg("experiment=imdb_multihot_dense", f"paths.data_dir={tmp_path / 'data'}", "data.num_words=60",
                   "trainer.max_epochs=3", "data.batch_size=16", "logger=none", "callbacks=minimal",
                   "optimizer=adam", "optimizer.lr=0.01")
    results = train(cfg)
    assert results["metrics"]["test/acc"] > 0.8  # the sentiment words decide the label


def test_the_task_fills_pretrained_embeddings_from_the_data_modules_vocabulary(tmp_path, make_cfg) -> None:
    """The data module declares its vocabulary; the task reads it when fitting starts (setup no longer writes into
    the model)."""
    from types import SimpleNamespace

    write_aclimdb_tar(tmp_path / "data")
    dm = make_dm(tmp_path / "data", tmp_path / "cache", num_words=40)
    vectors = write_glove(tmp_path / "glove.txt", dm.vocabulary[:3], dim=100)
    cfg = make_cfg("experiment=imdb_glove_flatten", "data.num_words=40", "data.maxlen=12",
                   f"model.layers.0.embeddings_file={tmp_path / 'glove.txt'}")
    task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))
    task._trainer = SimpleNamespace(datamodule=dm)
    task.setup("fit")
    np.testing.assert_allclose(task.net.embedding.weight[text.FIRST_INDEX].detach().numpy(), vectors[dm.vocabulary[0]],
                               rtol=1e-6)
