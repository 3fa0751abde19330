"""A full disk is reported where it is full: the file that could not be written and the filesystem holding it,
no temporary file left behind, the job recorded where its folder still takes a record, the sweep's table kept."""
from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from litzoo.run import record
from litzoo.cli import sweep
from litzoo.errors import LitzooError, disk_full_message
from test_sweep_faults import FAST, litzoo_train, no_process_left, summary, the_sweep

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullFile:
    """A file on a full disk: opening works, every write fails with ENOSPC."""

    def __init__(self, f: io.IOBase) -> None:
        self._f = f

    def write(self, data: bytes | str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self) -> FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)


@pytest.fixture
def full_disk(monkeypatch):
    """full_disk(pattern): writes to paths containing `pattern` fail with ENOSPC from now on."""
    real_open = io.open

    def start(pattern: str) -> None:
        def full_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            writing = not isinstance(file, int) and any(c in mode for c in "wax+")
            return FullFile(f) if writing and pattern in os.fsdecode(file) else f

        monkeypatch.setattr("builtins.open", full_open)
        monkeypatch.setattr(io, "open", full_open)

    return start


def mount_point(path: Path) -> Path:
    while not os.path.ismount(path):
        path = path.parent
    return path


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_the_paragraph_names_the_file_and_the_filesystem_that_holds_it(tmp_path: Path) -> None:
    """Was: the free space of a folder that did not exist yet ("free space unknown"), or of the working folder."""
    target = tmp_path / "not" / "made" / "yet" / "results.json"
    message = disk_full_message(target, ENOSPC)
    assert message.startswith(f"Could not write {target}: the disk is full (")
    assert f"MiB free on the filesystem mounted at {mount_point(tmp_path)})" in message


def test_a_record_that_cannot_be_written_is_named_and_leaves_no_temp_file(tmp_path: Path, full_disk) -> None:
    """Was: "Could not write a checkpoint" (explain() had no file name), a 0-byte .results.json.<pid>.tmp left."""
    from litzoo.run.checks import explain

    record.write_results(tmp_path, {"status": "running"})
    full_disk("results.json")
    with pytest.raises(LitzooError) as caught:
        record.write_results(tmp_path, {"status": "ok"})
    message = explain(caught.value)
    assert message.startswith(f"Could not write {tmp_path / 'results.json'}: the disk is full")
    assert "checkpoint" not in message and f"mounted at {mount_point(tmp_path)}" in message
    assert record.read_results(tmp_path) == {"status": "running"}  # the record before is whole
    assert temp_files(tmp_path) == []


def test_litzoo_sweep_on_a_full_disk_prints_the_table_and_keeps_the_old_one(tmp_path: Path, full_disk,
                                                                            capsys) -> None:
    """Was: litzoo-sweep crashed with an OSError traceback and left .summary.csv.<pid>.tmp."""
    job = tmp_path / "optimizer.lr=0.1"
    record.write_results(job, {"status": "ok", "overrides": ["optimizer.lr=0.1"], "metrics": {"best/val_loss": 0.5}})
    sweep.main([str(tmp_path)])
    before = (tmp_path / "summary.csv").read_text()
    record.write_results(job, {"status": "ok", "overrides": ["optimizer.lr=0.1"], "metrics": {"best/val_loss": 0.4}})
    full_disk("summary.")
    with pytest.raises(SystemExit) as stopped:
        sweep.main([str(tmp_path)])
    assert stopped.value.code == 1
    out, err = capsys.readouterr()
    assert "0.4000" in out  # the table, read from the jobs, is printed all the same
    assert f"The summary was not updated: Could not write {tmp_path / 'summary.csv'}: the disk is full" in err
    assert (tmp_path / "summary.csv").read_text() == before and temp_files(tmp_path) == []


def test_a_full_disk_during_a_sweep_is_recorded_where_it_can_be_and_ends_the_sweep_cleanly(tmp_path: Path) -> None:
    """Job 2 cannot write its final record, job 3 not even Hydra's .hydra/config.yaml. Was: "Could not write a
    checkpoint" for the record, the sweep crashed inside Hydra with a traceback, job 3 had no record, 0-byte
    .tmp files were left in the run folders."""
    full = "optimizer.lr=0.002/.results.json@1;optimizer.lr=0.003/.hydra/"  # job 2: its first record only
    out = litzoo_train(tmp_path, "-m", "optimizer.lr=1e-3,2e-3,3e-3", *FAST, faults={"LITZOO_TEST_FULL": full})
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    folder = the_sweep(tmp_path)
    assert f"Could not write {folder / 'optimizer.lr=0.002' / 'results.json'}: the disk is full" in out.stderr
    hydra_file = folder / "optimizer.lr=0.003" / ".hydra" / "config.yaml"
    assert out.stderr.count(f"Error: Could not write {hydra_file}: the disk is full") == 1  # said once, at the end
    rows = summary(folder)  # the table covers every job, written after the full disk stopped the sweep
    assert rows["optimizer.lr=0.001"]["status"] == "ok"
    assert rows["optimizer.lr=0.002"]["status"] == "interrupted"  # its record could not be finished: `running`
    assert rows["optimizer.lr=0.003"]["status"] == "failed" and str(hydra_file) in rows["optimizer.lr=0.003"]["error"]
    assert temp_files(tmp_path / "logs") == []
    assert no_process_left(tmp_path) == []


def test_explain_without_a_file_name_does_not_guess_one() -> None:
    """Was: "Could not write a checkpoint", with the free space of the working folder."""
    from litzoo.run.checks import explain

    message = explain(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert message.startswith("Could not write a file: the disk is full") and "checkpoint" not in message
    assert "MiB free" not in message  # not the working folder's free space: which filesystem is full is unknown
