"""Batch admission (``admit_orders``) against the one-order path it replaces (``prepare_order`` + ``accept``).

The reference is the full path, order by order: for every body, in every kind of community, the batch must
give the same record (but a fresh id), the same early answer, or the same rejection (field, message, kind).
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transactive.market import ManualClock, MarketError, Operator
from transactive.market.operator import Receipt
from transactive.market.order_batch import admit_orders, uuid4_texts
from transactive.store import Member, OrderRecord, SqlStore, open_store

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
OPEN_SLOT = "2026-03-01T10:15:00Z"
CLOSED_SLOT = "2026-03-01T09:45:00Z"  # quotation closed at 09:48
MECHANISMS = {"green": "uniform", "knap": "knapsack_vcg", "dbl": "double_auction_vcg", "mm": "mcafee_matched",
              "dra": "dra_fixed_price"}
PARAMS: dict[str, dict[str, Any]] = {"knap": {"target_kwh": 5}, "dra": {"request_kwh": 5, "offer_price_per_kwh": 1}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Operator, list[Member]]]:
    store: SqlStore = open_store(data_dir=Path(tmp_path_factory.mktemp("batch")))
    clock = ManualClock(datetime(2026, 3, 1, 9, 40, tzinfo=UTC))
    op = Operator(store, clock)
    members = []
    for name, mechanism in MECHANISMS.items():
        op.create_community(name, mechanism, PARAMS.get(name, {}), 15)
        members.append(op.add_member(name, f"p-{name}", "prosumer")[0])
    members.append(op.add_member("green", "dso", "dso")[0])
    # an order stored while CLOSED_SLOT was open: a later retry is answered from the store (or a conflict)
    op.submit_order(members[0], "green", {"side": "sell", "slot_start": CLOSED_SLOT, "idempotency_key": "old",
                                          "energy_kwh": 2, "price_per_kwh": 1})
    clock.set(T0)
    yield op, members
    store.close()


numbers = st.sampled_from([1, 2.5, 0, 0.0, -1, 1e-9, True, "1", None, 1e9, 1e9 + 1, 10**400, math.inf, math.nan])
VALID = {"side": "sell", "slot_start": OPEN_SLOT, "idempotency_key": "k", "energy_kwh": 1.5, "price_per_kwh": 0.2}
VARIANTS: dict[str, st.SearchStrategy[Any]] = {
    "side": st.sampled_from(["sell", "buy", "hold", 1, None]),
    "slot_start": st.sampled_from([OPEN_SLOT, CLOSED_SLOT, "2026-03-01T10:20:00Z", "2026-03-20T10:00:00Z",
                                   "2026-03-01T10:15:00+00:00", "soon", 5, ["x"]]),
    "idempotency_key": st.sampled_from(["k", "old", "", "x" * 129, 3]),
    "energy_kwh": numbers, "price_per_kwh": numbers, "id": st.sampled_from(["p-green", "someone", 7]),
    "bus": st.just("b1"), "blocks": st.just([{"energy_kwh": 1, "price_per_kwh": 1}])}


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid common-shape order with a few fields changed, added or dropped (most orders are near-valid)."""
    body = dict(VALID)
    for name in draw(st.lists(st.sampled_from(sorted(VARIANTS)), max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(VARIANTS[name])
    return body


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, str, dict[str, Any]]:
    """(member index, community, body): usually the member's own community, sometimes another."""
    index = draw(st.integers(0, len(MECHANISMS)))
    own = list(MECHANISMS)[min(index, len(MECHANISMS) - 1)]
    community = own if draw(st.integers(0, 4)) else draw(st.sampled_from(list(MECHANISMS)))
    return index, community, draw(bodies())


def reference(op: Operator, member: Member, community: str, body: dict[str, Any]) -> object:
    try:
        order = op.prepare_order(member, community, body)
        return op.accept(order) or order
    except MarketError as exc:
        return exc


def same(got: object, want: object) -> bool:
    if isinstance(want, MarketError):
        return isinstance(got, MarketError) and (got.field, got.message, got.kind) == \
            (want.field, want.message, want.kind)
    if isinstance(want, Receipt):
        return isinstance(got, Receipt) and (got.outcome, got.order) == (want.outcome, want.order)
    assert isinstance(want, OrderRecord)
    return isinstance(got, OrderRecord) and dataclasses.replace(got, id=want.id) == want


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(requests(), min_size=1, max_size=8))
def test_batch_admission_matches_the_one_order_path(world: tuple[Operator, list[Member]],
                                                    batch: list[tuple[int, str, dict[str, Any]]]) -> None:
    op, members = world
    requests = [(members[m], community, body) for m, community, body in batch]
    want = [reference(op, member, community, dict(body)) for member, community, body in requests]
    got = admit_orders(op, [(member, community, dict(body)) for member, community, body in requests])
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert same(g, w), (g, w)


def test_the_common_shape_is_admitted_and_distinct_ids(world: tuple[Operator, list[Member]]) -> None:
    op, members = world
    body = {"side": "sell", "slot_start": OPEN_SLOT, "idempotency_key": "k", "energy_kwh": 3, "price_per_kwh": 0}
    got = admit_orders(op, [(members[0], "green", dict(body)) for _ in range(50)])
    assert all(isinstance(g, OrderRecord) for g in got)
    records = [g for g in got if isinstance(g, OrderRecord)]
    assert records[0].entry == {"energy_kwh": 3.0, "price_per_kwh": 0.0}
    assert len({r.id for r in records}) == 50


def test_uuid4_texts_are_version_4_uuids() -> None:
    texts = uuid4_texts(1000)
    parsed = [uuid.UUID(t) for t in texts]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == t for u, t in zip(parsed, texts,
                                                                                            strict=True))
    assert len(set(texts)) == 1000
