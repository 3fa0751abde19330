"""A run's console: Lightning kept quiet, and what the console shows also kept in the run's `train.log`.

`run_console(run_dir, verbose)` wraps one training run. Inside it stdout and stderr (so prints, Python
warnings and Lightning's log records) go to the terminal and to `run_dir/train.log`, which a resumed run
appends to. The progress bar's live line is drawn on the terminal only (`draw_live`), so the log holds the
permanent lines a person read, not the redraws. Everything is restored on exit: tests run many trainings
in one process.
"""
from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

# Known harmless warnings, by the start of their message (regexes); any other warning still shows.
HARMLESS_WARNINGS = (
    r".*does not have many workers",  # the data lives in memory: worker processes would only add overhead
    r"The number of training batches \(\d+\) is smaller than the logging interval",  # small data sets
    r"Checkpoint directory .* exists and is not empty",  # a resume writes into the run it resumes
    r"GPU available but not used",  # the user chose trainer.accelerator=cpu
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning 2.6 on torch 2.9+, not ours to fix
)
# At INFO these print banners ("GPU available: ...", "LOCAL_RANK: ...") and adverts ("💡 Tip: ... litlogger").
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CLEAR_LINE = "\r\x1b[K"


class _Tee:
    """A stdout/stderr stand-in: text goes to the terminal and, without redraws or colours, to train.log."""

    def __init__(self, terminal: TextIO, log: TextIO) -> None:
        self.terminal, self._log, self._partial = terminal, log, ""

    def write(self, text: str) -> int:
        if text:
            clear_live()  # the live line is redrawn at its next refresh, below this text
            self.terminal.write(text)
            self.write_log(text)
        return len(text)

    def write_log(self, text: str) -> None:
        """Log complete lines only; a line's `\\r` redraws keep their last state, as a terminal shows it."""
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._log.write(_ANSI.sub("", line).rstrip("\r").rsplit("\r", 1)[-1] + "\n")
        if lines:
            self._log.flush()

    def close_line(self) -> None:
        if self._partial:
            self.write_log("\n")

    def flush(self) -> None:
        self.terminal.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def __getattr__(self, name: str) -> object:
        return getattr(self.terminal, name)  # encoding, fileno, ...: the terminal's


class _Console:
    """The state of the active `run_console` (None outside one) and of the live line."""

    out: _Tee | None = None
    path: Path | None = None
    live_shown = False


def terminal() -> TextIO:
    """Where the console's text appears, without the train.log copy."""
    return _Console.out.terminal if _Console.out else sys.stdout


def is_interactive() -> bool:
    """A terminal that can redraw a line (not a pipe, file or CI log)."""
    isatty = getattr(terminal(), "isatty", None)
    return bool(isatty and isatty())


def draw_live(text: str) -> None:
    """Redraw the one live line (a progress bar) in place, on the terminal only."""
    out = terminal()
    out.write("\r" + text + "\x1b[K")
    out.flush()
    _Console.live_shown = True


def clear_live() -> None:
    """Erase the live line, so other text starts at the line's beginning."""
    if _Console.live_shown:
        _Console.live_shown = False
        terminal().write(_CLEAR_LINE)


def end_live() -> None:
    """Keep the live line as it is and move below it (an interrupted epoch)."""
    if _Console.live_shown:
        _Console.live_shown = False
        terminal().write("\n")
        terminal().flush()


@contextmanager
def phase(label: str) -> Iterator[None]:
    """`label ... 3.2s` for a step outside the epochs (testing, end-of-fit pictures): no silent minute. The
    label is printed (and flushed) when the step starts, its time when it ends."""
    import time

    clear_live()
    print(f"{label} ...", end="", flush=True)
    start = time.perf_counter()
    try:
        yield
    finally:
        print(f" {time.perf_counter() - start:.1f}s", flush=True)


def write_line(shown: str, logged: str | None = None) -> None:
    """A permanent line: `shown` on the terminal (fitted to its width), `logged` (default: the same) in train.log."""
    clear_live()
    out = terminal()
    out.write(shown + "\n")
    out.flush()
    if _Console.out:
        _Console.out.write_log((shown if logged is None else logged) + "\n")


@contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Lightning's records to our stderr; unless verbose, Lightning's loggers at WARNING and the known harmless
    warnings ignored. Restored on exit. (Python shows warnings on sys.stderr, our tee, by itself.)"""
    import pytorch_lightning  # noqa: F401 - it configures its loggers when first imported: do that before we do

    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    saved = [(lg.handlers, lg.propagate, lg.level) for lg in loggers]
    # Lightning's own handler holds the stderr of its import time, or there is none and records go to whatever
    # the root logger has (Hydra's, pytest's): one handler on our stderr puts them on the console and in train.log
    for lg in loggers:
        lg.handlers, lg.propagate = [logging.StreamHandler(sys.stderr)], False
        lg.setLevel(lg.level if verbose else logging.WARNING)
    saved_format = warnings.formatwarning
    with warnings.catch_warnings():
        if not verbose:
            for message in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            # people read the message, not the source line of our code that raised it
            warnings.formatwarning = lambda message, category, *_a, **_k: f"{category.__name__}: {message}\n"
        try:
            yield
        finally:
            warnings.formatwarning = saved_format
            for lg, (handlers, propagate, level) in zip(loggers, saved):
                lg.handlers, lg.propagate = handlers, propagate
                lg.setLevel(level)


@contextmanager
def run_console(run_dir: Path, verbose: bool = False) -> Iterator[None]:
    """Quiet Lightning (unless `verbose`) and tee stdout/stderr into `run_dir/train.log` (appended) while inside."""
    path = (Path(run_dir) / "train.log").resolve()
    if _Console.out and _Console.path == path:  # already teed into this log (a caller wrapped train())
        with quiet_lightning(verbose):
            yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    resumed = path.is_file() and path.stat().st_size > 0
    saved = sys.stdout, sys.stderr, _Console.out, _Console.path, _Console.live_shown
    with path.open("a", encoding="utf-8") as log:
        if resumed:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')}: continued ---\n")
        out, err = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        sys.stdout, sys.stderr, _Console.out, _Console.path, _Console.live_shown = out, err, out, path, False
        try:
            with quiet_lightning(verbose):
                yield
        except BaseException as error:
            # the traceback reaches the terminal when the exception propagates; train.log gets it here
            # (for Ctrl-C only its name: where the interrupt landed is not worth a page of Lightning frames)
            end_live()
            interrupted = not isinstance(error, Exception)
            err.write_log("".join(traceback.format_exception_only(error) if interrupted else traceback.format_exc()))
            raise
        finally:
            end_live()
            out.close_line()
            err.close_line()
            sys.stdout.flush()
            sys.stdout, sys.stderr, _Console.out, _Console.path, _Console.live_shown = saved


def print_closing(run: dict[str, Any], log_root: Path) -> None:
    """The end summary: best epoch, test of the checkpoint tested, last epoch only when labelled as such."""
    m = run["metrics"]
    best = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items() if k.startswith("best/val_"))
    test = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items() if k.startswith("test/"))
    last = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items()
                      if k.startswith("last/") and k != "last/epoch")
    partial = run.get("partial_epoch")
    print()
    if run["best_epoch"] is not None:
        print(f"Best epoch {run['best_epoch']}/{run['epochs']}:  {best}")
    if test:
        print(f"Test ({'best checkpoint' if run.get('test_model') == 'best' else 'last weights'}): {test}")
    if last and m.get("last/epoch") != run["best_epoch"]:
        cut = f" (partial: {partial['steps']} of {partial['of']} steps)" if partial else ""
        print(f"Last epoch {m['last/epoch']}{cut}:  {last}")
    if stop := run.get("stopped_early"):
        print(f"Stopped early at epoch {stop['epoch']}: {stop['monitor']} did not improve for {stop['patience']} "
              f"epochs (its best: epoch {stop['best_epoch']}).")
    for warning in run.get("warnings", []):
        print(f"Warning: {warning}")
    total = f" ({run['wall_seconds']:.1f}s in all)" if run["resumes"] else ""
    print(f"Trained {run['epochs']} epochs: {run['session_seconds']:.1f}s this session{total} ({run['precision']}).")
    print(f"Run directory:   {run['run_dir']}")
    names = ("results.json", "history.csv", "train.log", "learning_curves.png", "checkpoints", "visualizations")
    present = [n + "/" * (n in ("checkpoints", "visualizations")) for n in names if (Path(run["run_dir"]) / n).exists()]
    print("                 " + ", ".join(present))
    print(f"Compare runs:    tensorboard --logdir {log_root}   (this experiment's runs and sweeps)")
