"""A burst of mixed valid and invalid orders through a real broker: each message gets its own correct ack, the
valid orders are stored (once), the invalid ones are not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_mqtt_gateway import Listener

from transactive.api import Service, Settings
from transactive.market import ManualClock

SLOT = "2026-03-01T10:15:00Z"
LATE_SLOT = "2026-03-01T09:45:00Z"  # its quotation closed at 09:48; the clock says 10:00


@pytest.fixture
def service(tmp_path: Path, mosquitto: tuple[str, int]) -> Iterator[Service]:
    host, port = mosquitto
    s = Service(Settings(data_dir=tmp_path, admin_key="tk_admin", run_cycle=False, mqtt_url=f"mqtt://{host}:{port}",
                         clock=ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))))
    s.start()
    yield s
    s.stop()


def test_mixed_burst_each_order_gets_its_own_ack(service: Service, mosquitto: tuple[str, int]) -> None:
    op = service.operator
    op.create_community("green", "uniform", {}, 15)
    keys = {m: op.add_member("green", m, "prosumer")[1] for m in
            ["a0", "a1", "a2", "a3", "b1", "b2", "b3", "b4", "b5", "b6", "b7"]}

    def order(member: str, key: str = "k", **change: Any) -> str:
        body = {"api_key": keys[member], "side": "sell", "slot_start": SLOT, "idempotency_key": key,
                "energy_kwh": 2, "price_per_kwh": 0.5, **change}
        return json.dumps({k: v for k, v in body.items() if v is not None})

    burst = [  # (member, payload, expected status, expected error field)
        ("a0", order("a0"), "created", None),
        ("a1", order("a1", side="buy"), "created", None),
        ("b1", order("b1", price_per_kwh=-1), "rejected", "price_per_kwh"),
        ("a0", order("a0"), "duplicate", None),  # the same order again, same key, same burst
        ("b2", "{not json", "rejected", "(payload)"),
        ("b3", order("a2"), "rejected", "api_key"),  # a2's key on b3's topic
        ("a1", order("a1", key="other"), "rejected", "slot_start"),  # a second order in the slot: conflict
        ("b4", order("b4", side=None), "rejected", "side"),
        ("a2", order("a2", energy_kwh=1e-3, id="a2"), "created", None),
        ("b5", order("b5", slot_start=LATE_SLOT), "rejected", "slot_start"),
        ("b6", order("b6", blocks=[{"energy_kwh": 1, "price_per_kwh": 1}]), "rejected", "blocks"),
        ("b7", order("b7", energy_kwh=0), "rejected", "energy_kwh"),
        ("a3", order("a3", price_per_kwh=0), "created", None),
    ]
    host, port = mosquitto
    listener = Listener(host, port, ["transactive/green/acks/+"])
    try:
        for member, payload, _, _ in burst:  # back to back: the gateway receives them as one or a few bursts
            listener.client.publish(f"transactive/green/orders/{member}", payload, qos=1)
        got: dict[str, list[dict[str, Any]]] = {}
        for _ in burst:
            topic, ack = listener.next()
            got.setdefault(topic.rsplit("/", 1)[1], []).append(ack)
        for member in {m for m, _, _, _ in burst}:
            want = [(status, field) for m, _, status, field in burst if m == member]
            have = [(a["status"], a["error"]["field"] if a["error"] else None) for a in got[member]]
            assert have == want, member
        assert got["a1"][1]["error"]["message"].startswith("you already have an order in this slot")
        stored = service.store.orders_in_slot("green", SLOT)
        assert sorted(o.member for o in stored) == ["a0", "a1", "a2", "a3"]
        assert got["a0"][0]["order"]["id"] == got["a0"][1]["order"]["id"]  # the duplicate is the stored order
        by_member = {o.member: o for o in stored}
        for member in ("a0", "a1", "a2", "a3"):
            assert got[member][0]["order"]["id"] == by_member[member].id
        assert by_member["a2"].entry == {"energy_kwh": 1e-3, "price_per_kwh": 0.5}
        assert service.store.orders_in_slot("green", LATE_SLOT) == []
        assert listener.messages.empty()
    finally:
        listener.close()
