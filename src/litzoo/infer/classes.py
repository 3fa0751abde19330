"""A new folder's classes mapped onto the model's by name, never by position.

A folder spelled `ankle_boot` where training had `Ankle_boot` sorts differently, so taking the class order from
the new folder's names gives every image of some classes the wrong label and a silently wrong accuracy. Names
are matched exactly first (after Unicode NFC: macOS writes `é` decomposed), then ignoring case and the
separators `_`, `-`, `.` and spaces (with a warning naming each pair); anything left over on either side is
refused, both sets listed.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence

from litzoo.errors import LitzooError

_SEPARATORS = re.compile(r"[\s_.\-]+")


class ClassMismatchError(LitzooError):
    """The folder's classes are not the model's: one paragraph listing both."""


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def loose_key(name: str) -> str:
    """`Ankle_boot`, `ankle-boot` and `ankle boot` are one key."""
    return _SEPARATORS.sub("", nfc(name).casefold())


def match_classes(trained: Sequence[str], found: Sequence[str], where: str) -> tuple[list[str], list[str]]:
    """(the folder name of each trained class, in training order; warnings for names matched loosely)."""
    exact = {nfc(f): f for f in found}
    mapping: list[str | None] = [exact.get(nfc(t)) for t in trained]
    left = [f for f in found if f not in mapping]
    notes = []
    for i, name in enumerate(trained):
        candidates = [f for f in left if loose_key(f) == loose_key(name)]
        if mapping[i] is None and len(candidates) == 1:
            mapping[i] = candidates[0]
            left.remove(candidates[0])
            notes.append(f"{candidates[0]!r} -> {name!r}")
    missing = [t for t, m in zip(trained, mapping) if m is None]
    if missing or left:
        raise ClassMismatchError(mismatch_message(trained, found, missing, left, where))
    warnings = [f"{where}: class folder names differ from the model's in case or separators, matched by name: "
                + ", ".join(notes)] if notes else []
    for line in warnings:
        print(f"Warning: {line}", file=sys.stderr)
    return [m for m in mapping if m is not None], warnings


def mismatch_message(trained: Sequence[str], found: Sequence[str], missing: Sequence[str], extra: Sequence[str],
                     where: str) -> str:
    parts = []
    if extra:
        parts.append(f"the model does not know {_names(extra)}")
    if missing:
        parts.append(f"the folder has no class folder for {_names(missing)}")
    return (f"The classes of {where} do not match the model's: {' and '.join(parts)}. The model was trained on "
            f"{len(trained)} classes, in this order: {_names(trained)}; the folder has {len(found)}: {_names(found)}. "
            "Class folders are matched by name (differences of case and of '_', '-', '.' or spaces are accepted "
            "with a warning); rename the folders, or evaluate a folder that holds exactly the model's classes. "
            "Nothing was evaluated.")


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none"
