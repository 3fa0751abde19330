"""Every file litzoo writes goes through litzoo.run.atomic (temporary file, fsync, rename; a full disk named):
a new `write_text` or `savefig(path)` elsewhere would bring back half-written files after a crash."""
from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "litzoo"
# direct writes of a file by path; savefig into a file object (atomic_write's `f`) is fine
DIRECT = re.compile(r"\.write_text\(|\.write_bytes\(|OmegaConf\.save\(|open\([^)]*[\"'][wax]b?[\"']|"
                    r"savefig\((?!f\b|f,)|\.tmp\b|os\.replace\(|\.replace\(self\.path\)")
ALLOWED = {
    ("run/atomic.py", "open("),  # the one writer itself
    ("run/atomic.py", "os.replace("),
    ("run/atomic.py", ".tmp"),
    ("run/checks.py", ".write_bytes("),  # an empty probe file: can this folder be written at all
    ("run/console.py", "open("),  # train.log is a log: appended line by line as the run prints
    ("run/tensorboard.py", "open("),  # the TensorBoard event file: records appended as they come, each with its CRC
}


def test_files_are_written_only_through_run_atomic() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            for match in DIRECT.finditer(code):
                if not any(rel == f and match.group(0).startswith(w) for f, w in ALLOWED):
                    found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "write through litzoo.run.atomic instead:\n" + "\n".join(found)
