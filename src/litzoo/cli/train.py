"""`litzoo-train`: compose a run from configs, fit, test with the best checkpoint, write the run record.

    litzoo-train experiment=mnist_convnet optimizer.lr=1e-3
    litzoo-train -m optimizer=adam,rmsprop seed=1,2
    litzoo-train ckpt_path=last trainer.max_epochs=10     # resume the newest run, with its own config
"""
from __future__ import annotations

import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from litzoo.cli import cli_run
from litzoo.run.checks import ensure_writable
from litzoo.run.compose import CONF_DIR, register_resolvers
from litzoo.run.fit import train
from litzoo.run.ranks import with_ranks
from litzoo.run.resume import resume_config
from litzoo.run.signals import install as install_signals
from litzoo.sweep.jobs import objective_value


def _hydra_entry(cfg: DictConfig) -> float | None:
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        from litzoo.sweep.jobs import run_job

        return run_job(cfg, train)
    results = cli_run(lambda: with_ranks(cfg.paths.output_dir, lambda: train(cfg)), bool(cfg.get("verbose")))
    return objective_value(results, cfg)  # what a sweeper optimises


def main() -> None:
    """Console script `litzoo-train`: a Hydra app over conf/train.yaml; `ckpt_path=` resumes with the
    checkpoint's own config (only runtime keys may be overridden), without Hydra rewriting the run."""
    install_signals()  # SIGTERM (SLURM's time limit) ends a run or sweep as Ctrl-C does, named as SIGTERM
    register_resolvers()
    sys.argv[1:] = _keras_keys(_logger_off(sys.argv[1:]))  # before Hydra, which reads sys.argv itself
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
        from litzoo.sweep.callback import interrupted

        sys.exit(interrupted(err))


def _check_log_root(args: list[str]) -> None:
    """Refuse an unwritable paths.log_dir in one paragraph, before Hydra creates the run folder in it."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from litzoo.run.compose import compose_config

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


# Keras' argument names a user types first -> litzoo's config keys (said once, on the console)
KERAS_KEYS = {"data.validation_split": "data.val_split"}


def _keras_keys(args: list[str]) -> list[str]:
    """`data.validation_split=0.1` (Keras' `fit(validation_split=0.1)`) is `data.val_split=0.1`, with a note."""
    out = []
    for arg in args:
        prefix, key, rest = re.match(r"^([+~]*)([^=]*)(.*)$", arg, re.S).groups()
        if key in KERAS_KEYS:
            print(f"Note: {key} (Keras' name) is read as {KERAS_KEYS[key]}.", file=sys.stderr)
            arg = prefix.lstrip("+") + KERAS_KEYS[key] + rest  # the key exists: no '+' needed
        out.append(arg)
    return out


if __name__ == "__main__":
    main()
