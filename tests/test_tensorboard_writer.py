"""litzoo's TensorBoard logger (litzoo.run.tensorboard): TensorBoard's records, written without a writer thread."""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tensorboard_crc
from tensorboard.summary.writer.record_writer import RecordWriter

from litzoo.run.checks import explain
from litzoo.run.loggers import tensorboard_writer
from litzoo.run.tensorboard import EventFile, TensorBoardLogger, masked_crc32c, record
from test_disk_full import FullFile, full_disk  # noqa: F401  (the fixture)


def events(folder: Path) -> EventAccumulator:
    found = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    found.Reload()
    return found


@pytest.mark.parametrize("size", [0, 1, 37, 4096, 1 << 20])
def test_records_are_tensorboards_own_byte_for_byte(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    theirs = io.BytesIO()
    RecordWriter(theirs).write(data)
    assert record(data) == theirs.getvalue()
    assert masked_crc32c(data) == tensorboard_crc(data)


def test_the_logger_writes_a_readable_event_file_from_the_calling_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    logger = TensorBoardLogger(str(tmp_path), name="", version="", default_hp_metric=False)
    for step in range(5):
        logger.log_metrics({"train/loss_step": 1.0 / (step + 1)}, step=step)
    writer = tensorboard_writer(logger)
    assert writer is not None
    writer.add_image("picture", np.random.default_rng(0).random((3, 20, 30)), 4)
    logger.log_hyperparams({"lr": 0.1}, {"hp/acc": 0.5})
    started = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not started, f"TensorBoard writer threads were started: {started}"

    logger.save()  # what Lightning calls after each epoch's metrics: everything so far is on disk, file still open
    found = events(tmp_path)
    assert [round(e.value, 4) for e in found.Scalars("train/loss_step")] == [1.0, 0.5, 0.3333, 0.25, 0.2]
    assert [e.step for e in found.Scalars("train/loss_step")] == [0, 1, 2, 3, 4]
    assert found.Tags()["images"] == ["picture"] and found.Images("picture")[0].width == 30
    logger.log_metrics({"val/loss": 0.7}, step=5)
    logger.finalize("success")
    files = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))
    assert len(files) == 1
    assert events(tmp_path).Scalars("val/loss")[0].value == pytest.approx(0.7)


def test_a_closed_writer_opens_a_new_file_and_never_truncates_one(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path), name="", version="")
    logger.log_metrics({"a": 1.0}, step=0)
    logger.finalize("success")  # Lightning closes the writer at the end of fit; testing writes after it
    logger.log_metrics({"a": 2.0}, step=1)
    logger.finalize("success")
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
    assert [e.value for e in events(tmp_path).Scalars("a")] == [1.0, 2.0]


def test_a_full_disk_names_the_event_file(tmp_path: Path, full_disk) -> None:  # noqa: F811
    writer = EventFile(str(tmp_path))
    writer._file = FullFile(writer._file)
    with pytest.raises(OSError) as caught:
        writer.add_event(Event(step=1))
    assert caught.value.filename == writer.path
    assert writer.path in explain(caught.value) and "disk is full" in explain(caught.value)

    full_disk("tfevents")  # full before the file's first record
    with pytest.raises(OSError) as caught:
        EventFile(str(tmp_path / "later"))
    assert os.path.basename(caught.value.filename).startswith("events.out.tfevents.")
    assert "disk is full" in explain(caught.value)


def test_runs_log_through_litzoos_logger_and_old_configs_keep_lightnings(make_cfg) -> None:
    from hydra.utils import instantiate
    from pytorch_lightning.loggers import TensorBoardLogger as Lightnings

    assert type(instantiate(make_cfg().logger)) is TensorBoardLogger
    old = make_cfg("logger._target_=pytorch_lightning.loggers.TensorBoardLogger")
    assert type(instantiate(old.logger)) is Lightnings
