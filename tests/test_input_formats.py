"""Files as the real world writes them, through the real loaders: spreadsheet CSVs (byte-order mark, CRLF, ';' or
tab between values, not UTF-8), digit CSVs with values out of range, 16-bit / float / transparent images, and image
trees with an empty class folder or a looping symlink."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakedata_images import write_digits_csv
from fakedata_text import write_timed_csv
from litzoo.data.base import CorruptFileError
from litzoo.data.digits_csv import DigitsCSVDataModule
from litzoo.data.image_folder import ImageFolderDataModule, to_8bit, walk_files
from litzoo.data.timeseries import TimeseriesDataModule
from litzoo.errors import LitzooError

BOM = b"\xef\xbb\xbf"
# (byte-order mark, line end, delimiter): what Excel and other tools write, one at a time and all at once
EXPORTS = {"bom": (True, "\n", ","), "crlf": (False, "\r\n", ","), "semicolon": (False, "\n", ";"),
           "tab": (False, "\n", "\t"), "excel_europe": (True, "\r\n", ";")}


def re_export(path: Path, bom: bool, newline: str, sep: str) -> Path:
    """Rewrite a plain comma CSV (no commas inside values) with another BOM, line end and delimiter."""
    lines = path.read_text().splitlines()
    path.write_bytes((BOM if bom else b"") + "".join(line.replace(",", sep) + newline for line in lines).encode())
    return path


def series_dm(path: Path, **kw) -> TimeseriesDataModule:
    dm = TimeseriesDataModule(str(path), ["A (u)", "B (u)"], "T (degC)", lookback=12, step=3, delay=5,
                              input_shape=[4, 2], time_column="Date Time", **kw)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_series_csv_exports_read_like_the_plain_file(tmp_path: Path, export: str) -> None:
    for name in ("plain.csv", "export.csv"):
        write_timed_csv(tmp_path / name, rows=120, skip=(40,), layout="jena", time_name="Date Time", minutes=10)
    re_export(tmp_path / "export.csv", *EXPORTS[export])
    plain, exported = series_dm(tmp_path / "plain.csv"), series_dm(tmp_path / "export.csv")
    assert torch.equal(exported.datasets["train"].features, plain.datasets["train"].features)
    assert len(plain.datasets["train"].features) == 120  # the missing timestamp was found through the time column


def test_series_csv_delimiter_can_be_set(tmp_path: Path) -> None:
    write_timed_csv(tmp_path / "c.csv", rows=60, layout="jena", time_name="Date Time", minutes=10)
    re_export(tmp_path / "c.csv", False, "\n", ";")
    assert len(series_dm(tmp_path / "c.csv", delimiter="semicolon").datasets["train"].features) == 60
    with pytest.raises(ValueError, match=r"no column.*split at ',' \(data.delimiter\)"):
        series_dm(tmp_path / "c.csv", delimiter=",")
    with pytest.raises(ValueError, match="data.delimiter must be one character"):
        series_dm(tmp_path / "c.csv", delimiter=";;")


def test_csv_that_is_not_utf8_names_file_and_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write_timed_csv(path, rows=30, layout="jena", time_name="Date Time", minutes=10)
    header, rest = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header + b',"Temp\xe9rature"\n' + rest)  # Latin-1 'e acute', as an old Windows export writes it
    offset = len(header) + 6
    with pytest.raises(CorruptFileError, match=rf"c.csv is not UTF-8 text: byte 0xe9 at byte offset {offset} "):
        series_dm(path)


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_digits_csv_exports_read_like_the_plain_file(tmp_path: Path, export: str) -> None:
    plain = write_digits_csv(tmp_path / "plain" / "digit-recognizer")
    exported = write_digits_csv(tmp_path / "export" / "digit-recognizer")
    for name in ("train.csv", "test.csv"):
        re_export(exported / name, *EXPORTS[export])
    a, b = (DigitsCSVDataModule(str(folder.parent)) for folder in (plain, exported))
    a.setup()
    b.setup()
    assert all(torch.equal(a.splits[k][i], b.splits[k][i]) for k in a.splits for i in (0, 1))
    assert torch.equal(a.predict_x, b.predict_x)


@pytest.mark.parametrize("row, column, value", [(1, "label", -1), (7, "label", 10), (3, "pixel5", 300),
                                                (60, "pixel783", -2)])
def test_digits_csv_value_out_of_range_names_file_row_column_value(tmp_path: Path, row: int, column: str,
                                                                   value: int) -> None:
    folder = write_digits_csv(tmp_path / "digit-recognizer")
    lines = (folder / "train.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")  # data row `row` is file line row + 1 (the header is line 1)
    cells[header.index(column)] = str(value)
    lines[row] = ",".join(cells)
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(LitzooError) as err:
        DigitsCSVDataModule(str(tmp_path)).setup()
    msg = str(err.value)
    assert f"train.csv, line {row + 1} (spreadsheet row {row + 1}" in msg and f"data row {row})" in msg
    assert f"column {column!r}: value {value} is out of range" in msg and "\n" not in msg


def image_dm(root: Path, **kw) -> ImageFolderDataModule:
    args = dict(data_dir=str(root), folder="imgs", target_size=(2, 3), input_shape=(1, 2, 3), color_mode="grayscale",
                cache_dir=None, workers=1)
    return ImageFolderDataModule(**{**args, **kw})


def write_tree(root: Path, image: Image.Image, classes: tuple[str, ...] = ("a", "b")) -> None:
    for split in ("train", "validation"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            image.save(root / split / name / "img.png")


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_16bit_png_decodes_to_its_8bit_values_in_training(tmp_path: Path, color_mode: str) -> None:
    values = np.array([[0, 16384, 65535], [257, 32896, 65278]], dtype=np.uint16)
    write_tree(tmp_path / "imgs", Image.fromarray(values))
    assert Image.open(tmp_path / "imgs" / "train" / "a" / "img.png").mode == "I;16"
    channels = 1 if color_mode == "grayscale" else 3
    dm = image_dm(tmp_path, color_mode=color_mode, input_shape=(channels, 2, 3))
    dm.setup()
    x = dm.splits["train"][0]
    assert x.shape == (2, channels, 2, 3)
    expected = torch.tensor([[0, 64, 255], [1, 128, 254]], dtype=torch.uint8)
    assert (x.int() - expected.int()).abs().max() <= 1  # not 255 everywhere, as PIL's convert clips


def test_images_with_other_depths_and_alpha_scale_and_composite_onto_black() -> None:
    png16 = Image.fromarray(np.array([[0, 16384, 65535]], dtype=np.uint16))
    cases = {"I;16": png16, "I": png16.convert("I"),  # mode 'I' as older Pillow opens a 16-bit PNG
             "I;16B": Image.frombytes("I;16B", (3, 1), np.array([0, 16384, 65535], dtype=">u2").tobytes()),
             "F": Image.fromarray(np.array([[0.0, 0.25, 1.5]], dtype=np.float32))}  # floats: [0, 1], clipped
    for mode, img in cases.items():
        assert img.mode == mode
        assert np.asarray(to_8bit(img, "L")).tolist() == [[0, 64, 255]], mode
    la = Image.fromarray(np.array([[[200, 0], [200, 128], [200, 255]]], dtype=np.uint8), "LA")
    assert np.abs(np.asarray(to_8bit(la, "L")).astype(int) - [[0, 100, 200]]).max() <= 1
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 255, 255, 10, 20, 30])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0  # index 0 (white) is transparent
    assert np.asarray(to_8bit(palette, "RGB")).tolist() == [[[0, 0, 0], [10, 20, 30]]]


def test_empty_class_folder_is_named_in_a_warning_and_recorded(tmp_path: Path) -> None:
    write_tree(tmp_path / "imgs", Image.new("L", (3, 2), 90))
    empty = tmp_path / "imgs" / "train" / "b"
    for f in empty.iterdir():
        f.unlink()
    (empty / "readme.txt").write_text("no images here")
    dm = image_dm(tmp_path)
    with pytest.warns(UserWarning) as record:
        dm.setup()
    named = [str(w.message) for w in record if "class folder" in str(w.message)]
    assert named == [f"class folder {empty} has no images: class 'b' (index 1) gets no train samples"]
    assert dm.data_warnings[0] == named[0]
    assert "readme.txt" in dm.data_warnings[-1]  # skipped files are recorded too
    assert dm.splits["train"][1].tolist() == [0]


def test_looping_symlinks_are_named_and_do_not_hang_the_scan(tmp_path: Path) -> None:
    write_tree(tmp_path / "imgs", Image.new("L", (3, 2), 90))
    cats = tmp_path / "imgs" / "train" / "a"
    (cats / "loop").symlink_to(cats, target_is_directory=True)  # a folder that contains itself
    (cats / "self").symlink_to(cats / "self")  # ELOOP
    (tmp_path / "more").mkdir()
    Image.new("L", (3, 2), 30).save(tmp_path / "more" / "extra.png")
    (cats / "more").symlink_to(tmp_path / "more", target_is_directory=True)  # an ordinary linked folder: followed
    found: list = []
    scan = threading.Thread(target=lambda: found.append(walk_files(cats, [])), daemon=True)
    scan.start()
    scan.join(timeout=10)
    assert not scan.is_alive(), "the scan of a looping symlink did not finish"
    dm = image_dm(tmp_path)
    with pytest.warns(UserWarning) as record:
        dm.setup()
    assert f"symlink {cats / 'loop'} points to {cats}, a folder above it (a loop): not followed" in [
        str(w.message) for w in record]
    assert sorted(w.split()[1] for w in dm.data_warnings) == [str(cats / "loop"), str(cats / "self")]
    assert dm.splits["train"][1].tolist() == [0, 0, 1]  # img.png and more/extra.png of class a, img.png of b
