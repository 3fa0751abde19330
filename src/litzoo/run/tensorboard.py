"""litzoo's TensorBoard logger: Lightning's TensorBoardLogger, whose event file is written by the calling thread.

TensorBoard's own EventFileWriter hands each event to a writer thread. Without TensorFlow installed, that thread
reopens the file for every record (its `gfile` stand-in appends by path) and computes the records' CRC-32C in
pure Python. During training the thread competes with the training step for the interpreter lock, so each
`train/loss_step` slowed the step after it too (docs/speed.md, "The third pass"). `EventFile` writes the same
records into one open, buffered file:
- the TFRecord framing with masked CRC-32C;
- a file named as TensorBoard names it;
- the same first event.

The file is flushed when an event comes `flush_secs` after the last flush, and on `flush()` and `close()`
(Lightning flushes after every epoch's metrics). The CRC is google-crc32c's (C) where installed, else
TensorBoard's own.
"""
from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
import time
from typing import Any

from lightning_fabric.loggers.logger import rank_zero_experiment
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.loggers import TensorBoardLogger as LightningTensorBoardLogger
from tensorboard.compat.proto.event_pb2 import Event, SessionLog, SourceMetadata
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.writer import FileWriter

try:
    from google_crc32c import value as crc32c
except ImportError:  # the project depends on it; TensorBoard's pure-Python one gives the same values, slower
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c

_NUMBERS = itertools.count()


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data`."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


class EventFile:
    """TensorBoard's EventFileWriter (same methods, same file), written synchronously; safe to share
    between threads."""

    def __init__(self, logdir: str, flush_secs: float = 120, filename_suffix: str = "") -> None:
        os.makedirs(logdir, exist_ok=True)
        self._logdir, self._flush_secs, self._lock = logdir, flush_secs, threading.Lock()
        while True:  # a name no other writer of this process or machine has taken ('x': never truncate one)
            self.path = os.path.join(logdir, f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                                             f"{os.getpid()}.{next(_NUMBERS)}{filename_suffix}")
            try:
                self._file = open(self.path, "xb")
                break
            except FileExistsError:
                continue
            except OSError as err:
                raise OSError(err.errno, err.strerror, self.path) from err
        self._next_flush = 0.0  # the first event is on disk at once, as with TensorBoard's writer
        try:
            self.add_event(Event(wall_time=time.time(), file_version="brain.Event:2",
                                 source_metadata=SourceMetadata(writer="litzoo.run.tensorboard")))
        except OSError:
            self._file.close()
            raise

    def get_logdir(self) -> str:
        return self._logdir

    def add_event(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"Expected an event_pb2.Event proto, but got {type(event)}")
        data = record(event.SerializeToString())
        with self._lock:
            self._io(self._file.write, data)
            if time.monotonic() >= self._next_flush:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                try:
                    self._flush()
                finally:
                    self._file.close()

    def _flush(self) -> None:
        self._io(self._file.flush)
        self._next_flush = time.monotonic() + self._flush_secs

    def _io(self, call: Any, *args: Any) -> None:
        """An OSError names the event file (a full disk is reported with its path: litzoo.run.checks.explain)."""
        try:
            call(*args)
        except OSError as err:
            raise OSError(err.errno, err.strerror, self.path) from err


class _FileWriter(FileWriter):
    """torch's FileWriter on an EventFile (its other methods only call `event_writer`)."""

    def __init__(self, log_dir: Any, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = "") -> None:
        self.event_writer = EventFile(str(log_dir), flush_secs, filename_suffix)


class RunSummaryWriter(SummaryWriter):
    """torch's SummaryWriter whose event files are EventFiles."""

    def _get_file_writer(self) -> FileWriter:
        # torch's own, with _FileWriter: (re)opened on first use and after close()
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = _FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                self.file_writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger (same arguments, folders and files) writing through RunSummaryWriter."""

    @property
    @rank_zero_experiment
    def experiment(self) -> SummaryWriter:
        if self._experiment is None:
            assert rank_zero_only.rank == 0, "tried to init log dirs in non global_rank=0"
            if self.root_dir:
                self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = RunSummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment
