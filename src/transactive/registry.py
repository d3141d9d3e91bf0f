"""Every mechanism a market file can name: the pure core (:data:`transactive.mechanisms.REGISTRY`) plus the
grid-aware ones built above it (score matching on the feeder, in :mod:`transactive.matching`).

Kept outside :mod:`transactive.mechanisms` so that the pure core never imports the grid layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from transactive.mechanisms import REGISTRY, Mechanism

_EXTENSIONS = ("transactive.matching.mechanisms",)


@cache
def full_registry() -> Mapping[str, Mechanism[Any]]:
    """All mechanisms by name (sorted)."""
    found: dict[str, Mechanism[Any]] = dict(REGISTRY)
    for module_name in _EXTENSIONS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that layer is not part of this installation
            raise
        for mechanism in getattr(module, "MECHANISMS", ()):
            if mechanism.name in found:
                raise RuntimeError(f"mechanism {mechanism.name!r} registered twice")
            found[mechanism.name] = mechanism
    return MappingProxyType(dict(sorted(found.items())))
