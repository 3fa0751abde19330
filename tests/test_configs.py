"""Every option of every config group composes and instantiates (a moved `_target_` fails here)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class, instantiate

from litzoo.models.resolvers import output_units
from litzoo.optimization import derived_lengths, scheduler_parts
from litzoo.run.build import build, resolve_precision
from litzoo.run.compose import CONF_DIR

GROUPS = ["data", "task", "augmentation", "optimizer", "scheduler", "trainer", "callbacks", "logger"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_group_option_instantiates(group: str, option: str, make_cfg) -> None:
    cfg = make_cfg(f"{group}={option}")
    node = cfg[group]
    if not node:  # an empty option (augmentation=none, scheduler=none, logger=none) means "off"
        return
    if group == "trainer":
        if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
            pytest.skip("no GPU here")
        instantiate(node, precision=resolve_precision(node.accelerator, node.precision))
    elif group == "callbacks":
        for c in (c for c in node.values() if c):
            assert isinstance(instantiate(c), (pl.Callback, get_class(c._target_))), c._target_
    elif group == "optimizer":
        opt = instantiate(node)(params=[torch.nn.Parameter(torch.zeros(2))])
        assert isinstance(opt, torch.optim.Optimizer)
    elif group == "scheduler":
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
        factory, interval = scheduler_parts(node)
        length = derived_lengths(factory, SimpleNamespace(estimated_stepping_batches=10, max_epochs=2), interval)
        scheduler = factory(optimizer=opt, **length)
        assert isinstance(scheduler, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau))
    elif group == "task":
        net = instantiate(cfg.model)
        instantiate(node, net=net, optimizer=instantiate(cfg.optimizer))
    else:  # the object is of the class its _target_ names (a moved or renamed class fails here)
        assert isinstance(instantiate(node), get_class(node._target_)), node._target_


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_builds(name: str, make_cfg) -> None:
    """Each experiment composes into data + task + trainer (no data files are read by construction)."""
    cfg = make_cfg(f"experiment={name}", "logger=none")
    if "weights" in cfg.model:  # pretrained bases must not download in tests
        cfg.model.weights = "none"
    assert cfg.name
    datamodule, task, trainer = build(cfg)
    classes = cfg.data.num_classes if cfg.task._target_.endswith("ClassificationTask") else None
    valid = {classes, output_units(classes)} if classes else {1}  # N softmax units, or 1 sigmoid unit for 2
    assert task.net.output_shape[-1] in valid, (name, task.net.output_shape)
    assert trainer.max_epochs == cfg.trainer.max_epochs and datamodule.input_shape == tuple(cfg.data.input_shape)


def test_unknown_option_lists_valid_ones(make_cfg) -> None:
    with pytest.raises(ConfigCompositionException) as err:
        make_cfg("optimizer=adamw_typo")
    assert "rmsprop" in str(err.value) and "adam" in str(err.value)


def test_sizes_come_from_data_config(make_cfg) -> None:
    """num_classes / input_shape are interpolated from the data config, never repeated as literals."""
    cfg = make_cfg("data.num_classes=7", "data.image_size=32")
    net = instantiate(cfg.model)
    assert net.output_shape == (7,) and net.input_shape == (1, 32, 32)
    for path in Path(CONF_DIR, "model").glob("*.yaml"):
        assert "num_classes: 10" not in path.read_text()


def test_the_scheduler_group_holds_its_interval_and_a_null_length_is_derived(make_cfg) -> None:
    """scheduler=onecycle steps per optimizer step over the run's steps; an old config's task.scheduler_interval
    (checkpoints before the group held `interval`) still reads as it ran; a disagreeing pair is refused."""
    trainer = SimpleNamespace(estimated_stepping_batches=40, max_epochs=3)
    factory, interval = scheduler_parts(make_cfg("scheduler=onecycle").scheduler)
    assert interval == "step" and derived_lengths(factory, trainer, interval) == {"total_steps": 40}
    old = {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "_partial_": True, "max_lr": 0.1, "total_steps": 3}
    factory, interval = scheduler_parts(old, task_interval="step")
    assert interval == "step" and derived_lengths(factory, trainer, interval) == {"total_steps": 40}
    factory, interval = scheduler_parts(old)  # stepped per epoch: the written length is used as written
    assert interval == "epoch" and derived_lengths(factory, trainer, interval) == {}
    with pytest.raises(ValueError, match="disagrees with scheduler.interval='step'"):
        scheduler_parts(make_cfg("scheduler=onecycle").scheduler, task_interval="epoch")
