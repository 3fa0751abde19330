"""A run's entry in TensorBoard's HPARAMS tab: the same short list of keys for every run, so the runs of a
sweep compare column by column (no paths, no `_target_`s, no per-run folders).

Keys: the chosen option of each config group (model, data, optimizer, scheduler, augmentation), seed, the run's
status (ok, pruned, diverged: every trial of a search is a row), a few key numbers (lr, batch_size, max_epochs)
and every key set on the command line (so every key a sweep varies). Metrics, under `hp/`: the best epoch's
validation metrics and the test metrics of results.json.
"""
from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from litzoo.run.compose import override_key, split_override
from litzoo.run.runtime_keys import WHERE_AND_WATCH

GROUPS = ("model", "data", "optimizer", "scheduler", "augmentation")
KEY_NUMBERS = {"lr": "optimizer.lr", "batch_size": "data.batch_size", "max_epochs": "trainer.max_epochs"}

Scalar = bool | int | float | str


def _scalar(value: Any) -> Scalar:
    """TensorBoard's hparams take bool, number or string: anything else is shown as text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _choices(results: dict[str, Any]) -> dict[str, Any]:
    if results.get("choices"):
        return dict(results["choices"])
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def run_hparams(cfg: DictConfig, results: dict[str, Any]) -> dict[str, Scalar]:
    """The run's hyperparameters: group choices, seed, key numbers, then its command-line overrides."""
    choices = _choices(results)
    hp: dict[str, Scalar] = {group: _scalar(choices.get(group)) for group in GROUPS}
    hp["seed"] = _scalar(cfg.get("seed"))
    hp["status"] = _scalar(results.get("status"))
    hp.update({name: _scalar(OmegaConf.select(cfg, key, default=None)) for name, key in KEY_NUMBERS.items()})
    for override in results.get("overrides") or []:
        key, text = split_override(override)
        # where a run lives and how it is watched (litzoo.run.resume) does not tell runs apart
        if key in hp or key in KEY_NUMBERS.values() or key.startswith(WHERE_AND_WATCH):
            continue
        # a config group (trainer=ddp) shows its chosen option, a value its resolved number or text
        value = choices[key] if key in choices else OmegaConf.select(cfg, key, default=text)
        hp[key] = _scalar(text if isinstance(value, DictConfig) else value)
    return hp


def run_metrics(results: dict[str, Any]) -> dict[str, float]:
    """`hp/best_val_loss`, `hp/best_val_acc`|`hp/best_val_mae`, `hp/best_epoch`, `hp/test_loss`, `hp/test_acc`..."""
    metrics = results.get("metrics") or {}
    return {f"hp/{k.replace('/', '_')}": float(v) for k, v in metrics.items()
            if v is not None and (k.startswith(("best/val_", "test/")) or k == "best/epoch")}


def swept_names(results: dict[str, Any]) -> set[str]:
    """The hparams this run's sweep varies: its overrides that name its job folder (constants and paths
    are in Hydra's override_dirname.exclude_keys); every override outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    excluded = set(HydraConfig.get().job.config.override_dirname.exclude_keys) if HydraConfig.initialized() else set()
    alias = {key: name for name, key in KEY_NUMBERS.items()}  # optimizer.lr is shown as lr
    keys = {override_key(o) for o in results.get("overrides") or []}
    return {alias.get(k, k) for k in keys - excluded} | {"status"}


def _experiment_summary(summary: Any, swept: set[str]) -> Any:
    """torch's experiment summary with `differs` set on the swept hparams: TensorBoard lists those first,
    and its table shows the first five columns by default."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    value = summary.value[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in swept
    value.metadata.plugin_data.content = data.SerializeToString()
    return summary


def log_run_hparams(logger: Any, cfg: DictConfig, results: dict[str, Any]) -> None:
    """Write the run's HPARAMS entry: with TensorBoard, torch's `hparams` summaries (the swept keys marked
    as differing) plus the `hp/` scalars at the last step, also for a run without metrics (diverged in
    epoch 1); other loggers get log_hyperparams; Lightning's stand-ins (fast_dev_run, DDP ranks >= 1) nothing."""
    from litzoo.run.loggers import add_summary, takes_hparams, tensorboard_writer

    if not takes_hparams(logger):
        return
    hp, metrics, step = run_hparams(cfg, results), run_metrics(results), results.get("global_step")
    writer = tensorboard_writer(logger)
    if writer is None:  # another logger, or TensorBoard on a rank >= 1 (its log_hyperparams is rank-zero only)
        logger.log_hyperparams(hp, metrics=metrics, step=step)
        return
    from torch.utils.tensorboard.summary import hparams

    experiment, start, end = hparams(hp, metrics)
    for summary in (_experiment_summary(experiment, swept_names(results)), start, end):
        add_summary(writer, summary, step)
    for name, value in metrics.items():
        writer.add_scalar(name, value, step)
    writer.flush()
