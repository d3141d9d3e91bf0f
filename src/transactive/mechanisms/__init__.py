"""Pure clearing mechanisms, chosen by name through :data:`REGISTRY`.

Every mechanism is a function ``clear(sellers: Orders, buyers: Orders, params) -> ClearingResult`` with no
I/O, no clock and no global state. ``params`` is the mechanism's own frozen dataclass.

Example:
    >>> from transactive.mechanisms import REGISTRY
    >>> sorted(REGISTRY)[:2]
    ['double_auction_vcg', 'dpda']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from transactive.mechanisms._registry import Mechanism, NoParams, ParamError, ParticipantField

_MODULES = (
    "knapsack_vcg",
    "double_auction_vcg",
    "mcafee",
    "dpda",
    "dra_fixed_price",
    "p2p_average_price",
    "uniform",
)


def _load() -> Mapping[str, Mechanism[Any]]:
    import importlib

    found: dict[str, Mechanism[Any]] = {}
    for module_name in _MODULES:
        module = importlib.import_module(f"transactive.mechanisms.{module_name}")
        for mechanism in getattr(module, "MECHANISMS", ()):
            if mechanism.name in found:
                raise RuntimeError(f"mechanism {mechanism.name!r} registered twice")
            found[mechanism.name] = mechanism
    return MappingProxyType(dict(sorted(found.items())))


REGISTRY: Mapping[str, Mechanism[Any]] = _load()

__all__ = ["REGISTRY", "Mechanism", "NoParams", "ParamError", "ParticipantField"]
