"""`litzoo-predict`: a run's model on new inputs, written to predictions.csv.

A classifier's rows: the input, the predicted class and the probability of each class, in the model's training
order (columns `p_<class>`); a series model's row: the forecast in the target's own units. The file goes where
`--out` says, by default beside the (first) input, never into the run folder (the run's record stays the run's),
and never over an earlier predictions.csv unless `--out` names it.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import torch

from litzoo.errors import LitzooError
from litzoo.infer.inputs import Inputs, reader
from litzoo.infer.runs import LoadedRun, free_path, load_run

SHOWN_ROWS = 10


def rows_of(run: LoadedRun, got: Inputs, out: torch.Tensor) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of predictions.csv."""
    from litzoo.heads import class_probabilities

    if not run.is_classifier:
        stats, t_col = run.facts["stats"], run.datamodule.columns.index(run.datamodule.target)
        value = out.flatten() * stats["std"][t_col] + stats["mean"][t_col]  # back to the target's own units
        return ["input", f"forecast {run.datamodule.target}"], [[n, f"{v:.6g}"] for n, v in zip(got.names, value)]
    names = run.class_names or [str(i) for i in range(run.task.num_classes)]
    probs = class_probabilities(out)
    header = ["input", "predicted", *(f"p_{n}" for n in names)]
    return header, [[name, names[int(p.argmax())], *(f"{v:.6f}" for v in p.tolist())]
                    for name, p in zip(got.names, probs)]


def output_path(out: str | None, inputs: list[Path], run_dir: Path) -> Path:
    """--out (a file, or a folder for predictions.csv), else predictions.csv beside the first input; never in the
    run folder."""
    if out:
        path = Path(out).expanduser()
        path = path / "predictions.csv" if path.is_dir() else path
    else:
        first = inputs[0].expanduser().absolute()
        path = free_path(first.parent / "predictions.csv")
    if path.absolute().resolve().is_relative_to(run_dir.absolute().resolve()):
        raise LitzooError(f"predictions go outside the run folder (it holds the run's own record): {path} is inside "
                          f"{run_dir}. Give --out <file or folder> elsewhere. Nothing was predicted.")
    return path


def predict(run_path: str | Path, inputs: list[str], out: str | None = None, allow: tuple[str, ...] = (),
            batch_size: int | None = None) -> Path:
    """Predict `inputs` with the run's model; returns the CSV written."""
    from litzoo.run.atomic import atomic_write_text

    paths = [Path(p) for p in inputs]
    run = load_run(run_path, [], allow)
    target = output_path(out, paths, run.run_dir)
    got = reader(run)(run, paths)
    for line in got.warnings:
        print(f"Warning: {line}", file=sys.stderr)
    if not got.names:
        raise LitzooError(f"Nothing to predict in {', '.join(inputs)}: no input of the kind this run reads. "
                          "Nothing was written.")
    outputs, _ = run.outputs(got.dataset, batch_size)
    header, rows = rows_of(run, got, outputs)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    atomic_write_text(target, text.getvalue())
    _show(header, rows, target)
    return target


def _show(header: list[str], rows: list[list[str]], target: Path) -> None:
    shown = [header, *rows[:SHOWN_ROWS]]
    shown = [[cell if len(cell) <= 48 else "..." + cell[-45:] for cell in row] for row in shown]
    widths = [max(len(row[i]) for row in shown) for i in range(len(header))]
    for row in shown:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    more = f" (the first {SHOWN_ROWS} shown)" if len(rows) > SHOWN_ROWS else ""
    print(f"Wrote {len(rows):,} prediction(s) to {target}{more}")
