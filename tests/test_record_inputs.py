"""Records read from disk are input, not code: results.json and Hydra's YAML files are size-bounded, strictly
UTF-8 and of the right shape, or named as unreadable in one line with the reason (litzoo.run.record)."""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from litzoo.run import record
from litzoo.cli import sweep

BAD_RESULTS = {
    "a JSON list": (b"[1, 2]\n", "not a JSON object but an array"),
    "invalid UTF-8": (b'{"status": "ok\xff"}', "not UTF-8 text (byte 0xff at offset 14)"),
    "half a file": (b'{"status": ', "not JSON (Expecting value at line 1, column 12)"),
    "a wrong field": (b'{"status": "ok", "metrics": {"best/val_loss": "low"}}', "'metrics' is"),
    "deep nesting": (b"[" * 100_000, "nested too deeply"),
}
BAD_YAML = {
    "a !!python tag": (b"- !!python/object/apply:os.system ['echo pwned']\n",
                       "the tag !!python/object/apply:os.system is not allowed (plain YAML only) at line 1, column 3"),
    "a syntax error": (b"hydra: {job: {num: [1\n", "YAML: expected ',' or ']', but got '<stream end>' at line 2"),
    "an alias": (b"a: &x [1]\nb: *x\n", "aliases (*name) are not accepted"),
    "a scalar": (b"just text\n", "not a mapping or a list"),
}


@pytest.mark.parametrize("name", BAD_RESULTS)
def test_unreadable_results_are_named_with_the_reason(tmp_path: Path, name: str) -> None:
    content, reason = BAD_RESULTS[name]
    (tmp_path / record.FILENAME).write_bytes(content)
    with pytest.raises(record.UnreadableRecord) as err:
        record.read_results(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / record.FILENAME} is unreadable: ") and reason in str(err.value)
    assert "\n" not in str(err.value)
    assert record.record_or_unreadable(tmp_path) == {"status": "unreadable",
                                                     "error": f"results.json is unreadable: {err.value.reason}"}


def test_absent_results_are_none_and_good_ones_are_read(tmp_path: Path) -> None:
    assert record.read_results(tmp_path) is None and record.record_or_unreadable(tmp_path) == {}
    record.write_results(tmp_path, {"status": "ok", "metrics": {"best/val_loss": float("nan")}})
    assert record.read_results(tmp_path) == {"status": "ok", "metrics": {"best/val_loss": None}}


def test_a_huge_or_special_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / record.FILENAME
    path.touch()
    os.truncate(path, 2 * 2**30)  # sparse: 2 GiB on paper, no disk used; reading it took 71 s and 4.2 GB
    start = time.perf_counter()
    with pytest.raises(record.UnreadableRecord, match=r"2,048\.0 MiB, larger than the 16 MiB a record may be"):
        record.read_results(tmp_path)
    assert time.perf_counter() - start < 0.5
    path.unlink()
    os.mkfifo(path)  # a plain open() of a FIFO waits for a writer forever
    with pytest.raises(record.UnreadableRecord, match="not a regular file"):
        record.read_results(tmp_path)


@pytest.mark.parametrize("name", BAD_YAML)
def test_unsafe_or_broken_yaml_is_named_with_the_reason(tmp_path: Path, name: str) -> None:
    content, reason = BAD_YAML[name]
    (tmp_path / "overrides.yaml").write_bytes(content)
    with pytest.raises(record.UnreadableRecord, match=r"overrides\.yaml is unreadable: ") as err:
        record.read_yaml(tmp_path / "overrides.yaml")
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_plain_yaml_reads_as_omegaconf_did(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("- optimizer.lr=1e-3\n- seed=1\n")
    (tmp_path / "b.yaml").write_text("hydra:\n  job:\n    num: 3\nlr: 1e-3\n")
    assert list(record.read_yaml(tmp_path / "a.yaml")) == ["optimizer.lr=1e-3", "seed=1"]
    b = record.read_yaml(tmp_path / "b.yaml")
    assert b.hydra.job.num == 3 and b.lr == 1e-3  # OmegaConf's float rule, not PyYAML's string
    assert record.read_yaml(tmp_path / "absent.yaml") is None


def test_litzoo_sweep_lists_unreadable_jobs_in_one_line_each(tmp_path: Path, capsys) -> None:
    """Was: a JSON list crashed litzoo-sweep (AttributeError), invalid UTF-8 and a 2 GiB file showed as
    `interrupted`, a !!python tag printed a 40-line YAML traceback."""
    def job(name: str, results: bytes | None = None, overrides: bytes | None = None) -> Path:
        folder = tmp_path / f"optimizer.lr={name}"
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_bytes(overrides or f"- optimizer.lr={name}\n".encode())
        if results is not None:
            (folder / record.FILENAME).write_bytes(results)
        return folder

    job("0.1", b'{"status": "ok", "overrides": ["optimizer.lr=0.1"], "metrics": {"best/val_loss": 0.5}}')
    job("0.2", BAD_RESULTS["a JSON list"][0])
    job("0.3", BAD_RESULTS["invalid UTF-8"][0])
    os.truncate(job("0.4", b"") / record.FILENAME, 2 * 2**30)
    job("0.5", overrides=BAD_YAML["a !!python tag"][0])
    (tmp_path / "multirun.yaml").write_bytes(BAD_YAML["a syntax error"][0])
    sweep.main([str(tmp_path)])
    out = capsys.readouterr().out
    with open(tmp_path / "summary.csv", newline="") as f:
        rows = {r["run_dir"]: r for r in csv.DictReader(f)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "optimizer.lr=0.1": "ok", "optimizer.lr=0.2": "unreadable", "optimizer.lr=0.3": "unreadable",
        "optimizer.lr=0.4": "unreadable", "optimizer.lr=0.5": "unreadable"}
    assert rows["optimizer.lr=0.2"]["error"] == "results.json is unreadable: not a JSON object but an array"
    assert "byte 0xff" in rows["optimizer.lr=0.3"]["error"] and "2,048.0 MiB" in rows["optimizer.lr=0.4"]["error"]
    assert rows["optimizer.lr=0.5"]["error"].startswith(".hydra/overrides.yaml is unreadable: YAML: the tag !!python")
    assert "optimizer.lr=0.2 (unreadable): results.json is unreadable: not a JSON object" in out
    assert "5 jobs: 1 ok, 4 unreadable" in out
    assert "multirun.yaml is unreadable: YAML: expected ','" in out  # a sweep-level file: a line of its own
