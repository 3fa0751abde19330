"""In-memory datasets served a whole batch at a time, with Keras' `validation_split` semantics.

A dataset that fits in memory is held as tensors; each step indexes one batch (no per-sample
`__getitem__`, no collate, no PIL). The shuffle order of epoch `e` depends only on `(seed, e)`, so a
run resumed from a checkpoint sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing: the message names the files, the folder and how to get them."""


class CorruptFileError(ValueError):
    """A data file exists but cannot be parsed: the message names the file."""


def missing_files_message(name: str, folder: Path, files: Sequence[str], how: str) -> str:
    listing = "\n".join(f"  {folder / f}" for f in files)
    return (f"{name} not found. Expected these files:\n{listing}\n{how}\n"
            "Set paths.data_dir=<folder> (or the LITZOO_DATA environment variable) to point at another data folder.")


class TensorBatches(Dataset):
    """Tensors indexed a batch at a time: `ds[index_tensor]` -> tuple of batched tensors."""

    def __init__(self, *tensors: Tensor) -> None:
        if len({len(t) for t in tensors}) != 1:
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: Tensor) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)


class EpochBatchSampler(Sampler[Tensor]):
    """Yields index tensors, one per batch; the permutation of epoch e is seeded by (seed, e)."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before every epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[Tensor]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        yield from order[: len(self) * self.batch_size if self.drop_last else None].split(self.batch_size)


def batch_loader(tensors: Sequence[Tensor], batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """A DataLoader over in-memory tensors, one index per batch (batch_size=None disables collation)."""
    sampler = EpochBatchSampler(len(tensors[0]), batch_size, shuffle, seed)
    # Own generator: creating the iterator must not draw from the global RNG (dropout's), or a resumed
    # run would diverge from an uninterrupted one.
    return DataLoader(TensorBatches(*tensors), sampler=sampler, batch_size=None,
                      generator=torch.Generator().manual_seed(seed))


def validation_split(x: Tensor, y: Tensor, fraction: float) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Keras' `validation_split`: the LAST `fraction` of the samples, taken before any shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_split must be in (0, 1), got {fraction!r}")
    n_val = max(1, int(round(len(x) * fraction)))
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


class InMemoryDataModule(pl.LightningDataModule):
    """Base for datasets held as tensors. Subclasses implement `load()` -> train and test tensors."""

    def __init__(self, batch_size: int, val_split: float, seed: int, num_classes: int,
                 input_shape: Sequence[int], eval_batch_size: int | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.val_split, self.seed = val_split, seed
        self.num_classes, self.input_shape = num_classes, tuple(input_shape)
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        # Batch augmentation (litzoo.augment), set by train.build from the `augmentation` config group.
        self.augment: Callable[[Tensor], Tensor] | None = None

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        """{'train': (x, y), 'test': (x, y)} and optionally 'val'; x float (N, *input_shape), y int64."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = self.load()
        if "val" not in splits:
            splits["train"], splits["val"] = validation_split(*splits["train"], self.val_split)
        for name, (x, _) in splits.items():
            if tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(f"{name} data has shape {tuple(x.shape[1:])}, but data.input_shape={self.input_shape}")
        self.splits = splits
        device = self._device()
        if device.type == "cuda":  # whole dataset on the GPU: batches are indexed there, no host copies
            self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def transfer_batch_to_device(self, batch: tuple[Tensor, ...], device: torch.device,
                                 dataloader_idx: int) -> tuple[Tensor, ...]:
        """Batches are plain tensor tuples: move them directly (Lightning's generic walk costs ~1 ms a step)."""
        return tuple(t.to(device, non_blocking=True) for t in batch)

    def on_after_batch_transfer(self, batch: tuple[Tensor, ...], dataloader_idx: int) -> tuple[Tensor, ...]:
        """Augment whole batches on the device, training batches only (never validation or test)."""
        trainer = getattr(self, "trainer", None)
        if self.augment is not None and trainer is not None and trainer.training:
            return (self.augment(batch[0]), *batch[1:])
        return batch

    def train_dataloader(self) -> DataLoader:
        return batch_loader(self.splits["train"], self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.splits["val"], self.eval_batch_size, shuffle=False, seed=self.seed)

    def test_dataloader(self) -> DataLoader:
        return batch_loader(self.splits["test"], self.eval_batch_size, shuffle=False, seed=self.seed)
