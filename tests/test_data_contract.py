"""One data contract: every in-memory source goes through InMemoryDataModule's loaders and its one batch
pipeline (to device -> to float -> augment, training only -> preprocess); augmentation comes from the
config; labels are checked before training; shapes are derived; evaluation batches are representative."""
from __future__ import annotations

import collections.abc
import types
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fakedata_images import write_image_folder
from fakedata_text import write_climate_csv
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from litzoo.augment import ImageDataGenerator
from litzoo.data.base import EpochBatchSampler, InMemoryDataModule
from litzoo.data.digits import DigitsDataModule
from litzoo.data.digits_csv import DigitsCSVDataModule
from litzoo.data.features import FeatureDataModule
from litzoo.data.image_folder import ImageFolderDataModule
from litzoo.data.imdb import ImdbDataModule
from litzoo.data.mnist import MNISTDataModule
from litzoo.data.pixels import PREPROCESS_MODES
from litzoo.data.timeseries import TimeseriesDataModule
from litzoo.errors import LitzooError
from litzoo.run.compose import CONF_DIR
from litzoo.run.fit import train


def _sources() -> list[type]:
    """Every LightningDataModule defined in litzoo.data, found by importing its modules (no list to keep)."""
    import importlib
    import inspect
    import pkgutil

    import pytorch_lightning as pl

    import litzoo.data

    found = set()
    for info in pkgutil.iter_modules(litzoo.data.__path__):
        module = importlib.import_module(f"litzoo.data.{info.name}")
        found |= {c for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, pl.LightningDataModule) and c.__module__ == module.__name__}
    return sorted(found - {InMemoryDataModule}, key=lambda c: c.__name__)


SOURCES = _sources()


def test_every_source_is_found() -> None:
    """The discovery sees the sources the configs name (a sanity check of the discovery, not a list to keep)."""
    assert {DigitsDataModule, MNISTDataModule, DigitsCSVDataModule, ImageFolderDataModule, FeatureDataModule,
            ImdbDataModule, TimeseriesDataModule} <= set(SOURCES)
HOOKS = ["transfer_batch_to_device", "on_after_batch_transfer", "train_dataloader", "val_dataloader", "test_dataloader"]
DATA_CONFIGS = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda c: c.__name__)
def test_every_source_uses_the_one_pipeline(source: type) -> None:
    assert issubclass(source, InMemoryDataModule)
    for hook in HOOKS:
        assert getattr(source, hook) is getattr(InMemoryDataModule, hook), f"{source.__name__} overrides {hook}"


class Pixels(InMemoryDataModule):
    """uint8 images of value = label (0, 1, 2), and a preprocess that records what it receives."""

    def __init__(self, **kw) -> None:
        super().__init__(batch_size=4, val_split=0.25, seed=0, num_classes=kw.pop("num_classes", 3),
                         input_shape=(1, 2, 2), **kw)
        self.seen: list[str] = []

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        y = torch.arange(16) % 3
        return {"train": (y.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).to(torch.uint8), y), "test": (
            torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))}

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(f"preprocess {x.dtype}")
        return x / 10


def test_pipeline_order_float_then_augment_on_training_batches_then_preprocess() -> None:
    def augment(x: torch.Tensor) -> torch.Tensor:
        dm.seen.append(f"augment {x.dtype}")
        return x + 100

    dm = Pixels(augment=augment)
    dm.setup()
    dm.trainer = SimpleNamespace(training=True)
    x, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert dm.seen == ["augment torch.float32", "preprocess torch.float32"] and x.min() >= 10
    dm.seen.clear()
    dm.trainer.training = False
    x, _ = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert dm.seen == ["preprocess torch.float32"] and x.max() < 1  # validation: never augmented


def test_augmentation_comes_from_the_config(make_cfg) -> None:
    augmented = instantiate(make_cfg("experiment=cats_dogs_small_augmented").data)
    assert isinstance(augmented.augment, ImageDataGenerator)
    for name in DATA_CONFIGS:
        cfg = make_cfg(f"data={name}")
        assert "augment" in cfg.data and not cfg.data.augment  # augmentation=none composes to an empty node
    assert instantiate(make_cfg().data).augment is None
    with pytest.raises(InstantiationException, match="cannot apply"):
        instantiate(make_cfg("experiment=vgg16_features", "augmentation=dlwp").data)


def test_labels_outside_num_classes_are_refused_at_setup() -> None:
    with pytest.raises(LitzooError, match=r"train split has 4 label\(s\) outside the valid range \[0, 2\) of "
                                          r"data.num_classes=2: 2\. Set data.num_classes"):
        Pixels(num_classes=2).setup()


def test_labels_outside_num_classes_stop_a_run_before_training(make_cfg) -> None:
    cfg = make_cfg("data.num_classes=4", "trainer.max_epochs=1", "logger=none", "callbacks=minimal")
    with pytest.raises(LitzooError, match=r"outside the valid range \[0, 4\) of data.num_classes=4: 4, 5, 6, 7, 8, 9"):
        train(cfg)


def test_time_series_go_through_the_base_loaders_and_device(tmp_path: Path, monkeypatch) -> None:
    write_climate_csv(tmp_path / "c.csv", rows=200)
    dm = TimeseriesDataModule(str(tmp_path / "c.csv"), ["A (u)", "B (u)"], "T (degC)", lookback=12, step=3, delay=5,
                              input_shape=[4, 2])
    monkeypatch.setattr(dm, "_device", lambda: torch.device("meta"))  # as on a GPU: the table moves once
    dm.setup()
    features = {id(ds.features) for ds in dm.datasets.values()}
    assert len(features) == 1 and dm.datasets["train"].features.device.type == "meta"
    assert isinstance(dm.train_dataloader().sampler, EpochBatchSampler)


def test_eval_batches_of_a_class_sorted_folder_mix_classes(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", size=8, splits={"train": 4, "validation": 12}, corrupt=False)
    dm = ImageFolderDataModule(str(tmp_path), "imgs", target_size=(8, 8), input_shape=(3, 8, 8), batch_size=4)
    dm.setup()
    assert dm.splits["val"][1].tolist() == [0] * 12 + [1] * 12  # stored sorted, as the folders are
    loader = dm.val_dataloader()
    first = [y for _, y in loader]
    loader.sampler.set_epoch(5)
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in loader]))  # the same order every epoch
    assert len(set(first[0].tolist())) == 2  # the first few batches hold both classes (trainer=debug)
    assert sorted(torch.cat(first).tolist()) == dm.splits["val"][1].tolist()


def test_input_shapes_are_derived(make_cfg) -> None:
    jena = make_cfg("experiment=jena_gru", "data.lookback=120", "data.step=3", "data.features=[a,b,c]")
    assert list(jena.data.input_shape) == [40, 3] and list(jena.model.input_shape) == [40, 3]
    folder = make_cfg("data=image_folder", "data.target_size=[64,32]", "data.color_mode=grayscale")
    assert list(folder.data.input_shape) == [1, 64, 32]
    vgg = make_cfg("experiment=vgg16_features", "data.source.target_size=[224,224]")
    assert list(vgg.data.input_shape) == [512, 7, 7]
    assert list(make_cfg("experiment=vgg16_features").data.source.input_shape) == [3, 150, 150]
    assert list(make_cfg("experiment=imdb_lstm", "data.maxlen=80").data.input_shape) == [80]
    assert list(make_cfg("experiment=imdb_multihot_dense", "data.num_words=500").data.input_shape) == [500]


def _offers(value: object, hint: object) -> bool:
    """`value` is of the declared type `hint` (unions, Sequence/Mapping/tuple/list/dict of simple types)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_offers(value, a) for a in args)
    if hint is None or hint is type(None):
        return value is None
    if origin is None:
        return isinstance(value, hint)
    if not isinstance(value, origin):
        return False
    if origin in (dict, collections.abc.Mapping):
        return all(_offers(k, args[0]) and _offers(v, args[1]) for k, v in value.items())
    return not args or all(_offers(v, args[0]) for v in value)  # list[str], Sequence[str], tuple[str, ...]


CONTRACT = {name: hint for name, hint in typing.get_type_hints(InMemoryDataModule).items()
            if name in vars(InMemoryDataModule)}  # the class-level declarations: what every source offers


def test_the_contract_is_declared_on_the_base() -> None:
    assert {"class_names", "vocabulary", "preprocess_mode", "interpolation", "predict_x", "target_scale",
            "reference_metrics", "eval_batch_floor"} <= set(CONTRACT)


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_builds_a_source_that_offers_the_contract(name: str, make_cfg) -> None:
    """Each conf/data option (found, not listed) builds a subclass of the base whose declared attributes keep their
    declared types, and whose common arguments reached the base (eval_batch_size from the one formula)."""
    cfg = make_cfg(f"data={name}")
    dm = instantiate(cfg.data)
    assert isinstance(dm, InMemoryDataModule) and type(dm) in SOURCES
    for attr, hint in CONTRACT.items():
        assert _offers(getattr(dm, attr), hint), (name, attr, getattr(dm, attr))
    assert dm.batch_size == cfg.data.batch_size and dm.input_shape == tuple(cfg.data.input_shape)
    assert dm.eval_batch_size == (cfg.data.get("eval_batch_size") or max(dm.batch_size, dm.eval_batch_floor))
    assert dm.preprocess_mode in PREPROCESS_MODES
