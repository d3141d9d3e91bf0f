"""The market operator: slots and their windows, order intake, clearing, result views, the cycle."""

from __future__ import annotations

from transactive.market.clock import AcceleratedClock, Clock, ManualClock, RealClock
from transactive.market.cycle import CycleRunner
from transactive.market.errors import MarketError
from transactive.market.intake import OrderIntake
from transactive.market.operator import Operator, Receipt, hash_key
from transactive.market.slots import Phase, Window, iso, parse_slot_start, slot_containing, window_at
from transactive.market.views import result_view

__all__ = [
    "AcceleratedClock", "Clock", "CycleRunner", "ManualClock", "MarketError", "Operator", "OrderIntake", "Phase",
    "RealClock", "Receipt", "Window", "hash_key", "iso", "parse_slot_start", "result_view", "slot_containing",
    "window_at",
]
