"""Sweeps: one multirun job (jobs), the summary table (table), the Hydra callback that starts and ends a sweep
(callback)."""
