"""Timeseries windows on a tiny generated CSV: line-up, training-range statistics, missing values, baseline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fakedata_text import write_climate_csv
from litzoo.data.base import DatasetNotFoundError
from litzoo.data.timeseries import JENA_COLUMNS, TimeseriesDataModule, generate_climate_csv, read_csv
from litzoo.train import train

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
    assert np.isnan(read_csv(tmp_path / "c.csv", ["A (u)", "B (u)", "T (degC)"])).sum() == 4  # '' and NA
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
    assert read_csv(a, list(JENA_COLUMNS)).shape == (3 * 144, 14)


def test_missing_csv_and_bad_shapes_fail_clearly(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="jena_climate_2009_2016.csv"):
        make_dm(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="lookback // step"):
        TimeseriesDataModule(str(tmp_path / "x.csv"), FEATURES, "T (degC)", lookback=12, step=3, input_shape=[240, 2])


def test_jena_gru_trains_and_reports_its_baseline(tmp_path, make_cfg) -> None:
    write_climate_csv(tmp_path / "c.csv", rows=300)
    cfg = make_cfg("experiment=jena_gru_dropout", f"data.path={tmp_path / 'c.csv'}", "data.generate=false",
                   f"data.features={FEATURES}", "data.lookback=12", "data.step=3", "data.delay=5",
                   "data.input_shape=[4,2]", "trainer.max_epochs=2", "trainer.limit_train_batches=4",
                   "logger=none", "callbacks=minimal")
    results = train(cfg)
    m = results["metrics"]
    assert m["val/baseline_mae"] == pytest.approx(0.5, abs=1e-3) and m["test/baseline_mae"] == pytest.approx(0.5, abs=1e-3)
    assert np.isfinite(m["val/mae"]) and np.isfinite(m["test/mae"])
