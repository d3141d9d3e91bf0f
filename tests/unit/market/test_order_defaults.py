"""A member's order defaults: stored in its profile (SQLite and PostgreSQL), put into every order that omits
the fields, whichever interface it came through (the REST path ``prepare_order`` and the MQTT gateway's batch
path ``admit_orders``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from transactive.market import ManualClock, MarketError, Operator
from transactive.market.order_batch import admit_orders
from transactive.market.order_defaults import SUGGESTED, effective, validate
from transactive.registry import full_registry
from transactive.store import OrderRecord, open_store

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
BODY = {"side": "buy", "slot_start": "2026-03-01T10:15:00Z", "energy_kwh": 1.0, "price_per_kwh": 0.3}


def test_profiles_are_stored_replaced_and_kept_per_member(store: Any) -> None:
    op = Operator(store, ManualClock(T0))
    op.create_community("town", "dpda_matched", None, 15)
    for who in ("p", "q"):
        op.add_member("town", who, "prosumer", "1")
    assert store.member_profile("p") is None
    store.put_member_profile("p", {"order_defaults": {"omega": 0.3}}, "t1")
    store.put_member_profile("p", {"order_defaults": {"alpha": 0.1}, "other": [1]}, "t2")  # replaced whole
    assert store.member_profile("p") == {"order_defaults": {"alpha": 0.1}, "other": [1]}
    assert store.member_profile("q") is None


def test_defaults_reach_orders_on_the_rest_and_the_mqtt_paths(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    op.create_community("town", "mcafee_matched", None, 15)
    p, _ = op.add_member("town", "p", "prosumer", "1")
    q, _ = op.add_member("town", "q", "prosumer", "2")
    store.put_member_profile("p", {"order_defaults": {"distance_pref_m": 90, "omega": 0.5}}, "t")
    rest = op.prepare_order(p, "town", {**BODY, "idempotency_key": "a"})
    (batch,) = admit_orders(op, [(q, "town", {**BODY, "idempotency_key": "b"})])
    assert isinstance(batch, OrderRecord)
    assert {k: rest.entry[k] for k in ("distance_pref_m", "omega", "alpha")} == {
        "distance_pref_m": 90, "omega": 0.5, "alpha": SUGGESTED["alpha"]}
    assert {k: batch.entry[k] for k in ("distance_pref_m", "omega", "alpha")} == {
        k: SUGGESTED[k] for k in ("distance_pref_m", "omega", "alpha")}
    assert "a" not in rest.entry  # a seller's parameter is not put into a buyer's order
    # reopened: the profile is on disk
    store.close()
    again = open_store(data_dir=tmp_path)
    assert again.member_profile("p") == {"order_defaults": {"distance_pref_m": 90, "omega": 0.5}}
    again.close()


def test_validation_uses_the_order_rule_and_knows_only_defaultable_fields() -> None:
    mechanism = full_registry()["dpda_matched"]
    assert validate(mechanism, {"a": 1, "c": 0.0}) == {"a": 1.0, "c": 0.0}
    for raw, field in (({"a": -1}, "order_defaults.a"), ({"bus": "7"}, "order_defaults.bus"),
                       ({"x_m": 1.0}, "order_defaults.x_m"), ([], "order_defaults")):
        with pytest.raises(MarketError) as caught:
            validate(mechanism, raw)
        assert caught.value.field == field
    assert effective(full_registry()["uniform"], {"order_defaults": {"omega": 1}}) == {}  # no such fields
    assert effective(mechanism, {"order_defaults": {"omega": 1}})["omega"] == (1, "profile")
