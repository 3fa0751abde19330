"""What an Optuna search leaves in its sweep folder beside the table: `optimization_results.yaml` (best trial,
parameters, value, parameter importances), `optimization_history.png` and `param_importances.png` (Optuna's
matplotlib plots: no plotly). litzoo.sweep.table shows the best parameters and importances below the table."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from litzoo.run.atomic import atomic_write, atomic_write_text
from litzoo.sweep.optuna import say

RESULTS = "optimization_results.yaml"
MIN_TRIALS_FOR_IMPORTANCE = 2  # completed trials; fANOVA needs at least two values to compare


def write_report(study: Any, sweep_dir: Path) -> dict[str, Any]:
    """optimization_results.yaml and the two pictures; returns what the YAML holds ({} before any completed trial)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return {}
    best = study.best_trial
    results: dict[str, Any] = {"name": "optuna", "study": study.study_name, "best_trial": best.number,
                               "best_params": dict(best.params), "best_value": best.value,
                               "trials": len(study.trials), "completed": len(complete)}
    importances = _importances(study, len(complete))
    if importances:
        results["param_importances"] = importances
    atomic_write_text(sweep_dir / RESULTS, OmegaConf.to_yaml(OmegaConf.create(results)))
    _pictures(study, sweep_dir, bool(importances))
    return results


def _importances(study: Any, completed: int) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA), {} when there are too few trials or parameters to compare."""
    import optuna

    if completed < MIN_TRIALS_FOR_IMPORTANCE or not study.best_trial.params:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError, ImportError) as err:  # e.g. every trial drew the same value
        say(f"parameter importances not computed: {err}")
        return {}


def _pictures(study: Any, sweep_dir: Path, importances: bool) -> None:
    """optimization_history.png, and param_importances.png when importances exist."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, plot in (("optimization_history", plots.plot_optimization_history),
                           ("param_importances", plots.plot_param_importances if importances else None)):
            if plot is None:
                continue
            try:
                axes = plot(study)
                atomic_write(sweep_dir / f"{name}.png",
                             lambda f, fig=axes.figure: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
                plt.close(axes.figure)
            except (ValueError, RuntimeError, OSError) as err:
                say(f"{name}.png not written: {err}")
