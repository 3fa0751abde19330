"""`litzoo-predict RUN_DIR|CKPT INPUT... [--out FILE]`: the run's model on new images, CSV rows, texts or a series.

Inputs are read with the run's own preprocessing; predictions.csv holds the predicted class and each class's
probability in training order (or the forecast), written beside the inputs unless --out says otherwise
(litzoo.infer.predict; docs/predict.md). The checkpoint is read as litzoo-eval reads it (weights_only, trusted
targets only).
"""
from __future__ import annotations

import argparse

from litzoo.cli import add_allow_target, cli_run
from litzoo.run.console import quiet_lightning


def main(argv: list[str] | None = None) -> None:
    from litzoo.infer.predict import predict

    parser = argparse.ArgumentParser(prog="litzoo-predict", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a run directory or a .ckpt file")
    parser.add_argument("inputs", nargs="+", help="image files or folders, digit CSVs, text files or folders, or one "
                        "measurement CSV, as the run's data source reads them")
    parser.add_argument("--out", help="the CSV to write (or a folder for predictions.csv); default: "
                        "predictions.csv beside the first input, never over an earlier one")
    parser.add_argument("--batch-size", type=int, default=None, help="inputs per batch (default: the run's "
                        "evaluation batch size)")
    parser.add_argument("--verbose", action="store_true", help="the full traceback of an error")
    add_allow_target(parser)
    args = parser.parse_args(argv)
    with quiet_lightning(args.verbose):
        cli_run(lambda: predict(args.checkpoint, args.inputs, args.out, tuple(args.allow_target), args.batch_size),
                args.verbose)


if __name__ == "__main__":
    main()
