"""`litzoo-train`: compose a run from configs, fit, test with the best checkpoint, write the run record.

    litzoo-train experiment=mnist_convnet optimizer.lr=1e-3
    litzoo-train -m optimizer=adam,rmsprop seed=1,2
    litzoo-train ckpt_path=last trainer.max_epochs=10     # resume the newest run, with its own config
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from litzoo.errors import DivergedError, LitzooError
from litzoo.run import record
from litzoo.run.atomic import atomic_write_text
from litzoo.run.build import build
from litzoo.run.checks import explain, validate_config
from litzoo.run.console import print_closing, run_console
from litzoo.run.hparams import log_run_hparams
from litzoo.run.lock import is_rank_zero as _is_rank_zero
from litzoo.run.loggers import tensorboard_writer
from litzoo.run.resume import check_resume_checkpoint, resolve_checkpoint
from litzoo.run.signals import stop_signal
from litzoo.run.step_cost import lower_step_cost

# Lightning and torch (3-8 s to import here) are imported where a run needs them: `litzoo-train --help`
# and a config error answer without paying for them.
if TYPE_CHECKING:
    import pytorch_lightning as pl

    from litzoo.callbacks.history import History


def _provenance() -> dict[str, Any]:
    """The Hydra task overrides and group choices of this job (empty outside Hydra)."""
    if not HydraConfig.initialized():
        return {"overrides": [], "choices": {}}
    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/") and v is not None}
    return {"overrides": list(hc.overrides.task), "choices": dict(choices)}


def _fit_and_test(cfg: DictConfig, run: dict[str, Any], ckpt: Path | None) -> dict[str, Any]:
    """Build, fit (resuming from `ckpt`), test the best checkpoint; fills `run` as it goes."""
    import pytorch_lightning as pl

    from litzoo.callbacks.data_facts import class_names_of
    from litzoo.callbacks.history import History
    from litzoo.summary import format_summary
    from litzoo.sweep.pruning import pruned_epoch

    run_dir = Path(run["run_dir"])
    if ckpt is not None:  # before anything is built: the file's own config must pass litzoo.run.trust too
        check_resume_checkpoint(ckpt)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, task, trainer = build(cfg, {"overrides": run["overrides"], "choices": run["choices"]})
    run["precision"] = str(trainer.precision)
    if _is_rank_zero() and not (run_dir / "config.yaml").exists():  # the original config is never overwritten
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    _show_summary(format_summary(task.net, title=cfg.name), trainer)
    history = next(c for c in trainer.callbacks if isinstance(c, History))
    try:
        with lower_step_cost():
            trainer.fit(task, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    except Exception as err:  # a diverged or failed run still gets its HPARAMS row, its status as a column
        _collect(run, trainer, history, {})
        run["status"] = "diverged" if isinstance(err, DivergedError) else "failed"
        _log_failed_run(trainer.logger, cfg, run)
        raise
    finally:
        _collect(run, trainer, history, {})
        # what loading the data found (an empty class folder, a looping symlink): in the record, not only on screen
        run["warnings"] = list(dict.fromkeys(run["warnings"] + list(datamodule.data_warnings)))
        run["classes"] = class_names_of(datamodule) or None  # output unit i = classes[i] (also in checkpoints)
    # an Optuna trial its pruner stopped (litzoo.sweep.pruning) ends here, untested: `pruned`, not a failure
    if (pruned := pruned_epoch(trainer)) is not None:
        run["pruned_epoch"] = pruned
    run["status"] = "pruned" if pruned else "ok"  # for HPARAMS' status column
    _collect(run, trainer, history, {} if pruned else _test(cfg, run, trainer, task, datamodule))
    log_run_hparams(trainer.logger, cfg, run)
    if trainer.logger:
        trainer.logger.finalize("success")
    return run


def _log_failed_run(logger: Any, cfg: DictConfig, run: dict[str, Any]) -> None:
    """HPARAMS of a run that is failing: the run's own error stays the one reported if this fails too."""
    try:
        log_run_hparams(logger, cfg, run)
    except Exception as err:  # noqa: BLE001 - secondary to the failure being raised
        print(f"Warning: the HPARAMS entry of this {run['status']} run was not written: {explain(err)}",
              file=sys.stderr)


def _show_summary(table: str, trainer: pl.Trainer) -> None:
    """The Keras summary on the console (once per sweep and model, not per job) and in TensorBoard's text."""
    from litzoo.sweep.jobs import first_showing

    if _is_rank_zero() and first_showing(table):
        print(table)
    writer = tensorboard_writer(trainer.logger)
    if writer is not None:
        writer.add_text("model/summary", "    " + table.replace("\n", "\n    "), trainer.global_step)


def _test(cfg: DictConfig, run: dict[str, Any], trainer: pl.Trainer, task: Any, datamodule: Any) -> dict[str, float]:
    """Test the best checkpoint; without one (checkpointing off, fast_dev_run) the weights in memory, and say so."""
    if not cfg.get("test", True):
        return {}
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    run["test_model"] = "best" if best else "last"
    if _is_rank_zero():
        print(f"Testing the {'best checkpoint, ' + Path(best).name if best else 'last weights'} ...", flush=True)
    tested = trainer.test(task, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
    return {k: float(v) for k, v in tested[0].items()}


def _collect(run: dict[str, Any], trainer: pl.Trainer, history: History, test: dict[str, float]) -> None:
    """What the trainer and the history know now, into the record (called after fit, and after test)."""
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    row = record.best_row(history.rows)
    # epochs: the number of the last epoch (a run continued from a loose checkpoint has fewer history rows)
    last = history.rows[-1] if history.rows else {}
    total = trainer.num_training_batches
    run.update(best_checkpoint=best, best_epoch=row["epoch"] if row else None, epochs=last.get("epoch", 0),
               global_step=trainer.global_step, metrics=record.labelled_metrics(history.rows, test),
               # an epoch that max_steps, max_time or early stopping cut short: its steps of how many
               partial_epoch={"epoch": last["epoch"], "steps": last["steps"], "of": total}
               if last.get("steps") is not None and total != float("inf") and last["steps"] < total else None,
               stopped_early=_stopped_early(trainer))


def _stopped_early(trainer: pl.Trainer) -> dict[str, Any] | None:
    """{'epoch', 'monitor', 'patience', 'best_epoch'} when callbacks.early_stopping ended the run, else None."""
    from litzoo.callbacks.early_stopping import KerasEarlyStopping

    stopper = next((c for c in trainer.callbacks if isinstance(c, KerasEarlyStopping)), None)
    if stopper is None or stopper.stopped_early_at is None:
        return None
    return {"epoch": stopper.stopped_early_at, "monitor": stopper.monitor, "patience": stopper.patience,
            "best_epoch": stopper.best_epoch}


def train(cfg: DictConfig, provenance: dict[str, Any] | None = None,
          resume_overrides: list[str] | None = None) -> dict[str, Any]:
    """Fit, test with the best checkpoint, write results.json; returns it. Raises after recording a failure.

    `provenance` ({'overrides', 'choices'}) defaults to this Hydra job's; `resume_overrides` are the
    runtime overrides of a resume (recorded in results.json's `resumes`).
    """
    from litzoo.run.lock import run_lock

    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir)
    _validate(cfg, run_dir, provenance)
    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):  # one writer per run folder (RunLocked otherwise), before its record is even read
        run, before = record.start_record(cfg, run_dir, provenance or _provenance(), ckpt, resume_overrides)
        rank_zero = _is_rank_zero()
        with run_console(run_dir, verbose=bool(cfg.get("verbose", False))):
            try:
                if rank_zero:
                    record.write_results(run_dir, run)
                _fit_and_test(cfg, run, ckpt)
                run.update(status="pruned" if run.get("pruned_epoch") else "ok")
                run["warnings"] += record.learning_warnings(run["metrics"], cfg.data.get("num_classes"))
            except (KeyboardInterrupt, SystemExit) as err:  # Lightning turns Ctrl-C into SystemExit(1)
                run.update(status="interrupted", error=f"interrupted ({stop_signal(err)})")
                signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning left SIGINT ignored
                raise KeyboardInterrupt from err
            except Exception as err:
                run.update(status="diverged" if isinstance(err, DivergedError) else "failed", error=explain(err))
                _report(err, bool(cfg.get("verbose")))
                raise
            finally:
                record.finish_record(run, before, time.perf_counter() - start)
                if rank_zero:
                    record.write_results(run_dir, run)
            if rank_zero:
                print_closing(run, Path(cfg.paths.log_dir) / cfg.name)
    return run


def _validate(cfg: DictConfig, run_dir: Path, provenance: dict[str, Any] | None) -> None:
    """Bad values fail here, before training; Hydra already made the folder: leave a record, never over one."""
    try:
        validate_config(cfg)
    except LitzooError as err:
        if run_dir.is_dir() and not (run_dir / record.FILENAME).exists() and _is_rank_zero():
            record.write_failure(run_dir, str(err), cfg.get("name"), (provenance or _provenance())["overrides"])
        raise


def _report(err: BaseException, verbose: bool) -> None:
    """Print the failure's paragraph once (inside the run's console, so train.log keeps it)."""
    if not (verbose or os.environ.get("HYDRA_FULL_ERROR") == "1"):
        print(f"\nError: {explain(err)}", file=sys.stderr)
        err.litzoo_reported = True  # type: ignore[attr-defined]

