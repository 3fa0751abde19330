"""The console a person sees (Keras' epoch lines, no banners, no redraws when piped) and the run's record of it:
train.log, learning_curves.png and TensorBoard's custom-scalars layout. Real `train(cfg)` on the bundled digits."""
from __future__ import annotations

import io
import logging
import re
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2

from litzoo.callbacks.curves import plot_learning_curves, tensorboard_layout
from litzoo.callbacks.history import epoch_values
from litzoo.callbacks.progress import epoch_lines, format_duration, format_step_time, keras_line
from litzoo.run.console import draw_live, run_console
from litzoo.run.fit import train

EPOCH_LINE = re.compile(r"^Epoch (\d+)/3  18/18 .* - acc: [\d.]+ - loss: [\d.]+ - val_acc: [\d.]+ - val_loss: [\d.]+$")
BANNERS = ("GPU available", "TPU available", "HPU available", "LOCAL_RANK", "💡", "litlogger", "litmodels",
           "You are using a CUDA device", "does not have many workers", "`Trainer.fit` stopped")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTerminal(io.StringIO):
    """A stdout that says it is a terminal, so the progress bar redraws in place."""

    def isatty(self) -> bool:
        return True


def show_as_python_does(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                        file: object = None, line: str | None = None) -> None:
    """Python's own display of a warning (on sys.stderr), in place of pytest's recording."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """3 epochs of the default experiment with stdout/stderr captured (not a TTY), as CI or nohup see them."""
    from litzoo.run.compose import compose_config

    root = tmp_path_factory.mktemp("console")
    cfg = compose_config([f"paths.root_dir={root}", f"paths.output_dir={root}/run", "trainer.accelerator=cpu",
                          "trainer.max_epochs=3"])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        train(cfg)
    return {"out": out.getvalue(), "err": err.getvalue(), "dir": root / "run"}


def test_piped_output_has_one_keras_line_per_epoch_and_no_banner(piped: dict) -> None:
    shown = piped["out"] + piped["err"]
    epochs = [m.group(1) for line in shown.splitlines() if (m := EPOCH_LINE.match(line))]
    assert epochs == ["1", "2", "3"], shown
    assert len(re.findall(r"Epoch \d+/3", shown)) == 3  # no progress lines, no validation or test bar
    assert "\r" not in shown and "\x1b" not in shown
    assert not [b for b in BANNERS if b in shown], shown


def test_train_log_keeps_what_the_console_showed(piped: dict) -> None:
    log = (piped["dir"] / "train.log").read_text()
    shown = [line for line in (piped["out"] + piped["err"]).splitlines() if line.strip()]
    logged = [line for line in log.splitlines() if line.strip()]
    assert shown == logged
    assert len([line for line in logged if EPOCH_LINE.match(line)]) == 3
    assert "Total params: 93,322" in log  # the model summary


def test_learning_curves_png(piped: dict) -> None:
    image = imread(piped["dir"] / "learning_curves.png")
    assert image.shape[0] >= 64 and image.shape[1] >= 64


def test_tensorboard_custom_scalars_layout(piped: dict) -> None:
    events = EventAccumulator(str(piped["dir"]), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    proto = events.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    charts = {c.title: list(c.multiline.tag) for cat in layout_pb2.Layout.FromString(proto).category
              for c in cat.chart}
    assert charts == {"loss": ["^train/loss$", "^val/loss$"], "accuracy": ["^train/acc$", "^val/acc$"]}
    scalars = set(events.Tags()["scalars"])
    for regexes in charts.values():  # every line of every chart finds its one scalar
        assert all(len([t for t in scalars if re.match(r, t)]) == 1 for r in regexes), (regexes, scalars)


def test_regression_curves_show_the_baseline(tmp_path: Path) -> None:
    rows = [{"epoch": e, "loss": 1 / e, "mae": 2 / e, "val_loss": 1.2 / e, "val_mae": 2.2 / e,
             "val_baseline_mae": 2.5, "lr": 1e-3, "seconds": 1.0} for e in (1, 2, 3)]
    plot_learning_curves(rows, tmp_path / "curves.png")
    height, width = imread(tmp_path / "curves.png").shape[:2]
    assert height >= 64 and width > height  # two charts side by side
    chart = tensorboard_layout("mae")["Learning curves"]["MAE"]
    assert chart == ["Multiline", ["^train/mae$", "^val/mae$", "^val/baseline_mae$"]]


def test_terminal_redraws_live_line_and_log_keeps_final_lines(make_cfg, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the whole epoch line
    cfg = make_cfg("trainer.max_epochs=2", "+trainer.limit_train_batches=6", "callbacks.progress_bar.refresh_s=0",
                   "test=false", "logger=none", "callbacks=minimal")
    terminal = FakeTerminal()
    with redirect_stdout(terminal), redirect_stderr(terminal):
        train(cfg)
    screen = terminal.getvalue()
    assert "\rEpoch 1/2  3/6 " in screen  # a live redraw in place, every step with refresh_s=0
    lines = [ANSI.sub("", line).rsplit("\r", 1)[-1] for line in screen.split("\n")]
    final = [line for line in lines if line.startswith("Epoch")]
    assert [line.split()[1] for line in final] == ["1/2", "2/2"] and all("val_loss" in line for line in final)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "\r" not in log and "\x1b" not in log
    assert [line for line in log.splitlines() if line.startswith("Epoch")] == final


def test_piped_progress_lines_in_long_epochs(make_cfg) -> None:
    cfg = make_cfg("trainer.max_epochs=1", "+trainer.limit_train_batches=4", "callbacks.progress_bar.log_every_s=0",
                   "test=false", "logger=none", "callbacks=minimal")
    out = io.StringIO()
    with redirect_stdout(out):
        train(cfg)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("Epoch 1/1")]
    assert [line.split()[2] for line in lines] == ["1/4", "2/4", "3/4", "4/4", "4/4"]  # 4 progress + the epoch
    assert "\r" not in out.getvalue() and "val_loss" in lines[-1] and "─" in lines[0]


def test_resumed_run_appends_to_train_log(make_cfg, tmp_path: Path) -> None:
    quick = ["+trainer.limit_train_batches=3", "test=false", "logger=none", "callbacks=minimal"]
    with redirect_stdout(io.StringIO()):
        train(make_cfg("trainer.max_epochs=1", *quick))
        train(make_cfg("trainer.max_epochs=2", f"ckpt_path={tmp_path / 'run'}", *quick))
    log = (tmp_path / "run" / "train.log").read_text().splitlines()
    epochs = [line.split()[1] for line in log if line.startswith("Epoch")]
    continued = [i for i, line in enumerate(log) if line.endswith(": continued ---")]
    assert epochs == ["1/1", "2/2"] and len(continued) == 1
    assert log.index(next(line for line in log if line.startswith("Epoch 2/2"))) > continued[0]


def test_quiet_filters_known_warnings_by_message_only(tmp_path: Path) -> None:
    err, harmless = io.StringIO(), "The 'train_dataloader' does not have many workers which may be a bottleneck."
    rank_zero = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with redirect_stderr(err), warnings.catch_warnings():
        warnings.resetwarnings()  # Python's own defaults, not pyproject's pytest filters
        warnings.simplefilter("default")
        warnings.showwarning = show_as_python_does
        for verbose in (False, True):
            with run_console(tmp_path, verbose=verbose):
                for message in (harmless, f"a new warning, verbose={verbose}"):
                    warnings.warn(message)
                rank_zero.info(f"GPU available: False, used: False (verbose={verbose})")
    shown, log = err.getvalue(), (tmp_path / "train.log").read_text()
    for text in (shown, log):
        assert "a new warning, verbose=False" in text and "a new warning, verbose=True" in text
        assert text.count("does not have many workers") == 1 and "(verbose=True)" in text
        assert "(verbose=False)" not in text
    assert "--- " in log and "continued ---" in log  # the second session appended


def test_run_console_restores_everything(tmp_path: Path) -> None:
    streams, filters = (sys.stdout, sys.stderr), list(warnings.filters)
    levels = {n: logging.getLogger(n).level for n in ("pytorch_lightning", "lightning_fabric")}
    with pytest.raises(RuntimeError), redirect_stdout(io.StringIO()):
        with run_console(tmp_path):
            print("before the error")
            raise RuntimeError("boom: the run failed")
    assert (sys.stdout, sys.stderr) == streams and warnings.filters == filters
    assert levels == {n: logging.getLogger(n).level for n in levels}
    log = (tmp_path / "train.log").read_text()
    assert "before the error" in log and "RuntimeError: boom: the run failed" in log


def test_live_line_is_not_logged_and_is_cleared_before_other_text(tmp_path: Path) -> None:
    terminal = FakeTerminal()
    with redirect_stdout(terminal), run_console(tmp_path):
        draw_live("Epoch 1/3   4/18 ━━━━")
        print("a warning in the middle of an epoch")
    assert terminal.getvalue() == "\rEpoch 1/3   4/18 ━━━━\x1b[K\r\x1b[Ka warning in the middle of an epoch\n"
    assert (tmp_path / "train.log").read_text() == "a warning in the middle of an epoch\n"


def test_keras_line_format() -> None:
    metrics = {"acc": 0.97, "loss": 0.09}
    assert keras_line("Epoch 3/30", 12, 18, 0.4, 0.041, metrics) == \
        "Epoch 3/30  12/18 ━━━━━━━━━━━━━─────── 0s 41ms/step - acc: 0.9700 - loss: 0.0900"
    assert keras_line("Epoch 3", 7, float("inf"), 65, 2.5, {"mae": 0.0005}) == \
        "Epoch 3  7 1:05 2s/step - mae: 5.0000e-04"
    assert [format_duration(s) for s in (0.9, 59, 61, 3723)] == ["0s", "59s", "1:01", "1:02:03"]
    assert [format_step_time(s) for s in (2.0, 0.041, 0.00085)] == ["2s/step", "41ms/step", "850us/step"]
    logged = {k: torch.tensor(v) for k, v in
              {"val/loss": 0.5, "train/loss_step": 9.0, "val/acc": 0.8, "train/loss": 0.4, "train/acc": 0.9}.items()}
    assert list(epoch_values(logged, validated=True)) == ["acc", "loss", "val_acc", "val_loss"]
    assert list(epoch_values(logged, validated=False)) == ["acc", "loss"]  # an epoch without validation


@pytest.mark.parametrize("width", [12, 30, 60, 80, 100, 120, 200])
def test_keras_line_fits_narrow_terminals(width: int) -> None:
    metrics = {"acc": 0.97, "loss": 0.09, "val_acc": 0.965, "val_loss": 0.11}
    line = keras_line("Epoch 3/30", 18, 18, 1.2, 0.041, metrics, width=width, color=True)
    visible = ANSI.sub("", line)
    assert len(visible) <= width - 1 and "\n" not in line
    assert visible.startswith("Epoch 3/30"[:width - 2])
    full = keras_line("Epoch 3/30", 18, 18, 1.2, 0.041, metrics)
    if width - 1 >= len(full):
        assert visible == full  # room enough: the whole line, bar included
    elif width >= 100:
        assert visible == full.replace("━" * 20 + " ", "")  # the bar gives way before any metric
    else:
        assert visible.endswith("…")


def test_finished_epoch_keeps_val_metrics_on_a_second_line_when_narrow() -> None:
    metrics = {"acc": 0.97, "loss": 0.09, "val_acc": 0.965, "val_loss": 0.11}
    lines = [ANSI.sub("", line) for line in epoch_lines("Epoch 3/30", 18, 18, 1.2, 0.041, metrics, width=60)]
    assert lines == ["Epoch 3/30  18/18 1s 41ms/step - acc: 0.9700 - loss: 0.0900",
                     "            val_acc: 0.9650 - val_loss: 0.1100"]
    assert len(epoch_lines("Epoch 3/30", 18, 18, 1.2, 0.041, metrics, width=120)) == 1


def test_cli_start_is_quiet_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """Lightning configures its loggers when first imported, which litzoo-train does lazily, inside the
    quiet console: its banners must still not show (in-process tests import Lightning long before)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "litzoo.cli.train", "trainer.max_epochs=1", "callbacks=minimal",
                          "logger=none", f"paths.root_dir={tmp_path}"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    for banner in ("GPU available", "TPU available", "Tip:", "litlogger", "Restoring states", "Loaded model weights"):
        assert banner not in text, banner
    assert "Epoch 1/1" in text and "\r" not in text


def test_warnings_show_the_message_not_our_source_line() -> None:
    from litzoo.run.console import quiet_lightning

    before = warnings.formatwarning
    with quiet_lightning(False):
        text = warnings.formatwarning("skipped 2 files", UserWarning, "base.py", 180, "splits = self.load()")
    assert text == "UserWarning: skipped 2 files\n"
    assert warnings.formatwarning is before  # restored: nothing leaks into the next run or test
