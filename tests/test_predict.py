"""litzoo-predict on generated files in the real formats: images, digit-recognizer CSV rows, review texts, a series
(issue 20): one tiny run per source, trained once for the module; probabilities sum to 1, in training order."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fakedata_images import CLASSES, write_digits_csv, write_stripes
from fakedata_text import write_aclimdb_tar, write_timed_csv

from litzoo.cli import predict as predict_cli
from litzoo.run.compose import compose_config
from litzoo.run.fit import train


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("predict")


def _train(tmp: Path, name: str, *overrides: str) -> Path:
    cfg = compose_config([f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/{name}", "trainer.accelerator=cpu",
                          "logger=none", "callbacks=minimal", *overrides])
    train(cfg)
    return tmp / name


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _check_probabilities(rows: list[dict[str, str]], classes: list[str]) -> None:
    assert list(rows[0])[2:] == [f"p_{c}" for c in classes]  # the model's training order
    for row in rows:
        probs = [float(row[f"p_{c}"]) for c in classes]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted"] == classes[probs.index(max(probs))]


def test_images_files_and_folders(tmp: Path, capsys) -> None:
    write_stripes(tmp / "shapes", n=24)
    run = _train(tmp, "images", "data=image_folder", "model=datacamp_conv", f"data.folder={tmp / 'shapes'}",
                 "data.target_size=[16,16]", "data.num_classes=3", "trainer.max_epochs=2", "optimizer=adam",
                 "optimizer.lr=0.01")
    new = write_stripes(tmp / "new", n=2, seed=3)
    predict_cli.main([str(run), str(new / "zebra"), str(new / "café" / "0.png")])
    rows = _read(new / "predictions.csv")  # beside the inputs (the first one, new/zebra, is a folder: beside it)
    assert [Path(r["input"]).name for r in rows] == ["0.png", "1.png", "0.png"]
    _check_probabilities(rows, list(CLASSES))
    assert [r["predicted"] for r in rows] == ["zebra", "zebra", "café"]
    assert "p_café" in capsys.readouterr().out  # the first rows are shown
    predict_cli.main([str(run), str(new / "zebra")])
    assert (new / "predictions_2.csv").is_file()  # never over an earlier one
    with pytest.raises(SystemExit):
        predict_cli.main([str(run), str(new), "--out", str(run / "p.csv")])
    assert "outside the run folder" in capsys.readouterr().err and not (run / "p.csv").exists()


def test_digit_csv_rows(tmp: Path) -> None:
    write_digits_csv(tmp / "data" / "digit-recognizer", n_train=80)
    run = _train(tmp, "digits", "data=digits_csv", "model=datacamp_dense", "trainer.max_epochs=1")
    predict_cli.main([str(run), str(tmp / "data" / "digit-recognizer" / "test.csv"), "--out", str(tmp / "d.csv")])
    rows = _read(tmp / "d.csv")
    assert len(rows) == 10 and rows[0]["input"].endswith("test.csv row 1")
    _check_probabilities(rows, [str(i) for i in range(10)])


def test_review_texts(tmp: Path) -> None:
    write_aclimdb_tar(tmp / "data")
    run = _train(tmp, "imdb", "experiment=imdb_multihot_dense", f"paths.data_dir={tmp / 'data'}", "data.num_words=60",
                 "trainer.max_epochs=1", "data.batch_size=16")
    texts = tmp / "reviews"
    texts.mkdir()
    (texts / "a.txt").write_text("A wonderful film, I loved it.", encoding="utf-8")
    (texts / "b.txt").write_text("Dreadful. Boring and bad.", encoding="utf-8")
    predict_cli.main([str(run), str(texts), "--out", str(tmp / "reviews.csv")])
    rows = _read(tmp / "reviews.csv")
    assert [Path(r["input"]).name for r in rows] == ["a.txt", "b.txt"]
    _check_probabilities(rows, ["neg", "pos"])


def test_a_series_forecast_from_its_last_window(tmp: Path) -> None:
    write_timed_csv(tmp / "series.csv", rows=300)
    run = _train(tmp, "series", "experiment=jena_gru", f"data.path={tmp / 'series.csv'}", "data.time_column=time_hour",
                 "data.features=['A (u)','B (u)']", "data.target='T (degC)'", "data.lookback=12", "data.step=3",
                 "data.delay=5", "trainer.max_epochs=1", "trainer.limit_train_batches=2")
    predict_cli.main([str(run), str(tmp / "series.csv"), "--out", str(tmp / "forecast.csv")])
    (row,) = _read(tmp / "forecast.csv")
    assert row["input"].startswith(str(tmp / "series.csv")) and -100 < float(row["forecast T (degC)"]) < 100
