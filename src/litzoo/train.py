"""`litzoo-train`: compose a run from configs, fit, test with the best checkpoint, write results.

    litzoo-train experiment=mnist_convnet optimizer.lr=1e-3
    litzoo-train -m optimizer=adam,rmsprop seed=1,2
    litzoo-train experiment=mnist_convnet ckpt_path=last trainer.max_epochs=10   # resume in place
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from litzoo.checkpoint import AtomicCheckpointIO
from litzoo.config import CONF_DIR, compose_config, register_resolvers, resolve_checkpoint
from litzoo.summary import format_summary

def resolve_precision(accelerator: str | None, precision: str | int | None) -> str | int:
    """bf16-mixed on GPUs that support it, 16-mixed on older GPUs, 32-true on CPU, unless given."""
    if precision is not None:
        return precision
    if accelerator in (None, "auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def hparams_of(cfg: DictConfig) -> dict[str, Any]:
    """Flat scalar hyperparameters for TensorBoard's HPARAMS tab (paths, callbacks, logger left out)."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
        elif isinstance(node, (int, float, str, bool)):
            flat[prefix] = node
        elif node is None:
            flat[prefix] = "None"
        elif isinstance(node, list) and len(str(node)) <= 120:
            flat[prefix] = str(node)

    container = OmegaConf.to_container(cfg, resolve=True)
    walk({k: v for k, v in container.items() if k not in ("paths", "callbacks", "logger")}, "")
    return flat


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule, pl.Trainer]:
    """DataModule, task module (network + optimizer/scheduler partials) and Trainer from the config."""
    datamodule = instantiate(cfg.data)
    if cfg.get("augmentation"):
        datamodule.augment = instantiate(cfg.augmentation)
    net = instantiate(cfg.model)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    task = instantiate(cfg.task, net=net, optimizer=instantiate(cfg.optimizer), scheduler=scheduler)
    # stored in every checkpoint: the resolved config (provenance) and the unresolved one (rebuilds, where
    # `${paths.data_dir}` must still follow a new data location)
    task.save_hyperparameters({"config": OmegaConf.to_container(cfg, resolve=True),
                               "config_unresolved": OmegaConf.to_container(cfg, resolve=False)})
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    if not logger:  # Lightning refuses a learning-rate monitor without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    precision = resolve_precision(cfg.trainer.get("accelerator"), cfg.trainer.get("precision"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger, precision=precision,
                          plugins=[AtomicCheckpointIO()])
    return datamodule, task, trainer


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test with the best checkpoint, log hparams + final metrics; returns what results.json holds."""
    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, task, trainer = build(cfg)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    table = format_summary(task.net, title=cfg.name)
    print(table)
    writer = getattr(trainer.logger, "experiment", None)
    if hasattr(writer, "add_text"):
        writer.add_text("model/summary", "    " + table.replace("\n", "\n    "), trainer.global_step)

    trainer.fit(task, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    test_metrics: dict[str, float] = {}
    if cfg.get("test", True):
        tested = trainer.test(task, datamodule=datamodule, ckpt_path="best" if best else None,
                              weights_only=True, verbose=False)
        test_metrics = {k: float(v) for k, v in tested[0].items()}
    metrics = {**fit_metrics, **test_metrics}
    best_score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    results = {
        "name": cfg.name, "run_dir": str(run_dir), "metrics": metrics,
        "best_checkpoint": best, "best_val_loss": float(best_score) if best_score is not None else None,
        "overrides": _overrides(), "resumed_from": str(ckpt) if ckpt else None,
        "epochs": trainer.current_epoch, "global_step": trainer.global_step,
        "precision": str(trainer.precision), "wall_seconds": round(time.perf_counter() - start, 2),
    }
    if trainer.logger:
        hp_metrics = {f"hp/{k.replace('/', '_')}": v for k, v in metrics.items() if not k.endswith("_step")}
        trainer.logger.log_hyperparams(hparams_of(cfg), metrics=hp_metrics)
        trainer.logger.finalize("success")
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    _print_closing(results)
    return results


def _print_closing(results: dict[str, Any]) -> None:
    shown = {k: v for k, v in results["metrics"].items() if k.startswith(("test/", "val/"))}
    print("\n" + " - ".join(f"{k}: {v:.4f}" for k, v in sorted(shown.items())))
    print(f"Trained {results['epochs']} epochs in {results['wall_seconds']:.1f}s ({results['precision']}).")
    print(f"Best checkpoint: {results['best_checkpoint']}")
    print(f"Run directory:   {results['run_dir']}  (results.json, config.yaml, checkpoints/, TensorBoard events)")
    print(f"Compare runs:    tensorboard --logdir {Path(results['run_dir']).parent}")


def _hydra_entry(cfg: DictConfig) -> float | None:
    results = train(cfg)
    return results["best_val_loss"]  # the objective a sweeper minimises


def main() -> None:
    """Console script `litzoo-train`: a Hydra app over conf/train.yaml."""
    register_resolvers()
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(_hydra_entry)()


if __name__ == "__main__":
    main()
