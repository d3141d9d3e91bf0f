"""The MQTT gateway against a real Mosquitto broker: orders in, durable acks out, results published."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from transactive.api import Service, Settings
from transactive.market import ManualClock
from transactive.mqtt import parse_mqtt_url

SLOT = "2026-03-01T10:15:00Z"


class Listener:
    """A plain MQTT client collecting messages by topic."""

    def __init__(self, host: str, port: int, topics: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: (c.subscribe([(t, 1) for t in topics]), None)[1]
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, json.loads(m.payload)))
        self.client.connect(host, port)
        self.client.loop_start()
        assert ready.wait(10)

    def publish(self, topic: str, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.client.publish(topic, text, qos=1).wait_for_publish(10)

    def next(self, timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def service(tmp_path: Path, mosquitto: tuple[str, int]) -> Iterator[Service]:
    host, port = mosquitto
    s = Service(Settings(data_dir=tmp_path, admin_key="tk_admin", clock=ManualClock(datetime(2026, 3, 1, 10, 0,
                                                                                                 tzinfo=UTC)),
                         run_cycle=False, mqtt_url=f"mqtt://{host}:{port}"))
    s.start()
    yield s
    s.stop()


def test_parse_mqtt_url() -> None:
    assert parse_mqtt_url("mqtt://u:p@broker:1884") == ("broker", 1884, "u", "p")
    assert parse_mqtt_url("mqtt://127.0.0.1") == ("127.0.0.1", 1883, None, None)
    with pytest.raises(ValueError, match="mqtt://"):
        parse_mqtt_url("http://x")


def test_orders_acked_after_durable_and_results_published(service: Service, mosquitto: tuple[str, int]) -> None:
    op = service.operator
    op.create_community("green", "uniform", {}, 15)
    _, alice = op.add_member("green", "alice", "prosumer")
    _, bob = op.add_member("green", "bob", "prosumer")
    host, port = mosquitto
    listener = Listener(host, port, ["transactive/green/acks/+", "transactive/green/results/#"])
    try:
        sell = {"api_key": alice, "side": "sell", "slot_start": SLOT, "idempotency_key": "a1", "energy_kwh": 10,
                "price_per_kwh": 1.0}
        listener.publish("transactive/green/orders/alice", sell)
        topic, ack = listener.next()
        assert topic == "transactive/green/acks/alice" and ack["status"] == "created"
        # the ack came after the commit: the order is in the store now
        assert [o.id for o in service.store.orders_of_member("alice")] == [ack["order"]["id"]]
        listener.publish("transactive/green/orders/alice", sell)
        assert listener.next()[1]["status"] == "duplicate"
        # rejections name the field
        listener.publish("transactive/green/orders/bob", {**sell, "api_key": bob, "idempotency_key": "b0",
                                                          "price_per_kwh": -2})
        topic, ack = listener.next()
        assert (topic, ack["status"], ack["error"]["field"]) == ("transactive/green/acks/bob", "rejected",
                                                                 "price_per_kwh")
        listener.publish("transactive/green/orders/bob", {**sell, "idempotency_key": "b0"})  # alice's key
        assert listener.next()[1]["error"]["field"] == "api_key"
        listener.publish("transactive/green/orders/bob", "{oops")
        assert listener.next()[1]["error"]["field"] == "(payload)"
        assert service.store.orders_of_member("bob") == []
        listener.publish("transactive/green/orders/bob", {"api_key": bob, "side": "buy", "slot_start": SLOT,
                                                          "idempotency_key": "b1", "energy_kwh": 4,
                                                          "price_per_kwh": 3})
        assert listener.next()[1]["status"] == "created"
        # clear and publish: summary without rows, each member's own rows on its own topic
        assert isinstance(op.clock, ManualClock)
        op.clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))
        for slot in op.clear_due():
            service.gateway.publish_result(slot)
        got = dict(listener.next() for _ in range(3))
        summary = got[f"transactive/green/results/{SLOT}"]
        assert summary["price_per_kwh"] == 2.0 and summary["traded_kwh"] == 4.0 and "sellers" not in summary
        assert got[f"transactive/green/results/{SLOT}/alice"]["payment"] == 8.0
        assert got[f"transactive/green/results/{SLOT}/bob"]["side"] == "buy"
        # meter readings
        op.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
        listener.publish("transactive/green/meters/alice", {"api_key": alice, "slot_start": SLOT, "energy_kwh": 4})
        ack = listener.next()[1]
        assert (ack["kind"], ack["status"]) == ("meter_reading", "created")
        assert [r.energy_kwh for r in service.store.meter_readings("green", SLOT)] == [4.0]
    finally:
        listener.close()


def test_many_orders_batch_into_few_commits(service: Service, mosquitto: tuple[str, int]) -> None:
    op = service.operator
    op.create_community("green", "uniform", {}, 15)
    keys = {f"m{i}": op.add_member("green", f"m{i}", "prosumer")[1] for i in range(200)}
    host, port = mosquitto
    listener = Listener(host, port, ["transactive/green/acks/+"])
    try:
        for member, key in keys.items():
            listener.client.publish(f"transactive/green/orders/{member}", json.dumps({
                "api_key": key, "side": "sell", "slot_start": SLOT, "idempotency_key": "k", "energy_kwh": 1,
                "price_per_kwh": 1}), qos=1)
        acks = [listener.next()[1] for _ in keys]
        assert {a["status"] for a in acks} == {"created"}
        assert len(service.store.orders_in_slot("green", SLOT)) == 200
        assert service.intake.batches < 200
    finally:
        listener.close()


def test_order_not_committed_is_redelivered_to_the_next_gateway(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    """The gateway PUBACKs an order only after its commit: if storing fails and the gateway goes away, the
    broker hands the order to the next gateway with the same (persistent) session, which stores it once."""
    host, port = mosquitto
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    def settings() -> Settings:
        return Settings(data_dir=tmp_path, admin_key="tk_admin", clock=clock, run_cycle=False,
                        mqtt_url=f"mqtt://{host}:{port}", mqtt_client_id="gw-redelivery-test")

    first = Service(settings())
    first.operator.create_community("green", "uniform", {}, 15)
    _, alice = first.operator.add_member("green", "alice", "prosumer")
    failed = threading.Event()

    def broken(orders: Any) -> Any:
        failed.set()
        raise RuntimeError("disk on fire")

    first.start()
    first.store.put_orders = broken  # type: ignore[method-assign]
    listener = Listener(host, port, ["transactive/green/acks/+"])
    try:
        listener.publish("transactive/green/orders/alice", {
            "api_key": alice, "side": "sell", "slot_start": SLOT, "idempotency_key": "r1", "energy_kwh": 1,
            "price_per_kwh": 1})
        assert failed.wait(10)
        first.stop()
        assert listener.messages.empty()  # nothing was acknowledged
        second = Service(settings())
        second.start()
        try:
            topic, ack = listener.next()
            assert (topic, ack["status"]) == ("transactive/green/acks/alice", "created")
            assert [o.idempotency_key for o in second.store.orders_of_member("alice")] == ["r1"]
        finally:
            second.stop()
    finally:
        listener.close()
