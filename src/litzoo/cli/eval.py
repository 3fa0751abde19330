"""`litzoo-eval RUN_DIR|CKPT [key=value ...]`: test a checkpoint with the config stored inside it.

The checkpoint is untrusted input: it is read with `weights_only=True`, and the model is rebuilt from
the config the checkpoint carries (overrides such as `paths.data_dir=...` apply on top).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from litzoo.cli import add_allow_target, cli_run
from litzoo.run.build import rebuild_run
from litzoo.run.console import quiet_lightning


def evaluate(ckpt_path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    """Rebuild data and model from the checkpoint's config, load its weights, run the test split."""
    from pytorch_lightning import Trainer

    cfg, datamodule, task, _, _ = rebuild_run(ckpt_path, overrides, allow)
    trainer = Trainer(accelerator=cfg.trainer.get("accelerator", "auto"), devices=1, logger=False,
                      enable_checkpointing=False)
    return {k: float(v) for k, v in trainer.test(task, datamodule=datamodule, verbose=False)[0].items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litzoo-eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a .ckpt file or a run directory")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. paths.data_dir=../shared/data")
    add_allow_target(parser)
    args = parser.parse_args(argv)
    verbose = "verbose=true" in args.overrides
    with quiet_lightning(verbose):
        metrics = cli_run(lambda: evaluate(args.checkpoint, args.overrides, tuple(args.allow_target)), verbose)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
