"""litzoo-eval on any folder, classes mapped by name (issue 20): one 3-class PNG run, trained once for the module,
evaluated on generated folders renamed in case, missing or adding a class, holding only test/, non-ASCII names."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from fakedata_images import CLASSES, write_stripes

from litzoo.cli import eval as eval_cli
from litzoo.run.compose import compose_config
from litzoo.run.fit import train


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("image_run")
    write_stripes(tmp / "shapes", n=24)
    cfg = compose_config([f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/run", "trainer.accelerator=cpu",
                          "data=image_folder", "model=datacamp_conv", f"data.folder={tmp / 'shapes'}",
                          "data.target_size=[16,16]", "data.num_classes=3", "trainer.max_epochs=2", "logger=none",
                          "callbacks=minimal", "optimizer=adam", "optimizer.lr=0.01"])
    train(cfg)
    return tmp / "run"


def _eval(run: Path, *args: str) -> dict:
    from litzoo.cli.eval import evaluate

    return evaluate(run, list(args))


def test_the_class_order_is_stored_in_the_checkpoint_and_the_record(image_run: Path) -> None:
    assert json.loads((image_run / "results.json").read_text())["classes"] == list(CLASSES)
    state = torch.load(image_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["data_facts"]["class_names"] == list(CLASSES)


def test_a_folder_renamed_in_case_scores_as_the_original(image_run: Path, tmp_path: Path, capsys) -> None:
    original = write_stripes(tmp_path / "new", seed=1)
    renamed = tmp_path / "renamed"
    shutil.copytree(original, renamed)
    (renamed / "Ankle_boot").rename(renamed / "ankle-boot")  # sorts after café now: by position it would be wrong
    (renamed / "café").rename(renamed / "Café")
    first = _eval(image_run, f"data.folder={original}")
    second = _eval(image_run, f"data.folder={renamed}")
    assert second == pytest.approx(first) and first["test/acc"] > 0.9
    captured = capsys.readouterr()
    assert "'ankle-boot' -> 'Ankle_boot'" in captured.err and "'Café' -> 'café'" in captured.err
    assert "Evaluated 24 examples" in captured.out and "café" in captured.out  # size and per-class rows
    written = sorted(p.name for p in image_run.glob("eval_*.json"))
    assert "eval_new_all.json" in written and "eval_renamed_all.json" in written
    record = json.loads((image_run / "eval_renamed_all.json").read_text(encoding="utf-8"))
    assert record["size"] == 24 and set(record["per_class"]) == set(CLASSES)


@pytest.mark.parametrize("classes, words", [(CLASSES[:2], "no class folder for 'zebra'"),
                                            ((*CLASSES, "lion"), "does not know 'lion'")])
def test_a_missing_or_an_extra_class_is_refused(image_run: Path, tmp_path: Path, capsys, classes, words) -> None:
    folder = write_stripes(tmp_path / "other", classes, n=2)
    with pytest.raises(SystemExit) as stopped:
        eval_cli.main([str(image_run), f"data.folder={folder}"])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and words in err and "Nothing was evaluated" in err
    assert "'Ankle_boot', 'café', 'zebra'" in err and "Traceback" not in err  # both sets, one paragraph


def test_a_folder_with_only_test_is_evaluated_and_never_overwrites(image_run: Path, tmp_path: Path, capsys) -> None:
    write_stripes(tmp_path / "holdout" / "test", n=3, seed=2)
    before = {p.name: p.read_bytes() for p in image_run.iterdir() if p.is_file()}
    metrics = _eval(image_run, f"data.folder={tmp_path / 'holdout'}")
    again = _eval(image_run, f"data.folder={tmp_path / 'holdout'}")
    assert metrics == again and "Evaluated 9 examples" in capsys.readouterr().out
    assert (image_run / "eval_holdout_test.json").is_file() and (image_run / "eval_holdout_test_2.json").is_file()
    assert all((image_run / name).read_bytes() == data for name, data in before.items())  # the run's own records


def test_the_run_own_test_split_by_default(image_run: Path) -> None:
    results = json.loads((image_run / "results.json").read_text())
    assert _eval(image_run)["test/acc"] == pytest.approx(results["metrics"]["test/acc"], abs=1e-6)


def test_pictures_draw_non_ascii_class_names() -> None:
    from litzoo.visual import draw

    def glyph(text: str) -> bytes:
        return bytes(draw.font(12).getmask(text))

    missing = glyph("\U000f0000")  # a private-use code point: the font's empty box
    assert glyph("é") != missing and glyph("Ё") != missing and glyph("é") != glyph("e")


def test_evaluating_the_training_folder_says_it_is_not_a_test(image_run: Path, capsys) -> None:
    """`data.folder=` the run's own folder (no split folders): `auto` evaluates all of it, training images
    included; that is said, in the record and on the console."""
    from litzoo.infer.evaluate import evaluate_run

    trained = image_run.parent / "shapes"
    record = evaluate_run(image_run, [f"data.folder={trained}"])
    assert record["split"] == "all" and any("includes the images this run trained on" in w for w in record["warnings"])
    assert "includes the images this run trained on" in capsys.readouterr().err
    elsewhere = evaluate_run(image_run, [f"data.folder={write_stripes(image_run.parent / 'other', seed=3)}"])
    assert not any("trained on" in w for w in elsewhere["warnings"])
