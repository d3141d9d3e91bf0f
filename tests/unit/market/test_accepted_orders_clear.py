"""One validation (issue 9, finding 3): any set of orders the intake accepts clears.

Hypothesis draws orders with hostile magnitudes (0, a fraction of a Wh, 1e9, 1e12, alpha 0, ...) for members of
a `dpda_matched` (the default mechanism, on the IEEE LV feeder) and a `uniform` community of a service running
its ledger (orders cleared at the ledger's batch resolution). The orders the intake accepts are cleared: the
slot must clear whenever both sides have an accepted order (a side left empty is the only reason to be void).
Also the three orders of the finding, each a 422 naming its field.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transactive.api import Service, Settings
from transactive.grid.feeder import load_feeder
from transactive.market import ManualClock, MarketError
from transactive.market.ledger.desk import LedgerConfig
from transactive.store import Member, SlotState
from transactive.times import iso

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
MEMBERS = 6

magnitude = st.one_of(st.sampled_from([0.0, 1e-7, 0.0004, 0.0005, 0.0015, 249.9, 250.0, 250.1, 1e9, 1e12]),
                      st.floats(min_value=0.0, max_value=1e4, allow_nan=False))
price = st.one_of(st.sampled_from([0.0, 1e-7, 4e-7, 1000.0, 1000.1, 1e9]),
                  st.floats(min_value=0.0, max_value=50.0, allow_nan=False))
attribute = st.one_of(st.sampled_from([0.0, 1e-10, 4e-10, 1e-9, 1e9, 2e9]),
                      st.floats(min_value=0.0, max_value=10.0, allow_nan=False))


@st.composite
def orders(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=MEMBERS))):
        side = draw(st.sampled_from(["sell", "buy"]))
        body: dict[str, Any] = {"side": side, "energy_kwh": draw(magnitude), "price_per_kwh": draw(price),
                                "distance_pref_m": draw(attribute) * 100}
        names = ("a", "b", "c") if side == "sell" else ("omega", "alpha")
        body.update({name: draw(attribute) for name in names})
        out.append((side, body))
    return out


class Market:
    """A service with its ledger (in-memory embedded chain), one community per mechanism, six members each."""

    def __init__(self, data_dir: Path) -> None:
        self.clock = ManualClock(START)
        self.service = Service(Settings(data_dir=data_dir, admin_key="tk_admin_prop", clock=self.clock,
                                        run_cycle=False, ledger=LedgerConfig(validators=1, threshold=1)))
        op = self.service.operator
        buses = load_feeder("ieee_european_lv").load_buses
        self.members: dict[str, list[Member]] = {}
        for mechanism in ("dpda_matched", "uniform"):
            op.create_community(mechanism.replace("_", "-"), mechanism, {}, 15)
            self.members[mechanism] = [
                op.authenticate(op.add_member(mechanism.replace("_", "-"), f"{mechanism}-{k}", "prosumer",
                                              buses[k] if mechanism == "dpda_matched" else None)[1])
                for k in range(MEMBERS)]
        self.slot = START

    def next_slot(self) -> datetime:
        self.slot += timedelta(minutes=15)
        self.clock.set(self.slot - timedelta(minutes=10))
        return self.slot


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    m = Market(tmp_path_factory.mktemp("prop"))
    yield m
    m.service.stop()


def _submit(market: Market, mechanism: str, k: int, slot: datetime, body: dict[str, Any]) -> bool:
    op = market.service.operator
    member = market.members[mechanism][k]
    fields = {"uniform": {"side", "energy_kwh", "price_per_kwh"}}.get(mechanism)
    entry = {key: v for key, v in body.items() if fields is None or key in fields}
    try:
        op.submit_order(member, member.community or "", {**entry, "slot_start": iso(slot),
                                                        "idempotency_key": f"{iso(slot)}-{k}"})
    except MarketError as exc:
        assert exc.kind == "invalid" and exc.field, exc
        return False
    return True


@pytest.mark.parametrize("mechanism", ["dpda_matched", "uniform"])
@given(drawn=orders())
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_accepted_set_of_orders_clears(market: Market, mechanism: str,
                                           drawn: list[tuple[str, dict[str, Any]]]) -> None:
    slot = market.next_slot()
    sides = {side for k, (side, body) in enumerate(drawn) if _submit(market, mechanism, k, slot, body)}
    market.clock.set(slot + timedelta(minutes=1))
    cleared = market.service.operator.clear_slot(mechanism.replace("_", "-"), slot)
    if sides == {"sell", "buy"}:
        assert cleared.state is SlotState.CLEARED, cleared.note
    else:
        assert cleared.state is SlotState.VOID


@pytest.mark.parametrize(("mechanism", "change", "field"), [
    ("dpda_matched", {"alpha": 0}, "alpha"),
    ("uniform", {"energy_kwh": 0.0004}, "energy_kwh"),
    ("uniform", {"energy_kwh": 1e9, "price_per_kwh": 1e9}, "energy_kwh"),
    ("uniform", {"price_per_kwh": 1e9}, "price_per_kwh"),
])
def test_the_findings_orders_are_422_naming_the_field(market: Market, mechanism: str, change: dict[str, Any],
                                                      field: str) -> None:
    slot = market.next_slot()
    body = {"side": "buy", "energy_kwh": 1.0, "price_per_kwh": 0.3, "distance_pref_m": 100, "omega": 1,
            "alpha": 0.1, **change}
    member = market.members[mechanism][0]
    if mechanism == "uniform":
        body = {k: v for k, v in body.items() if k in {"side", "energy_kwh", "price_per_kwh"}}
    with pytest.raises(MarketError) as raised:
        market.service.operator.submit_order(member, member.community or "",
                                             {**body, "slot_start": iso(slot), "idempotency_key": f"x-{iso(slot)}"})
    assert (raised.value.kind, raised.value.field) == ("invalid", field)


def test_the_mqtt_batch_path_rejects_them_alike(market: Market) -> None:
    """The gateway's batch admission (fast path for simple orders) gives the same 422s as a REST order."""
    from transactive.market.order_batch import admit_orders

    slot = market.next_slot()
    member = market.members["uniform"][1]
    bodies = [{"energy_kwh": 0.0004}, {"energy_kwh": 250.1}, {"price_per_kwh": 1000.5}, {"energy_kwh": 250.0}]
    requests = [(member, "uniform", {"side": "sell", "energy_kwh": 1.0, "price_per_kwh": 0.2, **b,
                                     "slot_start": iso(slot), "idempotency_key": f"mqtt-{k}"})
                for k, b in enumerate(bodies)]
    admitted = admit_orders(market.service.operator, requests)
    assert [(type(a).__name__, getattr(a, "field", None)) for a in admitted] == [
        ("MarketError", "energy_kwh"), ("MarketError", "energy_kwh"), ("MarketError", "price_per_kwh"),
        ("OrderRecord", None)]
