"""What a run's logger can take, asked in one place.

Lightning swaps loggers behind the config's back: `fast_dev_run` replaces every logger with its
`DummyLogger`, and under DDP a TensorBoardLogger's `experiment` is a `DummyExperiment` on ranks >= 1
(`rank_zero_experiment`). Both answer any attribute with a no-op returning None, so `hasattr` cannot tell
them from a real SummaryWriter: code that writes to TensorBoard asks `tensorboard_writer` instead.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


def tensorboard_writer(logger: Any) -> SummaryWriter | None:
    """The SummaryWriter of a TensorBoardLogger on rank zero; None for no logger, another logger, Lightning's
    DummyLogger (fast_dev_run) and the DummyExperiment of DDP ranks >= 1."""
    from lightning_fabric.loggers import TensorBoardLogger
    from torch.utils.tensorboard import SummaryWriter

    if not isinstance(logger, TensorBoardLogger):
        return None
    writer = logger.experiment
    return writer if isinstance(writer, SummaryWriter) else None


def takes_hparams(logger: Any) -> bool:
    """Whether `log_hyperparams` reaches a real logger (not none, not Lightning's DummyLogger)."""
    from pytorch_lightning.loggers.logger import DummyLogger

    return bool(logger) and not isinstance(logger, DummyLogger)


def add_summary(writer: SummaryWriter, summary: Any, step: int | None) -> None:
    """A ready-made summary protobuf (torch's `hparams` ones) into the writer's event file.

    SummaryWriter has no public method for a raw summary: `file_writer` is public but None once the writer
    is closed (Lightning closes it at the end of fit and of test); `_get_file_writer()` reopens it, as all
    of the writer's own `add_*` methods do.
    """
    writer._get_file_writer().add_summary(summary, step)
