"""`hydra.sweeper.n_jobs=N` on one machine: N trials at once, each in a fresh process (spawned, never reused, so
no CUDA state passes from one trial to the next), each with `cores // N` threads and, on a machine with G GPUs,
one GPU of its own (CUDA_VISIBLE_DEVICES, round-robin over the N slots), set before the process starts. A new
trial starts as soon as one ends (a pruned trial frees its slot early). Hydra declined this (#3002); its
launchers stay what runs trials elsewhere (SLURM).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from litzoo.run.environ import environ
from litzoo.sweep.search_space import SearchSpace

if TYPE_CHECKING:

    from litzoo.sweep.optuna import OptunaSearch
    from litzoo.sweep.trials import Trial

THREAD_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
STOP_GRACE_S = 30  # after Ctrl-C: how long trials get to record themselves `interrupted` before they are killed


def run_in_processes(search: OptunaSearch, space: SearchSpace, next_trial: Callable[[], Trial | None],
                     tell: Callable[[int, Path], None]) -> None:
    """Keep `search.n_jobs` trial processes running until next_trial() has none left; tell each one's end."""
    n_jobs = search.n_jobs
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads, gpus = max(cores // n_jobs, 1), _gpus()
    print(f"[sweep] {n_jobs} trials at once, each in its own process with {threads} thread(s) ({cores} cores)"
          + (f", GPUs {','.join(gpus)} round-robin" if gpus else ""), flush=True)
    running: dict[int, tuple[Any, int, Path]] = {}  # slot -> (process, trial number, folder)
    ctx = multiprocessing.get_context("spawn")
    try:
        more = True
        while True:
            for slot in range(n_jobs):
                if slot in running or not more:
                    continue
                trial = next_trial()
                if trial is None:
                    more = False
                    break
                running[slot] = _start(ctx, search, space, trial, threads, gpus[slot % len(gpus)] if gpus else None)
            if not running:
                return
            ended = set(wait([proc.sentinel for proc, _, _ in running.values()]))
            for slot in [s for s, (proc, _, _) in running.items() if proc.sentinel in ended]:
                proc, number, run_dir = running.pop(slot)
                proc.join()
                tell(number, run_dir)
    finally:
        _stop(running)


def _start(ctx: Any, search: OptunaSearch, space: SearchSpace, trial: Trial, threads: int,
           gpu: str | None) -> tuple[Any, int, Path]:
    """Compose trial's job config here (as Hydra's launchers do) and start its process."""
    from hydra.core.utils import setup_globals

    number, params = trial
    setup_globals()
    config = search.hydra_context.config_loader.load_sweep_config(search.config, space.overrides(params))
    with open_dict(config):
        config.hydra.job.id, config.hydra.job.num = f"{config.hydra.job.name}_{number}", number
    run_dir = Path(str(config.hydra.sweep.dir)) / str(OmegaConf.select(config, "hydra.sweep.subdir"))
    env = {name: str(threads) for name in THREAD_ENVS}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    with environ(env):  # a spawned process takes this process's environment as it is at start()
        proc = ctx.Process(target=_trial_process, args=(config, search.task_function, threads),
                           name=f"trial-{number}")
        proc.start()
    return proc, number, run_dir


def _trial_process(config: DictConfig, task_function: Any, threads: int) -> None:
    """One trial, in its own process: Hydra's run_job over litzoo's task, as a launcher worker runs it."""
    from litzoo.run.signals import die_with_parent, install

    die_with_parent()  # a sweep killed with -9 takes its trials with it; the re-run resumes them
    install()
    import torch
    from hydra._internal.callbacks import Callbacks
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job, setup_globals
    from hydra.types import HydraContext

    from litzoo.run.compose import register_resolvers

    torch.set_num_threads(threads)
    setup_globals()
    register_resolvers()
    HydraConfig.instance().set_config(config)
    context = HydraContext(config_loader=None, callbacks=Callbacks(config))  # type: ignore[arg-type]
    run_job(hydra_context=context, task_function=task_function, config=config, job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir")


def _gpus() -> list[str]:
    """The GPUs this machine lets us use, by the ids CUDA_VISIBLE_DEVICES takes."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _stop(running: dict[int, tuple[Any, int, Path]]) -> None:
    """Trials still running when the sweep ends early (Ctrl-C, SIGTERM): SIGTERM, time to record themselves
    `interrupted`, then killed; none outlives the sweep. A second Ctrl-C meanwhile (a terminal's Ctrl-C also
    reaches the trials; `timeout` forwards its own) must not cut that wait short: the table would show them
    `running`, and their records would be written after it."""
    if not running:
        return
    held = {stop: signal.signal(stop, signal.SIG_IGN) for stop in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc, _, _ in running.values():
            if proc.is_alive():
                proc.terminate()
        for proc, _, _ in running.values():
            proc.join(STOP_GRACE_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
    finally:
        for stop, handler in held.items():
            signal.signal(stop, handler)
