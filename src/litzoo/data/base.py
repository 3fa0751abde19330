"""In-memory datasets served a whole batch at a time: the one data contract of every litzoo source.

A dataset that fits in memory is held as tensors (on the GPU when training there); each step indexes one
batch (no per-sample `__getitem__`, no collate, no PIL). `InMemoryDataModule` owns the batch pipeline
once: to device -> to float -> augment (training batches only) -> preprocess. The shuffle order of
epoch `e` depends only on `(seed, e)`, so a run resumed from a checkpoint sees exactly the batches an
uninterrupted run would have seen; under DDP every rank takes a disjoint slice of that same order.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from litzoo.errors import LitzooError


class DatasetNotFoundError(LitzooError, FileNotFoundError):
    """A dataset's files are missing: the message names the files, the folder and how to get them."""


class CorruptFileError(LitzooError, ValueError):
    """A data file exists but cannot be parsed: the message names the file (and line)."""


def missing_files_message(name: str, folder: Path, files: Sequence[str], how: str) -> str:
    listing = "\n".join(f"  {folder / f}" for f in files)
    return (f"{name} not found. Expected these files:\n{listing}\n{how}\n"
            "Set paths.data_dir=<folder> (or the LITZOO_DATA environment variable) to point at another data folder.")


def announce(message: str) -> None:
    """Print a data fact once per run (rank zero only under DDP)."""
    if rank_zero_only.rank == 0:
        print(message, flush=True)


def move(t: Tensor, device: torch.device, moved: dict[int, Tensor]) -> Tensor:
    """`t` on `device`, copied once even when several splits share it (test = validation, one series table)."""
    if id(t) not in moved:
        moved[id(t)] = t.to(device)
    return moved[id(t)]


class TensorBatches(Dataset):
    """Tensors indexed a batch at a time: `ds[index_tensor]` -> tuple of batched tensors."""

    def __init__(self, *tensors: Tensor) -> None:
        if len({len(t) for t in tensors}) != 1:
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        self.tensors = tensors

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.tensors[0].shape[1:])

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def to(self, device: torch.device, moved: dict[int, Tensor]) -> TensorBatches:
        return TensorBatches(*(move(t, device, moved) for t in self.tensors))

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: Tensor) -> tuple[Tensor, ...]:
        # index_select gathers the same rows as t[index] without advanced indexing's general path (docs/speed.md);
        # a tensor stored non-contiguous keeps t[index], whose result follows its layout
        index = index.to(self.tensors[0].device)
        return tuple(t.index_select(0, index) if t.is_contiguous() else t[index] for t in self.tensors)


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class EpochBatchSampler(Sampler[Tensor]):
    """Index tensors, one per batch, of this rank's share of the epoch's order.

    The order of epoch e is a permutation seeded by (seed, e); `per_epoch=False` keeps the epoch-0 order
    every epoch (evaluation splits: shuffled once, so a few batches are representative); `shuffle=False`
    is file order. With `num_replicas` R > 1 (default: torch.distributed's world, when initialised) the
    order is padded with its own start to a multiple of R and rank r takes positions r, r + R, ..., as
    torch's DistributedSampler does: the ranks' slices are disjoint and every rank has as many batches.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False,
                 per_epoch: bool = True, num_replicas: int | None = None, rank: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        world = _world()
        self.num_replicas = world[0] if num_replicas is None else num_replicas
        self.rank = world[1] if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={self.num_replicas}), got {self.rank}")
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.per_epoch = per_epoch
        self.num_samples = math.ceil(n / self.num_replicas)  # per rank, padding included
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before every epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples // self.batch_size if self.drop_last else -(-self.num_samples // self.batch_size)

    def order(self) -> Tensor:
        """All ranks' indices of this epoch, padded to num_replicas * num_samples."""
        if not self.shuffle:
            order = torch.arange(self.n)
        else:
            g = torch.Generator().manual_seed(self.seed * 100_003 + (self.epoch if self.per_epoch else 0))
            order = torch.randperm(self.n, generator=g)
        total = self.num_samples * self.num_replicas
        return order.repeat(math.ceil(total / self.n))[:total] if self.n else order

    def __iter__(self) -> Iterator[Tensor]:
        mine = self.order()[self.rank:: self.num_replicas]
        yield from mine[: len(self) * self.batch_size].split(self.batch_size)


class BatchLoader:
    """A split's batches, `dataset[index]` for each index tensor of `sampler`: what torch's DataLoader does with
    `batch_size=None` and no workers, without its per-batch machinery (docs/speed.md). Lightning
    takes any sized iterable and leaves it as it is (no sampler of its own injected); it calls `sampler.set_epoch`
    before every epoch through the attributes a DataLoader has."""

    batch_sampler = None  # as on a DataLoader with batch_size=None (Lightning reads it)

    def __init__(self, dataset: Dataset, sampler: EpochBatchSampler, device: torch.device | None = None) -> None:
        self.dataset, self.sampler, self.device = dataset, sampler, device or torch.device("cpu")

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        if self.device.type == "cpu":
            return map(self.dataset.__getitem__, self.sampler)
        # the dataset lives on a GPU: the epoch's indices go there in one copy. A copy per batch, from pageable
        # memory, would wait for the GPU to finish the previous step, so the CPU could never run ahead of it.
        batches = list(self.sampler)
        if not batches:
            return iter(())
        on_device = torch.cat(batches).to(self.device).split([len(b) for b in batches])
        return map(self.dataset.__getitem__, on_device)


def validation_split(x: Tensor, y: Tensor, fraction: float) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Keras' `validation_split`: the LAST `fraction` of the samples, taken before any shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_split must be in (0, 1), got {fraction!r}")
    n_val = max(1, int(round(len(x) * fraction)))
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def check_labels(splits: dict[str, tuple[Tensor, Tensor]], num_classes: int) -> None:
    """Integer class labels must lie in [0, num_classes): refused before training, not an IndexError mid-epoch."""
    for name, (_, y) in splits.items():
        if y.dtype.is_floating_point or y.dtype == torch.bool or not num_classes or not len(y):
            continue
        bad = y[(y < 0) | (y >= num_classes)]
        if len(bad):
            values = bad.unique().tolist()
            shown = ", ".join(map(str, values[:10])) + (f" ... ({len(values)} distinct)" if len(values) > 10 else "")
            raise LitzooError(f"The {name} split has {len(bad)} label(s) outside the valid range [0, {num_classes}) "
                              f"of data.num_classes={num_classes}: {shown}. Set data.num_classes to the number of "
                              "classes in the data (labels are class indices 0..num_classes-1), or fix the labels.")


def to_float(x: Tensor) -> Tensor:
    """Compact storage (uint8 pixels, bool multi-hot) becomes float32; token ids stay integers for Embedding."""
    return x.float() if x.dtype in (torch.uint8, torch.bool) else x


class InMemoryDataModule(pl.LightningDataModule):
    """Base of every in-memory source. Subclasses implement `load()` -> train and test tensors (or, for
    sources that are not plain tensors, `load_datasets()`: batch-indexed datasets like TensorBatches, with
    `sample_shape`, `device` and `to`), and may override `preprocess`.

    Subclasses take their own arguments and hand the common ones below to this constructor as keywords
    (`**common`), so their defaults are written here once; the configs give every value anyway."""

    fixed_train_order = False  # True: the epoch-0 training order every epoch (trainer.overfit_batches; litzoo.run.build)
    # Keys of this source's config (under `data.`) that say where the data lives or how it is read, not what it
    # is: a resume or a sweep re-run may change them (litzoo.run.resume). Each source adds its own.
    runtime_keys: tuple[str, ...] = ("eval_batch_size",)
    # Evaluation batches default to max(batch_size, this): no gradients are kept, so larger batches fit.
    eval_batch_floor: int = 256

    # What a source offers its readers (the task, the pictures, the callbacks), with the value of a source that
    # has none of it. A source sets what it has (at construction or once loaded); readers ask these attributes
    # and never guess with getattr (tests/test_data_contract.py checks every source against them).
    class_names: Sequence[str] | None = None  # index -> class name; None: the indices "0".."n-1"
    vocabulary: Sequence[str] = ()  # word i has token id text.FIRST_INDEX + i (litzoo.data.text); (): no words
    preprocess_mode: str = "rescale"  # the model's input from pixels (litzoo.data.pixels); rescale: [0, 1] floats
    interpolation: str = "bilinear"  # how an image file is resized to input_shape (litzoo-visualize image=...)
    predict_x: Tensor | None = None  # unlabeled inputs predicted after the test (litzoo.callbacks.submission)
    target_scale: float | None = None  # std of a normalised regression target: the MAE in the target's units
    stats: Mapping[str, Any] = MappingProxyType({})  # input normalisation ({'mean', 'std'} per column), kept with the model
    reference_metrics: Mapping[str, float] = MappingProxyType({})  # e.g. val/baseline_mae, logged beside the model's

    def __init__(self, *, batch_size: int = 32, val_split: float = 0.2, seed: int = 0, num_classes: int = 2,
                 input_shape: Sequence[int] = (), eval_batch_size: int | None = None,
                 augment: Callable[[Tensor], Tensor] | None = None, validation_split: float | None = None) -> None:
        """`validation_split`: Keras' name for `val_split` (a config written with it), used in its place."""
        super().__init__()
        # What the user should hear of the data, one line each (an empty class folder, a looping symlink): filled
        # by the source while it loads, warned on the console and kept with the run's results.
        self.data_warnings: list[str] = []
        if validation_split is not None:
            self.data_warnings.append(f"data.validation_split={validation_split} (Keras' name) was used as "
                                      f"data.val_split (which said {val_split})")
            val_split = validation_split
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, self.eval_batch_floor)
        self.val_split, self.seed = val_split, seed
        self.num_classes, self.input_shape = num_classes, tuple(input_shape)
        self.datasets: dict[str, Any] = {}
        # Batch augmentation (litzoo.augment) from `data.augment: ${augmentation}`; `augmentation=none`
        # composes to an empty node, which means none.
        self.augment: Callable[[Tensor], Tensor] | None = augment or None

    @property
    def splits(self) -> dict[str, tuple[Tensor, ...]]:
        """The (x, y) tensors of each split, for sources held as plain tensors."""
        return {k: ds.tensors for k, ds in self.datasets.items() if isinstance(ds, TensorBatches)}

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        """{'train': (x, y), 'test': (x, y)} and optionally 'val'; x (N, *input_shape), y int64 class indices."""
        raise NotImplementedError(f"{type(self).__name__} implements neither load() nor load_datasets()")

    def load_datasets(self) -> dict[str, Any]:
        """Batch-indexed datasets per split: `load()`'s tensors, Keras' validation split, labels checked."""
        splits = self.load()
        if "val" not in splits:
            splits["train"], splits["val"] = validation_split(*splits["train"], self.val_split)
        check_labels(splits, self.num_classes)
        return {name: TensorBatches(x, y) for name, (x, y) in splits.items()}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        datasets = self.load_datasets()
        for name, ds in datasets.items():
            if tuple(ds.sample_shape) != self.input_shape:
                raise ValueError(f"{name} data has shape {tuple(ds.sample_shape)}, but "
                                 f"data.input_shape={list(self.input_shape)}")
        device, moved = self._device(), {}
        # on a GPU the whole dataset lives there: batches are indexed on the device, no host copies
        self.datasets = {name: ds.to(device, moved) for name, ds in datasets.items()}

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def transfer_batch_to_device(self, batch: tuple[Tensor, ...], device: torch.device,
                                 dataloader_idx: int) -> tuple[Tensor, ...]:
        """Batches are plain tensor tuples: move them directly (Lightning's generic walk is slower, docs/speed.md), or
        not at all when they are there already (the datasets live on the training device)."""
        if all(t.device == device for t in batch):
            return batch
        return tuple(t.to(device, non_blocking=True) for t in batch)

    def on_after_batch_transfer(self, batch: tuple[Tensor, ...], dataloader_idx: int) -> tuple[Tensor, ...]:
        """On the device: to float, augment (training batches only, never validation or test), preprocess. A
        batch with nothing to do (float, no augmentation, no preprocessing) is returned as it came."""
        x, *rest = batch
        out = to_float(x)
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            out = self.augment(out)
        out = self.preprocess(out)
        return batch if out is x else (out, *rest)

    def preprocess(self, x: Tensor) -> Tensor:
        """The last step of every batch (after augmentation, as Keras applies `rescale` last); identity here."""
        return x

    def _loader(self, split: str, batch_size: int, train: bool) -> BatchLoader:
        connector = getattr(self.trainer, "_accelerator_connector", None)  # Lightning's private part: may change
        # Lightning's own flag asks for Lightning's sharding, which it would not do here (litzoo's loader is not a
        # DataLoader): refused rather than silently ignored
        if _world()[0] > 1 and getattr(connector, "use_distributed_sampler", False):
            raise LitzooError("litzoo's data modules shard each epoch by rank themselves: run DDP with "
                              "trainer.use_distributed_sampler=false (Lightning's sampler does not apply to them).")
        sampler = EpochBatchSampler(len(self.datasets[split]), batch_size, shuffle=True, seed=self.seed,
                                    per_epoch=train and not self.fixed_train_order)
        # the sampler's own generator: iterating draws nothing from the global RNG (dropout's), so a resumed run
        # does not diverge from an uninterrupted one
        return BatchLoader(self.datasets[split], sampler, self.datasets[split].device)

    def train_dataloader(self) -> BatchLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> BatchLoader:
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> BatchLoader:
        return self._loader("test", self.eval_batch_size, train=False)
