"""An Optuna search space from Hydra's sweep syntax, read by Hydra's own override parser (as hydra-optuna-sweeper
read it): `interval(a,b)`, `tag(log,interval(a,b))`, `choice(a,b)`, `range(a,b[,step])` and plain `a,b,c`.

Overrides that sweep nothing (`trainer.max_epochs=3`) are constants: passed to every trial as written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from litzoo.errors import LitzooError
from litzoo.run.runtime_keys import WHERE_AND_WATCH


class SearchSpaceError(LitzooError):
    """A sweep override Optuna cannot search (a glob, a range without values)."""


@dataclass
class SearchSpace:
    """The swept parameters (name -> Optuna distribution) and the constant overrides of a search."""

    distributions: dict[str, Any] = field(default_factory=dict)
    constants: list[str] = field(default_factory=list)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """A trial's command line: its sampled values, then the constants."""
        return [f"{name}={override_text(value)}" for name, value in params.items()] + self.constants

    def signature(self) -> dict[str, Any]:
        """What a re-run of the search must keep: the distributions and the constants that change what a trial
        trains (paths, loggers and the like may differ: litzoo.run.runtime_keys.WHERE_AND_WATCH)."""
        from optuna.distributions import distribution_to_json

        from litzoo.run.compose import override_key

        kept = sorted(c for c in self.constants if not override_key(c).lstrip("+~").startswith(WHERE_AND_WATCH))
        return {"space": {k: json.loads(distribution_to_json(d)) for k, d in sorted(self.distributions.items())},
                "constants": kept}

    def grid(self) -> dict[str, list[Any]]:
        """Every value of each parameter, for the grid sampler (discrete parameters only)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        grid: dict[str, list[Any]] = {}
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[name] = list(dist.choices)
            elif isinstance(dist, (IntDistribution, FloatDistribution)) and dist.step is not None and not dist.log:
                count = round((dist.high - dist.low) / dist.step) + 1
                grid[name] = [dist.low + i * dist.step for i in range(count)]
            else:
                raise SearchSpaceError(f"the grid sampler needs discrete values, but {name} is a continuous "
                                       f"interval ({dist}); use choice(...), range(...) or a,b,c")
        return grid


def override_text(value: Any) -> str:
    """A sampled value as an override value Hydra reads back as the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_search_space(arguments: list[str]) -> SearchSpace:
    """The search space of `arguments` (hydra.sweeper.params as `key=value` first, then the command line)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = SearchSpace()
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        name = override.get_key_element()
        if override.is_sweep_override():
            space.distributions[name] = distribution(override)
            space.constants = [c for c in space.constants if not c.startswith(f"{name}=")]
        else:
            space.distributions.pop(name, None)  # a later constant wins, as on Hydra's command line
            space.constants.append(override.input_line)
    return space


def distribution(override: Any) -> Any:
    """The Optuna distribution of one sweep override."""
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    value = override.value()
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(int(value.start), int(value.end), log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    values = list(override.sweep_iterator(transformer=Transformer.encode))
    if not values:
        raise SearchSpaceError(f"{override.input_line} sweeps no values")
    if override.is_range_sweep() and not value.shuffle and len(values) > 1:
        low, high, step = min(values), max(values), abs(value.step)
        if all(isinstance(v, int) for v in values):
            return IntDistribution(low, high, step=int(step))
        return FloatDistribution(float(low), float(high), step=float(step))
    if override.is_choice_sweep() or override.is_range_sweep():
        bad = [v for v in values if not isinstance(v, (str, int, float, bool, type(None)))]
        if bad:
            raise SearchSpaceError(f"{override.input_line}: a choice takes plain values, not {bad[0]!r}")
        return CategoricalDistribution(values)
    raise SearchSpaceError(f"{override.input_line}: Optuna searches interval(), choice(), range() and a,b,c lists, "
                           "not this sweep")
