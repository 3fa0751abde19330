"""Environment variables set for a block and put back after it: the one way litzoo changes os.environ."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def environ(values: Mapping[str, str], restore: Iterable[str] = (), unset: Iterable[str] = ()) -> Iterator[None]:
    """`values` in os.environ and the `unset` keys absent from it while the block runs; afterwards those and the
    `restore` keys (variables that code inside the block sets, such as Lightning's DDP ones) are as they were
    before, unset where they were unset."""
    unset = list(unset)
    before = {key: os.environ.get(key) for key in [*values, *restore, *unset]}
    for key in unset:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
