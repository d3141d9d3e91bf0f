"""The market operator: slots and their windows, order intake, clearing, result views, the cycle; and the
pure market modules (negawatt events, bilateral contracts, listings, grid trading, multi-settlement).

The operator's names are loaded lazily (PEP 562), so the pure modules (e.g. ``transactive.settlement.negawatt``)
import without the storage layer's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transactive.errors import MarketError
    from transactive.market.clock import AcceleratedClock, Clock, ManualClock, RealClock
    from transactive.market.cycle import CycleRunner
    from transactive.market.intake import OrderIntake
    from transactive.market.operator import Operator, Receipt, hash_key
    from transactive.market.slots import Phase, Window, parse_slot_start, slot_containing, window_at
    from transactive.market.views import result_view
    from transactive.times import iso

_WHERE = {
    "AcceleratedClock": "clock", "Clock": "clock", "ManualClock": "clock", "RealClock": "clock",
    "CycleRunner": "cycle", "MarketError": "transactive.errors", "OrderIntake": "intake",
    "Operator": "operator", "Receipt": "operator", "hash_key": "operator",
    "Phase": "slots", "Window": "slots", "iso": "transactive.times", "parse_slot_start": "slots",
    "slot_containing": "slots", "window_at": "slots", "result_view": "views",
}

__all__ = [
    "AcceleratedClock", "Clock", "CycleRunner", "ManualClock", "MarketError", "Operator", "OrderIntake", "Phase",
    "RealClock", "Receipt", "Window", "hash_key", "iso", "parse_slot_start", "result_view", "slot_containing",
    "window_at",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'transactive.market' has no attribute {name!r}")
    return getattr(importlib.import_module(module if "." in module else f"transactive.market.{module}"), name)
