"""`litzoo-eval RUN_DIR|CKPT [key=value ...]`: test a checkpoint with the config stored inside it.

The checkpoint is untrusted input: it is read with `weights_only=True`, and the model is rebuilt from
the config the checkpoint carries (overrides such as `paths.data_dir=...` apply on top).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from litzoo.config import load_checkpoint, stored_config


def evaluate(ckpt_path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Rebuild data and model from the checkpoint's config, load its weights, run the test split."""
    from pytorch_lightning import Trainer

    state, ckpt_file = load_checkpoint(ckpt_path)
    run_dir = ckpt_file.parent.parent if ckpt_file.parent.name == "checkpoints" else ckpt_file.parent
    cfg = stored_config(state, run_dir, overrides)
    print(f"Evaluating {ckpt_file}")
    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))
    task.load_state_dict(state["state_dict"])
    trainer = Trainer(accelerator=cfg.trainer.get("accelerator", "auto"), devices=1, logger=False,
                      enable_checkpointing=False)
    return {k: float(v) for k, v in trainer.test(task, datamodule=datamodule, verbose=False)[0].items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="litzoo-eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a .ckpt file or a run directory")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. paths.data_dir=../shared/data")
    args = parser.parse_args()
    metrics = evaluate(args.checkpoint, args.overrides)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
