"""Timeseries windows on tiny generated CSVs: line-up, training-range statistics, missing values and missing
timestamps, the time column, malformed files, baseline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fakedata_text import write_climate_csv, write_timed_csv
from litzoo.data.base import CorruptFileError, DatasetNotFoundError
from litzoo.data.series_csv import read_series
from litzoo.data.timeseries import JENA_COLUMNS, TimeseriesDataModule, generate_climate_csv
from litzoo.run.fit import train

FEATURES = ["A (u)", "B (u)"]


def make_dm(path, **kw) -> TimeseriesDataModule:
    kw = {"lookback": 12, "step": 3, "delay": 5, "batch_size": 8, "splits": (0.5, 0.25, 0.25), **kw}
    dm = TimeseriesDataModule(str(path), FEATURES, "T (degC)", input_shape=[kw["lookback"] // kw["step"], 2], **kw)
    dm.setup("fit")
    return dm


def denorm(dm: TimeseriesDataModule, x: torch.Tensor, col: int) -> np.ndarray:
    return x.double().numpy() * dm.stats["std"][col] + dm.stats["mean"][col]


def test_windows_line_up_target_is_window_end_plus_delay(tmp_path) -> None:
    write_climate_csv(tmp_path / "c.csv", rows=400)
    dm = make_dm(tmp_path / "c.csv")
    for split, (lo, hi) in {"train": (0, 200), "val": (200, 300), "test": (300, 400)}.items():
        loader = getattr(dm, f"{split}_dataloader")()
        x, y = next(iter(loader))
        rows = np.rint(denorm(dm, x[..., 0], 0))  # column A holds the row number
        assert x.shape[1:] == (4, 2)
        assert (np.diff(rows, axis=1) == 3).all()  # sampled every `step` rows, oldest first
        ends = rows[:, -1]
        np.testing.assert_allclose(denorm(dm, y, 2), (ends + 5) / 10, atol=1e-3)  # T = row / 10 at end + delay
        assert rows.min() >= lo and ends.max() + 5 < hi  # windows and targets stay inside their range
    assert len(dm.datasets["train"]) == 200 - 9 - 5  # first end row 9, last 194


def test_normalisation_uses_the_training_range_only(tmp_path) -> None:
    write_climate_csv(tmp_path / "c.csv", rows=400)
    dm = make_dm(tmp_path / "c.csv")
    np.testing.assert_allclose(dm.stats["mean"][0], np.arange(200).mean())
    np.testing.assert_allclose(dm.stats["std"][0], np.arange(200).std())
    assert dm.target_scale == pytest.approx(np.arange(200).std() / 10)


def test_baseline_mae_is_in_target_units(tmp_path) -> None:
    write_climate_csv(tmp_path / "c.csv", rows=400)
    dm = make_dm(tmp_path / "c.csv")
    assert dm.reference_metrics["val/baseline_mae"] == pytest.approx(0.5, abs=1e-3)  # T rises 0.1 per row
    assert dm.reference_metrics["test/baseline_mae"] == pytest.approx(0.5, abs=1e-3)


def test_missing_values_interpolate_or_drop_never_nan(tmp_path) -> None:
    gaps = ((20, 0), (21, 1), (50, 2), (260, 0))
    write_climate_csv(tmp_path / "c.csv", rows=400, gaps=gaps)
    assert np.isnan(read_series(tmp_path / "c.csv", ["A (u)", "B (u)", "T (degC)"]).table).sum() == 4  # '' and NA
    interp = make_dm(tmp_path / "c.csv", missing="interpolate")
    np.testing.assert_allclose(denorm(interp, interp.datasets["train"].features[20, 0], 0), 20.0, atol=1e-4)
    dropped = make_dm(tmp_path / "c.csv", missing="drop")
    assert len(dropped.datasets["train"]) < len(interp.datasets["train"])
    for dm in (interp, dropped):
        for split in ("train", "val", "test"):
            for x, y in getattr(dm, f"{split}_dataloader")():
                assert torch.isfinite(x).all() and torch.isfinite(y).all()
    ends = dropped.datasets["train"].ends.numpy()
    rows = ends[:, None] - 3 * np.arange(4)
    assert not np.isin(rows, [20, 21]).any()  # missing features: no window samples those rows
    assert 50 - 5 not in ends and np.isin(rows, [50]).any()  # a missing target only drops its own window
    assert 29 not in ends and 38 in ends  # rows 20..29 hold the gap at row 20; rows 29..38 none
    with pytest.raises(ValueError, match="missing values"):
        make_dm(tmp_path / "c.csv", missing="error")


def test_generated_series_is_deterministic_in_the_jena_layout(tmp_path) -> None:
    a = generate_climate_csv(tmp_path / "a.csv", days=3)
    b = generate_climate_csv(tmp_path / "b.csv", days=3)
    assert a.read_bytes() == b.read_bytes()
    header, first = a.read_text().splitlines()[:2]
    assert header.split(",")[0] == '"Date Time"' and len(header.split(",")) == 1 + len(JENA_COLUMNS)
    assert first.startswith("01.01.2009 00:10:00,")
    series = read_series(a, list(JENA_COLUMNS), "Date Time")
    assert series.table.shape == (3 * 144, 14) and (np.diff(series.times) == 600).all()  # parsed: 10 minutes


def test_missing_csv_and_bad_shapes_fail_clearly(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="jena_climate_2009_2016.csv"):
        make_dm(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="lookback // step"):
        TimeseriesDataModule(str(tmp_path / "x.csv"), FEATURES, "T (degC)", lookback=12, step=3, input_shape=[240, 2])


def test_missing_timestamps_become_rows_for_the_missing_policy(tmp_path, capsys) -> None:
    write_timed_csv(tmp_path / "c.csv", rows=400, skip=(50, 51, 52))  # three hours missing from an hourly export
    plain = make_dm(tmp_path / "c.csv")  # time_column=null: file order, today's behaviour
    assert len(plain.datasets["train"].features) == 397
    interp = make_dm(tmp_path / "c.csv", time_column="time_hour")
    rows = denorm(interp, interp.datasets["train"].features[:, 0], 0)
    np.testing.assert_allclose(rows, np.arange(400), atol=1e-3)  # back on the hourly grid, the gap interpolated
    assert "3 missing timestamps added" in capsys.readouterr().out
    dropped = make_dm(tmp_path / "c.csv", time_column="time_hour", missing="drop")
    assert "3 rows with missing values left out" in capsys.readouterr().out
    ends = dropped.datasets["train"].ends.numpy()
    window_rows = ends[:, None] - 3 * np.arange(4)
    assert not np.isin(window_rows, [50, 51, 52]).any() and not np.isin(ends + 5, [50, 51, 52]).any()
    for x, _ in dropped.train_dataloader():  # every window is evenly spaced in time: A steps by exactly 3
        np.testing.assert_allclose(np.diff(denorm(dropped, x[..., 0], 0), axis=1), 3.0, atol=1e-3)
    with pytest.raises(ValueError, match="3 rows with missing values.*3 missing timestamps"):
        make_dm(tmp_path / "c.csv", time_column="time_hour", missing="error")


@pytest.mark.parametrize("layout", ["jena", "iso", "iso_space", "us"])
def test_time_formats(tmp_path, layout) -> None:
    write_timed_csv(tmp_path / "c.csv", rows=30, skip=(7,), layout=layout, minutes=10)
    fmt = "%m/%d/%Y %H:%M" if layout == "us" else None  # not auto-detected: given as data.time_format
    series = read_series(tmp_path / "c.csv", ["A (u)"], "time_hour", fmt)
    assert series.times[0] == 1356998400 and set(np.diff(series.times)) == {600, 1200}  # 2013-01-01 UTC
    if layout == "us":
        with pytest.raises(CorruptFileError, match=r"c.csv:2: time '01/01/2013 00:00'.*data.time_format"):
            read_series(tmp_path / "c.csv", ["A (u)"], "time_hour")


def test_unordered_or_irregular_times_are_refused_with_the_line(tmp_path) -> None:
    path = tmp_path / "c.csv"
    write_timed_csv(path, rows=80)
    lines = path.read_text().splitlines()
    cases = {"earlier": lines[:11] + [lines[12], lines[11]] + lines[13:],  # rows 11 and 12 swapped
             "repeats": lines[:11] + [lines[11], lines[11]] + lines[12:],
             "not a multiple": lines[:12] + [lines[12].replace("T11:00", "T11:20")] + lines[13:]}
    for what, content in cases.items():
        path.write_text("\n".join(content) + "\n")
        with pytest.raises(CorruptFileError, match=r"c.csv:13: .*line 12") as err:
            make_dm(path, time_column="time_hour")
        assert what in str(err.value)
    path.write_text("\n".join(cases["earlier"]) + "\n")
    assert len(make_dm(path).datasets["train"].features) == 80  # time_column=null reads them in file order


def test_header_and_row_lengths_must_agree(tmp_path) -> None:
    path = tmp_path / "c.csv"
    write_climate_csv(path, rows=40)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header.split(",", 1)[1], *rows]) + "\n")  # 'Date Time' missing from the header
    with pytest.raises(CorruptFileError, match=r"c.csv:2: 4 values, but the header \(line 1\) names 3 columns"):
        make_dm(path)
    path.write_text("\n".join([header, *rows[:5], rows[5] + ",1.0", *rows[6:]]) + "\n")
    with pytest.raises(CorruptFileError, match=r"c.csv:7: 5 values"):
        make_dm(path)


def test_jena_gru_trains_and_reports_its_baseline(tmp_path, make_cfg, capsys) -> None:
    write_timed_csv(tmp_path / "c.csv", rows=300, skip=(100,), layout="jena", time_name="Date Time", minutes=10)
    cfg = make_cfg("experiment=jena_gru_dropout", f"data.path={tmp_path / 'c.csv'}", "data.generate=false",
                   f"data.features={FEATURES}", "data.lookback=12", "data.step=3", "data.delay=5",
                   "trainer.max_epochs=2", "trainer.limit_train_batches=4", "logger=none", "callbacks=minimal")
    assert list(cfg.data.input_shape) == [4, 2]  # derived from lookback // step and the features
    results = train(cfg)
    m = results["metrics"]
    assert m["best/val_baseline_mae"] == pytest.approx(0.5, abs=1e-3)
    assert m["test/baseline_mae"] == pytest.approx(0.5, abs=1e-3)
    assert np.isfinite(m["best/val_mae"]) and np.isfinite(m["test/mae"])
    out = capsys.readouterr().out
    assert "300 rows every 0:10:00 by 'Date Time', 1 missing timestamps added" in out
    assert "1 rows with missing values filled by linear interpolation" in out
