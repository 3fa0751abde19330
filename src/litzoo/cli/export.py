"""`litzoo-export RUN_DIR|CKPT --format onnx|torchscript [--out DIR] [--force]`: the model for deployment.

Writes model.onnx (or model.pt) and model.json (input shape, layout, scaling, class names) into
`<run>/export/<format>/` or --out, and checks the file against eager PyTorch on a batch of real inputs (litzoo.infer.export;
docs/predict.md). ONNX needs the optional extra: pip install 'litzoo[export]'.
"""
from __future__ import annotations

import argparse

from litzoo.cli import add_allow_target, cli_run
from litzoo.run.console import quiet_lightning


def main(argv: list[str] | None = None) -> None:
    from litzoo.infer.export import FORMATS, export_run

    parser = argparse.ArgumentParser(prog="litzoo-export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a run directory or a .ckpt file")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="onnx (needs litzoo[export]) or "
                        "torchscript")
    parser.add_argument("--out", help="the folder to write into (default: <run>/export/<format>/)")
    parser.add_argument("--force", action="store_true", help="replace an earlier export in that folder")
    parser.add_argument("--verbose", action="store_true", help="the full traceback of an error")
    add_allow_target(parser)
    args = parser.parse_args(argv)
    with quiet_lightning(args.verbose):
        cli_run(lambda: export_run(args.checkpoint, args.format, args.out, args.force, tuple(args.allow_target)),
                args.verbose)


if __name__ == "__main__":
    main()
