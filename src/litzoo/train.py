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

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litzoo import record
from litzoo.checks import cli_run, ensure_writable, explain, known_top_level_keys, unread_keys, validate_config
from litzoo.config import CONF_DIR, check_resume_checkpoint, register_resolvers, resolve_checkpoint, resume_config
from litzoo.console import run_console
from litzoo.errors import DivergedError, LitzooError
from litzoo.hparams import log_run_hparams
from litzoo.lock import is_rank_zero as _is_rank_zero
from litzoo.loggers import tensorboard_writer
from litzoo.ranks import with_ranks
from litzoo.signals import install as install_signals, stop_signal

# Lightning and torch (3-8 s to import here) are imported where a run needs them: `litzoo-train --help`
# and a config error answer without paying for them.
if TYPE_CHECKING:
    import pytorch_lightning as pl

    from litzoo.callbacks.history import History

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
    tell which of its overrides change the run. The divergence guard and the history are always on: the
    run record depends on them.
    """
    from litzoo.callbacks.guard import DivergenceGuard
    from litzoo.callbacks.history import History
    from litzoo.checkpoint import AtomicCheckpointIO

    if unread := unread_keys(cfg):
        _rank_zero_print(f"Warning: nothing reads the top-level key(s) {', '.join(unread)} (known: "
                         f"{', '.join(sorted(known_top_level_keys()))}); check the spelling.")
    datamodule = instantiate(cfg.data)
    net = instantiate(cfg.model)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    task = instantiate(cfg.task, net=net, optimizer=instantiate(cfg.optimizer), scheduler=scheduler)
    # stored in every checkpoint: the resolved config (provenance) and the unresolved one (rebuilds, where
    # `${paths.data_dir}` must still follow a new data location)
    task.save_hyperparameters({"config": OmegaConf.to_container(cfg, resolve=True),
                               "config_unresolved": OmegaConf.to_container(cfg, resolve=False),
                               **(provenance or {})})
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c]
    callbacks += [DivergenceGuard(), History(cfg.paths.output_dir)]
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
    validation, the same training batches every epoch (Lightning's own version swaps litzoo's batch sampler)."""
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar

    dropped = [cls for cls, flag in ((ModelCheckpoint, "enable_checkpointing"), (ProgressBar, "enable_progress_bar"))
               if trainer_cfg.get(flag) is False]
    if not logger:  # Lightning refuses a learning-rate monitor without a logger
        dropped.append(LearningRateMonitor)
    callbacks = [c for c in callbacks if not isinstance(c, tuple(dropped))]
    flags = {"enable_checkpointing": any(isinstance(c, ModelCheckpoint) for c in callbacks),
             "enable_progress_bar": any(isinstance(c, ProgressBar) for c in callbacks)}
    if overfit := trainer_cfg.get("overfit_batches"):
        flags.update(overfit_batches=0, limit_train_batches=overfit, limit_val_batches=overfit)
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


def _rank_zero_print(message: str) -> None:
    if _is_rank_zero():
        print(message)


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

    from litzoo.callbacks.history import History
    from litzoo.summary import format_summary
    from litzoo.sweep import first_showing

    run_dir = Path(run["run_dir"])
    if ckpt is not None:  # before anything is built: the file's own config must pass litzoo.trust too
        check_resume_checkpoint(ckpt)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, task, trainer = build(cfg, {"overrides": run["overrides"], "choices": run["choices"]})
    run["precision"] = str(trainer.precision)
    if _is_rank_zero() and not (run_dir / "config.yaml").exists():  # the original config is never overwritten
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    table = format_summary(task.net, title=cfg.name)
    if _is_rank_zero() and first_showing(table):  # once per sweep and model, not per job
        print(table)
    writer = tensorboard_writer(trainer.logger)
    if hasattr(writer, "add_text"):
        writer.add_text("model/summary", "    " + table.replace("\n", "\n    "), trainer.global_step)
    history = next(c for c in trainer.callbacks if isinstance(c, History))
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    except DivergedError:
        _collect(run, trainer, history, {})
        log_run_hparams(trainer.logger, cfg, run)  # a diverged run still gets its HPARAMS row
        raise
    finally:
        _collect(run, trainer, history, {})
        # what loading the data found (an empty class folder, a looping symlink): in the record, not only on screen
        run["warnings"] = list(dict.fromkeys(run["warnings"] + list(datamodule.data_warnings)))
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    test: dict[str, float] = {}
    if cfg.get("test", True):
        # no best checkpoint (checkpointing off, fast_dev_run): the weights in memory are tested, and said so
        run["test_model"] = "best" if best else "last"
        if _is_rank_zero():
            print(f"Testing the {'best checkpoint, ' + Path(best).name if best else 'last weights'} ...", flush=True)
        tested = trainer.test(task, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
        test = {k: float(v) for k, v in tested[0].items()}
    _collect(run, trainer, history, test)
    log_run_hparams(trainer.logger, cfg, run)
    if trainer.logger:
        trainer.logger.finalize("success")
    return run


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
               if last.get("steps") is not None and total != float("inf") and last["steps"] < total else None)


def train(cfg: DictConfig, provenance: dict[str, Any] | None = None,
          resume_overrides: list[str] | None = None) -> dict[str, Any]:
    """Fit, test with the best checkpoint, write results.json; returns it. Raises after recording a failure.

    `provenance` ({'overrides', 'choices'}) defaults to this Hydra job's; `resume_overrides` are the
    runtime overrides of a resume (recorded in results.json's `resumes`).
    """
    from litzoo.lock import run_lock

    start = time.perf_counter()
    run_dir = Path(cfg.paths.output_dir)
    try:
        validate_config(cfg)  # bad values fail here, before training
    except LitzooError as err:  # Hydra already made the folder: leave a record, never over an existing one
        if run_dir.is_dir() and not (run_dir / record.FILENAME).exists() and _is_rank_zero():
            record.write_failure(run_dir, str(err), cfg.get("name"), (provenance or _provenance())["overrides"])
        raise
    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):  # one writer per run folder (RunLocked otherwise), before its record is even read
        run, before = _new_record(cfg, run_dir, provenance or _provenance(), ckpt, resume_overrides)
        rank_zero = _is_rank_zero()
        with run_console(run_dir, verbose=bool(cfg.get("verbose", False))):
            try:
                if rank_zero:
                    record.write_results(run_dir, run)
                _fit_and_test(cfg, run, ckpt)
                run.update(status="ok")
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
                _finish(run, before, time.perf_counter() - start)
                if rank_zero:
                    record.write_results(run_dir, run)
            if rank_zero:
                _print_closing(run, Path(cfg.paths.log_dir) / cfg.name)
    return run


def _finish(run: dict[str, Any], before: dict[str, Any], seconds: float) -> None:
    """Close this session of the run: its time added to the run's total, its own status in its `resumes` entry.

    A resume of a finished `ok` run that is interrupted leaves the run `ok`, with the numbers it has (the test of
    the previous best checkpoint kept while that checkpoint is still the best); only the entry says `interrupted`.
    """
    run.update(finished=record.now(), session_seconds=round(seconds, 2),
               wall_seconds=round(seconds + (before.get("wall_seconds") or 0.0), 2))
    if not run["resumes"]:
        return
    run["resumes"][-1].update(status=run["status"], epochs=run["epochs"], seconds=run["session_seconds"])
    if run["status"] == "interrupted" and before.get("status") == "ok":
        kept = {k: v for k, v in before.get("metrics", {}).items() if k.startswith("test/")}
        same_best = run["best_checkpoint"] in (None, before.get("best_checkpoint"))
        run.update(status="ok", error=None, test_model=before.get("test_model") if same_best else None,
                   metrics={**run["metrics"], **(kept if same_best else {})})


def _new_record(cfg: DictConfig, run_dir: Path, prov: dict[str, Any], ckpt: Path | None,
                resume_overrides: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the record at the start of a run, what the run's record said before this session). Status `running`;
    a resume keeps `started`, the `resumes` and, until new ones replace them, the numbers it had (a resume
    killed with -9 still shows its earlier results)."""
    try:
        previous = record.read_results(run_dir) or {}
    except record.UnreadableRecord as err:  # its `started` and `resumes` are lost: refuse rather than guess
        raise record.UnreadableRecord(err.path, f"{err.reason}. Move it away to start a new record in "
                                      f"{run_dir}; the run did not start") from None
    resumes = previous.get("resumes", [])
    if ckpt is not None:
        resumes.append({"time": record.now(), "checkpoint": str(ckpt), "overrides": list(resume_overrides or [])})
    run = {"status": "running", "error": None, "name": cfg.name, "run_dir": str(run_dir.resolve()),
           "overrides": prov["overrides"], "choices": prov["choices"], "seed": cfg.seed,
           "best_epoch": None, "best_checkpoint": None, "metrics": {}, "epochs": 0, "global_step": 0,
           "precision": None, "wall_seconds": None, "started": previous.get("started", record.now()),
           "finished": None, "resumes": resumes, "warnings": [], "test_model": None, "partial_epoch": None}
    if ckpt is None:
        return run, {}
    carried = ("best_epoch", "best_checkpoint", "metrics", "epochs", "global_step", "test_model", "partial_epoch",
               "wall_seconds")
    run.update({k: previous[k] for k in carried if previous.get(k) is not None})
    return run, {k: previous.get(k) for k in ("status", "metrics", "best_checkpoint", "test_model", "wall_seconds")}


def _report(err: BaseException, verbose: bool) -> None:
    """Print the failure's paragraph once (inside the run's console, so train.log keeps it)."""
    if not (verbose or os.environ.get("HYDRA_FULL_ERROR") == "1"):
        print(f"\nError: {explain(err)}", file=sys.stderr)
        err.litzoo_reported = True  # type: ignore[attr-defined]


def _print_closing(run: dict[str, Any], log_root: Path) -> None:
    """The end summary: best epoch, test of the checkpoint tested, last epoch only when labelled as such."""
    m = run["metrics"]
    best = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items() if k.startswith("best/val_"))
    test = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items() if k.startswith("test/"))
    last = " - ".join(f"{k.split('/', 1)[1]}: {v:.4f}" for k, v in m.items()
                      if k.startswith("last/") and k != "last/epoch")
    partial = run.get("partial_epoch")
    print()
    if run["best_epoch"] is not None:
        print(f"Best epoch {run['best_epoch']}/{run['epochs']}:  {best}")
    if test:
        print(f"Test ({'best checkpoint' if run.get('test_model') == 'best' else 'last weights'}): {test}")
    if last and m.get("last/epoch") != run["best_epoch"]:
        cut = f" (partial: {partial['steps']} of {partial['of']} steps)" if partial else ""
        print(f"Last epoch {m['last/epoch']}{cut}:  {last}")
    for warning in run.get("warnings", []):
        print(f"Warning: {warning}")
    total = f" ({run['wall_seconds']:.1f}s in all)" if run["resumes"] else ""
    print(f"Trained {run['epochs']} epochs: {run['session_seconds']:.1f}s this session{total} ({run['precision']}).")
    print(f"Run directory:   {run['run_dir']}")
    names = ("results.json", "history.csv", "train.log", "learning_curves.png", "checkpoints", "visualizations")
    present = [n + "/" * (n in ("checkpoints", "visualizations")) for n in names if (Path(run["run_dir"]) / n).exists()]
    print("                 " + ", ".join(present))
    print(f"Compare runs:    tensorboard --logdir {log_root}   (this experiment's runs and sweeps)")


def _hydra_entry(cfg: DictConfig) -> float | None:
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        from litzoo.sweep import run_job

        return run_job(cfg, train)
    results = cli_run(lambda: with_ranks(cfg.paths.output_dir, lambda: train(cfg)), bool(cfg.get("verbose")))
    return results["metrics"].get("best/val_loss")  # the objective a sweeper minimises


def main() -> None:
    """Console script `litzoo-train`: a Hydra app over conf/train.yaml; `ckpt_path=` resumes with the
    checkpoint's own config (only runtime keys may be overridden), without Hydra rewriting the run."""
    install_signals()  # SIGTERM (SLURM's time limit) ends a run or sweep as Ctrl-C does, named as SIGTERM
    register_resolvers()
    sys.argv[1:] = _logger_off(sys.argv[1:])  # before Hydra, which reads sys.argv itself
    args = sys.argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in args)
    if any(a.startswith("ckpt_path=") and a != "ckpt_path=null" for a in args) and not multirun:
        verbose = "verbose=true" in args
        cfg, provenance, applied = cli_run(lambda: resume_config(args), verbose)
        cli_run(lambda: with_ranks(cfg.paths.output_dir, lambda: train(cfg, provenance, applied)),
                verbose or bool(cfg.get("verbose")))
        return
    cli_run(lambda: _check_log_root(args), "verbose=true" in args)
    try:
        hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(_hydra_entry)()
    except KeyboardInterrupt as err:  # a sweep's, or one between Hydra's steps (a run's own: cli_run)
        from litzoo.multirun import interrupted

        sys.exit(interrupted(err))


def _check_log_root(args: list[str]) -> None:
    """Refuse an unwritable paths.log_dir in one paragraph, before Hydra creates the run folder in it."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from litzoo.config import compose_config

    try:  # plain key=value / group=option overrides only; anything else is Hydra's to report
        cfg = compose_config([a for a in args if "=" in a and not a.startswith(("-", "hydra"))])
        log_dir = cfg.paths.log_dir
    except (HydraException, OmegaConfBaseException, ValueError):
        return
    ensure_writable(log_dir)


def _logger_off(args: list[str]) -> list[str]:
    """`logger=false` and `logger=null` (Lightning's and YAML's words for no logger) are `logger=none`, also
    inside a sweep's list (`-m logger=null,tensorboard`); Hydra would take them as a missing config group."""
    def option(value: str) -> str:
        return "none" if value.strip().lower() in ("null", "false") else value

    return [f"logger={','.join(map(option, a.split('=', 1)[1].split(',')))}" if a.startswith("logger=") else a
            for a in args]


if __name__ == "__main__":
    main()
