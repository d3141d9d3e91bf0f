"""Issue 12 finding 7 at the scale of a simulated day: with ``dpda_matched`` (the day's default), no slot's
score matching leaves a participant worse off than its own price, and ``details.individually_rational`` says
so. On the code before the fix this day (seed 3, 96 slots, synthetic profiles) had 12 such slots, each
reported as rational.

Oracle: every slot's matched result, checked participant by participant in exact rational arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from transactive.matching import pipeline
from transactive.orders import Orders
from transactive.sim.day import DayConfig, run_day


def _irrational(sellers: Orders, buyers: Orders, outcome: pipeline.MatchedOutcome) -> list[str]:
    r = outcome.to_clearing_result("dpda_matched")
    bad = []
    for orders, alloc, seller in ((sellers, r.sellers, True), (buyers, r.buyers, False)):
        for k, pid in enumerate(orders.ids):
            e, pay = Fraction(float(alloc.energy_kwh[k])), Fraction(float(alloc.payment[k]))
            at_price = Fraction(float(orders.price_per_kwh[k])) * e
            gain = pay - at_price if seller else at_price - pay
            if gain < -Fraction(1, 10**9) * max(1, abs(at_price)):
                bad.append(pid)
    return bad


def test_no_slot_of_the_day_has_an_irrational_matched_trade(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slots: list[tuple[list[str], bool]] = []
    original = pipeline.match_energies

    def recording(sellers: Orders, buyers: Orders, *args: Any, **kwargs: Any) -> pipeline.MatchedOutcome:
        outcome = original(sellers, buyers, *args, **kwargs)
        flag = outcome.to_clearing_result("dpda_matched").details["individually_rational"]
        slots.append((_irrational(sellers, buyers, outcome), flag))
        return outcome

    monkeypatch.setattr(pipeline, "match_energies", recording)
    run_day(DayConfig(seed=3, n_slots=96, mechanism="dpda_matched", on_chain=False, dso_power_flow=False,
                      profiles="synthetic"), tmp_path)
    assert len(slots) > 50  # the community clears in most slots of the day
    assert [bad for bad, _ in slots if bad] == []
    assert all(flag for _, flag in slots)
