"""`litzoo-sweep SWEEP_DIR`: the table of any sweep folder, also while it runs."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from litzoo.sweep.table import format_table, summary_rows, try_write_summary


def main(argv: list[str] | None = None) -> None:
    """Console script `litzoo-sweep SWEEP_DIR`: rebuild summary.csv/.md of a sweep and print its table."""
    parser = argparse.ArgumentParser(prog="litzoo-sweep", description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. logs/digits_convnet/multiruns/<time>")
    args = parser.parse_args(argv)
    if not summary_rows(args.sweep_dir):
        sys.exit(f"litzoo-sweep: no jobs in {args.sweep_dir}: expected a multirun folder whose job folders hold "
                 ".hydra/ or results.json (litzoo-train -m ... writes them under logs/<name>/multiruns/<time>/).")
    table, problem = try_write_summary(args.sweep_dir)
    print(format_table(table, shutil.get_terminal_size((120, 24)).columns))
    if problem:
        sys.exit(1)
    print(f"\nWritten: {args.sweep_dir / 'summary.csv'}, {args.sweep_dir / 'summary.md'}")
