"""`litzoo-eval RUN_DIR|CKPT [key=value ...] [split=auto|all|test|validation|train]`: test a checkpoint with the
config stored inside it, on its own test split or on any folder (`data.folder=<folder>`: all of it, or its test/).

The checkpoint is untrusted input: it is read with `weights_only=True`, and the model is rebuilt from
the config the checkpoint carries (overrides such as `paths.data_dir=...` apply on top). The size of the set,
its metrics and the per-class accuracy are printed and written to `eval_<name>.json` in the run folder
(litzoo.infer.evaluate; docs/predict.md).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from litzoo.cli import add_allow_target, cli_run, own_options
from litzoo.run.console import quiet_lightning


def evaluate(ckpt_path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = ()
             ) -> dict[str, float]:
    """The metrics (`test/loss`, `test/acc` or `test/mae`) of the checkpoint on the examples `split=` names."""
    from litzoo.infer.evaluate import evaluate_run

    options, rest = own_options(list(overrides or []), ["split"])
    return evaluate_run(ckpt_path, rest, allow, options.get("split", "auto"))["metrics"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litzoo-eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a .ckpt file or a run directory")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. paths.data_dir=../shared/data or "
                        "data.folder=/new/images; split=all|test|validation|train (default auto)")
    add_allow_target(parser)
    args = parser.parse_args(argv)
    verbose = "verbose=true" in args.overrides
    with quiet_lightning(verbose):
        metrics: Any = cli_run(lambda: evaluate(args.checkpoint, args.overrides, tuple(args.allow_target)), verbose)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
