"""litzoo.run.step_cost: while a run fits, Lightning's NVML check is off where NVML cannot be loaded and the objects
that existed before the fit are frozen out of garbage collection; both are put back afterwards."""
from __future__ import annotations

import gc
import os

import pytest
from pytorch_lightning import Callback

from litzoo.run import step_cost
from litzoo.run.fit import train
from litzoo.run.step_cost import NVML_CHECK, lower_step_cost

SEEN: list[tuple[str | None, int]] = []


class Probe(Callback):
    """What a training step sees: the NVML variable and how many objects are frozen."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        SEEN.append((os.environ.get(NVML_CHECK), gc.get_freeze_count()))


def _fit(make_cfg, mnist_root, monkeypatch) -> None:
    from omegaconf import open_dict

    monkeypatch.setenv("LITZOO_ALLOW_TARGETS", "test_step_cost.Probe")
    cfg = make_cfg("experiment=mnist_convnet", f"paths.data_dir={mnist_root}", "data.download=false",
                   "trainer=debug", "test=false", "callbacks=minimal", "logger=none")
    with open_dict(cfg):
        cfg.callbacks.probe = {"_target_": "test_step_cost.Probe"}
    SEEN.clear()
    train(cfg)


@pytest.mark.parametrize("loads", [False, True])
def test_a_fit_runs_without_the_nvml_check_only_where_nvml_cannot_load(make_cfg, mnist_root, monkeypatch,
                                                                        loads: bool) -> None:
    monkeypatch.setenv(NVML_CHECK, "1")  # as importing Lightning leaves it
    monkeypatch.setattr(step_cost, "nvml_loads", lambda: loads)
    _fit(make_cfg, mnist_root, monkeypatch)
    assert SEEN and all(nvml == ("1" if loads else None) for nvml, _ in SEEN)
    assert os.environ.get(NVML_CHECK) == "1"


def test_a_fit_runs_with_the_objects_before_it_frozen_and_unfreezes_them(make_cfg, mnist_root, monkeypatch) -> None:
    assert gc.get_freeze_count() == 0
    _fit(make_cfg, mnist_root, monkeypatch)
    assert SEEN and all(frozen > 10_000 for _, frozen in SEEN)  # torch, Lightning, the model, the data ...
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_someone_else_is_not_ours_to_undo() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with lower_step_cost():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_both_are_put_back_when_the_fit_fails(monkeypatch) -> None:
    monkeypatch.setenv(NVML_CHECK, "1")
    monkeypatch.setattr(step_cost, "nvml_loads", lambda: False)
    with pytest.raises(RuntimeError), lower_step_cost():
        assert NVML_CHECK not in os.environ and gc.get_freeze_count() > 0
        raise RuntimeError("the fit failed")
    assert os.environ[NVML_CHECK] == "1" and gc.get_freeze_count() == 0


def test_nvml_loads_answers_as_torch_would_load_it() -> None:
    import ctypes

    try:
        ctypes.CDLL(step_cost.NVML_LIBRARY)
        expected = True
    except OSError:
        expected = False
    assert step_cost.nvml_loads() is expected
