"""EpochBatchSampler under DDP: ranks take disjoint slices of one (seed, epoch) order, padded like
torch's DistributedSampler; evaluation splits are shuffled once; Lightning must not replace the sampler."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DistributedSampler

from litzoo.data import base
from litzoo.data.base import EpochBatchSampler, InMemoryDataModule
from litzoo.errors import LitzooError


def batches(n: int, rank: int, replicas: int = 2, epoch: int = 3, **kw) -> list[torch.Tensor]:
    sampler = EpochBatchSampler(n, batch_size=4, shuffle=True, seed=7, num_replicas=replicas, rank=rank, **kw)
    sampler.set_epoch(epoch)
    out = list(sampler)
    assert len(out) == len(sampler)
    return out


@pytest.mark.parametrize("n", [40, 37])  # 37: one index repeated to pad 37 to 2 x 19
def test_two_ranks_get_disjoint_halves_of_one_epoch(n: int) -> None:
    r0, r1 = batches(n, 0), batches(n, 1)
    per_rank = math.ceil(n / 2)
    assert len(r0) == len(r1) == math.ceil(per_rank / 4)  # same number of batches on every rank
    a, b = torch.cat(r0), torch.cat(r1)
    assert len(a) == len(b) == per_rank
    everything = torch.cat([a, b])
    assert sorted(set(everything.tolist())) == list(range(n))  # together: the whole permutation
    assert len(everything) - n == (n % 2)  # padding only to make the ranks even
    if n % 2 == 0:
        assert not set(a.tolist()) & set(b.tolist())  # disjoint
    single = torch.cat(batches(n, 0, replicas=1))
    assert torch.equal(torch.stack([a, b], 1).flatten()[:n], single)  # slices of the same (seed, epoch) order


def test_same_padding_and_slices_as_distributed_sampler() -> None:
    dataset = list(range(37))
    for rank in (0, 1, 2):
        ours = torch.cat(list(EpochBatchSampler(37, 4, shuffle=False, seed=0, num_replicas=3, rank=rank)))
        theirs = list(DistributedSampler(dataset, num_replicas=3, rank=rank, shuffle=False))
        assert ours.tolist() == theirs


def test_training_order_changes_per_epoch_evaluation_order_is_fixed() -> None:
    assert not all(torch.equal(a, b) for a, b in zip(batches(40, 0, epoch=1), batches(40, 0, epoch=2)))
    fixed = [batches(40, 0, epoch=e, per_epoch=False) for e in (1, 2)]
    assert all(torch.equal(a, b) for a, b in zip(*fixed))
    assert not torch.equal(torch.cat(fixed[0]), torch.arange(0, 40, 2))  # shuffled once, not file order


def test_default_world_is_a_single_process() -> None:
    sampler = EpochBatchSampler(10, 4, shuffle=True, seed=0)
    assert (sampler.num_replicas, sampler.rank) == (1, 0) and len(sampler) == 3
    with pytest.raises(ValueError, match="rank must be in"):
        EpochBatchSampler(10, 4, shuffle=True, seed=0, num_replicas=2, rank=2)


class Tiny(InMemoryDataModule):
    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {"train": (torch.rand(20, 2), torch.zeros(20, dtype=torch.int64)),
                "test": (torch.rand(6, 2), torch.zeros(6, dtype=torch.int64))}


def test_ddp_needs_lightning_to_leave_the_sampler_alone(monkeypatch) -> None:
    dm = Tiny(batch_size=4, val_split=0.2, seed=0, num_classes=2, input_shape=(2,))
    dm.setup()
    monkeypatch.setattr(base, "_world", lambda: (2, 1))  # as under a two-process DDP run, rank 1
    dm.trainer = SimpleNamespace(_accelerator_connector=SimpleNamespace(use_distributed_sampler=True), training=True)
    with pytest.raises(LitzooError, match="trainer.use_distributed_sampler=false"):
        dm.train_dataloader()
    dm.trainer._accelerator_connector.use_distributed_sampler = False
    loader = dm.train_dataloader()
    assert (loader.sampler.num_replicas, loader.sampler.rank) == (2, 1) and len(loader) == 2  # 8 of 16 samples


DDP_SCRIPT = """
import sys
import pytorch_lightning as pl
from hydra.utils import instantiate
from litzoo.run.compose import compose_config

cfg = compose_config([f"paths.root_dir={sys.argv[1]}", "logger=none", "callbacks=minimal"])
task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer), scheduler=None)


class Report(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        s = trainer.train_dataloader.sampler
        val = {k: round(float(v), 5) for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        print(f"RANK {s.rank}/{s.num_replicas} {type(s).__name__} batches={len(s)} val={val}", flush=True)


pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", use_distributed_sampler=False, max_epochs=1,
           callbacks=[Report()], logger=False, enable_checkpointing=False, enable_progress_bar=False,
           num_sanity_val_steps=0).fit(task, datamodule=instantiate(cfg.data))
"""


@pytest.mark.slow
def test_two_process_ddp_run_keeps_our_sampler(tmp_path) -> None:
    """A real 2-process CPU DDP fit (~25 s): each rank trains on half an epoch; validation metrics are reduced."""
    import subprocess
    import sys

    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    out = subprocess.run([sys.executable, "ddp.py", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300).stdout
    lines = sorted(line for line in out.splitlines() if line.startswith("RANK"))
    assert [line.split()[1] for line in lines] == ["0/2", "1/2"], out
    assert all("EpochBatchSampler batches=9 " in line for line in lines)  # 1,150 training digits: 575 a rank
    assert lines[0].split("val=")[1] == lines[1].split("val=")[1]  # both ranks report the all-reduced metrics


class Recorder(torch.utils.data.Dataset):
    """Hands back the index tensors it is asked for."""

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor]:
        return (index,)


@pytest.mark.parametrize("n", [40, 37])
def test_a_device_loader_copies_the_epochs_order_once_and_serves_the_same_batches(n: int, monkeypatch) -> None:
    """On a GPU (here `meta`, a device with no data) the loader moves the epoch's indices in one copy, not one per
    batch (a copy from pageable memory waits for the previous step); the batches are the sampler's own."""
    sampler = EpochBatchSampler(n, batch_size=4, shuffle=True, seed=7)
    sampler.set_epoch(2)
    expected = list(sampler)
    copies = []
    real_to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda t, *a, **k: copies.append(a) or real_to(t, *a, **k))
    on_device = [b for (b,) in base.BatchLoader(Recorder(), sampler, torch.device("meta"))]
    assert copies == [(torch.device("meta"),)]
    assert all(b.device.type == "meta" for b in on_device)
    assert [len(b) for b in on_device] == [len(b) for b in expected]
    on_cpu = [b for (b,) in base.BatchLoader(Recorder(), sampler)]
    assert len(copies) == 1 and all(torch.equal(a, b) for a, b in zip(on_cpu, expected, strict=True))
