"""The console scripts (train, eval, summary, visualize, sweep) and `cli_run`, the one place that turns an
exception into a paragraph and an exit code."""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from typing import Any

from litzoo.run.checks import explain


def cli_run(fn: Callable[[], Any], verbose: bool = False) -> Any:
    """Run a command's body: a failure prints one paragraph and exits (1; 3 diverged; 130 Ctrl-C, 143 SIGTERM);
    the traceback comes back with verbose=true or HYDRA_FULL_ERROR=1."""
    import sys

    from litzoo.errors import DivergedError
    from litzoo.run.signals import exit_code, stop_signal

    try:
        return fn()
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (litzoo.run.signals.Terminated)
        sig = stop_signal(err)
        print(f"\nInterrupted ({sig}): the run is recorded as `interrupted`; resume it with ckpt_path=<run dir>.",
              file=sys.stderr)
        sys.exit(exit_code(sig))
    except Exception as err:
        if verbose or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not getattr(err, "litzoo_reported", False):
            print(f"\nError: {explain(err)}", file=sys.stderr)
        sys.exit(3 if isinstance(err, DivergedError) else 1)


def add_allow_target(parser: argparse.ArgumentParser) -> None:
    """`--allow-target PATTERN` of the commands that rebuild a run from its checkpoint (litzoo.run.trust)."""
    parser.add_argument("--allow-target", action="append", default=[], metavar="PATTERN",
                        help="build this _target_ (fnmatch pattern) from the checkpoint's config although it is not "
                             "on litzoo's list: only for a file you trust (docs/record.md, 'What litzoo trusts')")


def own_options(items: list[str], names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """A command's own `key=value` options (eval's split=, visualize's layer=) apart from the config overrides,
    read as every override is read (litzoo.run.compose.split_override); the last of a repeated key wins."""
    from litzoo.run.compose import split_override

    names = set(names)
    options: dict[str, str] = {}
    overrides = []
    for item in items:
        key, value = split_override(item)
        if "=" in item and key in names and not item.startswith(("+", "~")):
            options[key] = value
        else:
            overrides.append(item)
    return options, overrides
