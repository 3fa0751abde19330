"""Several stations in one hourly CSV (data.group_column): windows within a station, splits cut at the same times,
gaps filled per station, the missing-values report, and the messages for repeated times and data.missing=drop."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from litzoo.data.base import CorruptFileError
from litzoo.data.timeseries import TimeseriesDataModule
from litzoo.run.fit import train

STATIONS = {"north": range(120), "south": range(120), "east": range(10, 120)}  # east starts 10 hours later
GAP = (40, 41, 42)  # hours missing from south's export
START = datetime(2021, 3, 1)


def write_stations_csv(path: Path, stations: dict[str, range] = STATIONS) -> Path:
    """An hourly export, rows sorted by time then station: A = 1000 * station index + hour (so a value names its
    station and hour), B a daily cycle, T = A / 100, wind_gust only every 6th hour (mostly empty)."""
    rows = []
    for s, (name, hours) in enumerate(stations.items()):
        for h in hours:
            if name == "south" and h in GAP:
                continue
            a = 1000 * s + h
            gust = f"{h % 7 + 3.5:.1f}" if h % 6 == 0 else ""
            stamp = (START + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S")
            rows.append((h, s, f"{stamp},{name},{a},{np.sin(h / 3.8):.4f},{a / 100:.2f},{gust}"))
    path.write_text("time,station,A (u),B (u),T (degC),wind_gust\n" + "\n".join(r[2] for r in sorted(rows)) + "\n")
    return path


def make_dm(path: Path, features: tuple[str, ...] = ("A (u)", "B (u)"), **kw) -> TimeseriesDataModule:
    kw = {"lookback": 12, "step": 3, "delay": 5, "time_column": "time", "group_column": "station", **kw}
    dm = TimeseriesDataModule(str(path), list(features), "T (degC)", input_shape=[kw["lookback"] // 3, len(features)],
                              batch_size=8, **kw)
    dm.setup("fit")
    return dm


def test_windows_stay_within_a_station_and_splits_are_cut_at_the_same_times(tmp_path: Path) -> None:
    dm = make_dm(write_stations_csv(tmp_path / "stations.csv"))
    assert dm.groups == ["north", "south", "east"]
    a = dm.datasets["train"].features[:, 0].double().numpy() * dm.stats["std"][0] + dm.stats["mean"][0]
    np.testing.assert_array_equal(np.rint(a) // 1000, dm.row_group)  # every table row holds its own station's data
    offsets = dm.datasets["train"].offsets.numpy()
    spans = {}
    for split in ("train", "val", "test"):
        ends = dm.datasets[split].ends.numpy()
        rows = np.concatenate([ends[:, None] + offsets, (ends + dm.delay)[:, None]], axis=1)  # window + target
        group = dm.row_group[rows]
        assert (group == group[:, -1:]).all()  # no window or target crosses stations
        np.testing.assert_array_equal(dm.window_groups[split], group[:, -1])
        assert set(dm.window_groups[split]) == {0, 1, 2}  # every station in every split
        spans[split] = dm.row_time[rows].min(), dm.row_time[rows].max()
    assert spans["train"][1] < spans["val"][0] <= spans["val"][1] < spans["test"][0]  # one time cut for all
    train_rows = dm.row_time < spans["val"][0]
    np.testing.assert_allclose(dm.stats["mean"][0], np.rint(a[train_rows]).mean())  # all stations' training rows


def test_gaps_are_filled_within_each_station(tmp_path: Path, capsys) -> None:
    dm = make_dm(write_stations_csv(tmp_path / "stations.csv"))
    a = dm.datasets["train"].features[:, 0].double().numpy() * dm.stats["std"][0] + dm.stats["mean"][0]
    hour = (dm.row_time - dm.row_time.min()) // 3600
    np.testing.assert_allclose(a, 1000 * dm.row_group + hour, atol=1e-3)  # south's 3 lost hours: its own line (float32)
    assert ((dm.row_group == 1) & np.isin(hour, GAP)).sum() == 3
    assert "3 missing timestamps added" in capsys.readouterr().out


def test_missing_values_are_reported_and_a_mostly_empty_column_is_warned(tmp_path: Path, capsys) -> None:
    with pytest.warns(UserWarning, match=r"'wind_gust' is 8\d% empty .*longest gap is 11:00:00"):
        dm = make_dm(write_stations_csv(tmp_path / "stations.csv"), features=("A (u)", "wind_gust"))
    out = capsys.readouterr().out
    assert "Missing values per column" in out and "mostly empty" in out
    assert any("'south' 8" in w for w in dm.data_warnings)  # per station, kept for the run's record


def test_drop_without_a_complete_window_names_the_column(tmp_path: Path) -> None:
    path = write_stations_csv(tmp_path / "stations.csv")
    with pytest.warns(UserWarning, match="wind_gust"), pytest.raises(
            ValueError, match=r"data.missing=drop leaves no complete window in the train range.*'wind_gust'"):
        make_dm(path, features=("A (u)", "wind_gust"), missing="drop")


def test_repeated_timestamps_suggest_the_group_column(tmp_path: Path) -> None:
    path = write_stations_csv(tmp_path / "stations.csv")
    with pytest.raises(CorruptFileError, match=r"stations.csv:3: .* repeats the time of line 2 .*"
                                               r"data.group_column=station") as err:
        make_dm(path, group_column=None)
    assert "would not do" in str(err.value)  # time_column=null is named only as what not to do


def test_a_station_too_short_for_a_window_is_warned_and_none_left_is_refused(tmp_path: Path) -> None:
    path = write_stations_csv(tmp_path / "stations.csv", {**STATIONS, "tiny": range(8)})
    with pytest.warns(UserWarning, match="station='tiny' gives no train or val or test window"):
        dm = make_dm(path)
    tiny = dm.groups.index("tiny")  # groups in order of first appearance in the file
    assert not any(tiny in dm.window_groups[s] for s in ("train", "val", "test")) and len(dm.groups) == 4
    with pytest.raises(ValueError, match=r"train range \(at most 60 rows in each group of 'station'\) is too short"):
        make_dm(path, lookback=48, delay=24)


def test_jena_gru_trains_on_three_stations(tmp_path: Path, make_cfg, capsys) -> None:
    path = write_stations_csv(tmp_path / "stations.csv")
    cfg = make_cfg("experiment=jena_gru", f"data.path={path}", "data.generate=false", "data.features=['A (u)','B (u)']",
                   "data.time_column=time", "data.group_column=station", "data.lookback=12", "data.step=3",
                   "data.delay=5", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=none",
                   "callbacks=minimal")
    run = train(cfg)
    m = run["metrics"]
    assert np.isfinite(m["test/mae"]) and np.isfinite(m["test/baseline_mae"])
    assert "in 3 groups of 'station' (north, south, east)" in capsys.readouterr().out
    # litzoo-predict on the same file: one forecast per station, each from that station's own last rows
    import csv

    from litzoo.cli import predict as predict_cli

    predict_cli.main([run["run_dir"], str(path), "--out", str(tmp_path / "forecast.csv")])
    with (tmp_path / "forecast.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["input"].split("station=")[1].split(":")[0] for r in rows] == ["north", "south", "east"]
    forecasts = [float(r["forecast T (degC)"]) for r in rows]
    assert all(np.isfinite(forecasts)) and len(set(forecasts)) == 3
