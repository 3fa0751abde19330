"""Build what a run needs from its config: the data module, the task (network + optimizer/scheduler partials),
the Trainer with litzoo's callbacks, and the same three rebuilt from a checkpoint for eval and pictures."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litzoo.run.checks import known_top_level_keys, unread_keys
from litzoo.run.lock import is_rank_zero
from litzoo.run.resume import load_checkpoint, run_dir_of, stored_config

if TYPE_CHECKING:
    import pytorch_lightning as pl


def resolve_precision(accelerator: str | None, precision: str | int | None) -> str | int:
    """bf16-mixed on GPUs that support it, 16-mixed on older GPUs, 32-true on CPU, unless given."""
    import torch

    if precision is not None:
        return precision
    if accelerator in (None, "auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def build(cfg: DictConfig, provenance: dict[str, Any] | None = None
          ) -> tuple[pl.LightningDataModule, pl.LightningModule, pl.Trainer]:
    """DataModule, task module (network + optimizer/scheduler partials) and Trainer from the config.

    `provenance` ({'overrides', 'choices'}) goes into every checkpoint beside the config, so a resume can
    tell which of its overrides change the run. The divergence guard, the history and the data facts (the
    class names in every checkpoint) are always on: the run record and litzoo.infer depend on them.
    """
    from litzoo.callbacks.data_facts import DataFacts
    from litzoo.callbacks.guard import DivergenceGuard
    from litzoo.callbacks.history import History
    from litzoo.optimization import scheduler_parts
    from litzoo.run.checkpoint import AtomicCheckpointIO
    from litzoo.sweep.pruning import pruning_callbacks

    if unread := unread_keys(cfg):
        _rank_zero_print(f"Warning: nothing reads the top-level key(s) {', '.join(unread)} (known: "
                         f"{', '.join(sorted(known_top_level_keys()))}); check the spelling.")
    datamodule = instantiate(cfg.data)
    net = instantiate(cfg.model)
    # the scheduler group holds the schedule's settings, its `interval` included (litzoo.optimization)
    scheduler, interval = scheduler_parts(cfg.get("scheduler"), cfg.task.get("scheduler_interval"))
    task = instantiate(cfg.task, net=net, optimizer=instantiate(cfg.optimizer), scheduler=scheduler,
                       scheduler_interval=interval)
    # stored in every checkpoint: the resolved config (provenance) and the unresolved one (rebuilds, where
    # `${paths.data_dir}` must still follow a new data location)
    task.save_hyperparameters({"config": OmegaConf.to_container(cfg, resolve=True),
                               "config_unresolved": OmegaConf.to_container(cfg, resolve=False),
                               **(provenance or {})})
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    callbacks += [DivergenceGuard(), History(cfg.paths.output_dir), DataFacts()]
    callbacks += pruning_callbacks()  # only in a trial of hydra/sweeper=optuna (litzoo.sweep.trial)
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks, flags = _lightning_flags(cfg.trainer, callbacks, logger)
    datamodule.fixed_train_order = bool(cfg.trainer.get("overfit_batches"))
    precision = resolve_precision(cfg.trainer.get("accelerator"), cfg.trainer.get("precision"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger, precision=precision,
                          plugins=[AtomicCheckpointIO()], **flags)
    _report_to_run_dir(trainer.profiler, cfg.paths.output_dir)
    return datamodule, task, trainer


def _lightning_flags(trainer_cfg: DictConfig, callbacks: list[Any], logger: Any) -> tuple[list[Any], dict[str, Any]]:
    """Lightning's own flags, answered with litzoo's callbacks: `enable_checkpointing=false` drops litzoo's
    checkpoints (the test then uses the last weights), `enable_progress_bar=false` or `callbacks.progress_bar=null`
    is no progress output (never Lightning's TQDM bar), `overfit_batches=N` is N batches of training and of
    validation, the same training batches every epoch (Lightning's own version swaps litzoo's batch sampler); no
    `profiler` is litzoo.run.profiler's, which skips even the no-op profiler's work."""
    from pytorch_lightning.callbacks import (
        LearningRateMonitor,
        ModelCheckpoint,
        ProgressBar,
    )

    from litzoo.run.profiler import NoProfiler

    dropped = [cls for cls, flag in ((ModelCheckpoint, "enable_checkpointing"), (ProgressBar, "enable_progress_bar"))
               if trainer_cfg.get(flag) is False]
    if not logger:  # Lightning refuses a learning-rate monitor without a logger
        dropped.append(LearningRateMonitor)
    callbacks = [c for c in callbacks if not isinstance(c, tuple(dropped))]
    flags = {"enable_checkpointing": any(isinstance(c, ModelCheckpoint) for c in callbacks),
             "enable_progress_bar": any(isinstance(c, ProgressBar) for c in callbacks)}
    if overfit := trainer_cfg.get("overfit_batches"):
        flags.update(overfit_batches=0, limit_train_batches=overfit, limit_val_batches=overfit)
    if trainer_cfg.get("profiler") is None:
        flags["profiler"] = NoProfiler()
    return callbacks, flags


def _report_to_run_dir(profiler: Any, run_dir: str) -> None:
    """A profiler's report goes to a file in the run folder (Lightning's default, its info log, is quiet here)."""
    from pytorch_lightning.profilers import PassThroughProfiler

    if isinstance(profiler, PassThroughProfiler) or profiler.filename:
        return
    profiler.dirpath, profiler.filename = profiler.dirpath or run_dir, "profile"
    report = Path(profiler.dirpath) / "fit-profile.txt"
    _rank_zero_print(f"Profiler: {type(profiler).__name__}'s report goes to {report} (and test-profile.txt), "
                     "written when each stage ends.")


def rebuild_run(path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = ()
                ) -> tuple[DictConfig, Any, Any, dict[str, Any], Path]:
    """(config, data module, task with the checkpoint's weights, checkpoint, run dir) of a finished run, as
    `litzoo-eval` and `litzoo-visualize` need them: the checkpoint's own config, read with weights_only and
    checked by litzoo.run.trust (`allow`: targets the user trusts, from the command line)."""
    from hydra.utils import instantiate

    state, ckpt_file = load_checkpoint(path)
    run_dir = run_dir_of(ckpt_file)
    cfg = stored_config(state, run_dir, ckpt_file, overrides, allow)
    task = instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))
    task.load_state_dict(state["state_dict"])
    print(f"Checkpoint: {ckpt_file}")
    return cfg, instantiate(cfg.data), task, state, run_dir


def _rank_zero_print(message: str) -> None:
    if is_rank_zero():
        print(message)
