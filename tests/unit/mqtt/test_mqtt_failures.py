"""The gateway under storage failures and back pressure, against a real Mosquitto and a real SQLite database.

* A commit that fails is retried; one that keeps failing makes the gateway reconnect so that the broker
  redelivers the order, which is then stored once and acknowledged (never acknowledged before it is stored).
  The failure is real: a trigger in the service's own SQLite file aborts every insert into ``orders`` until
  the test drops it.
* Acks follow the order of the messages, also when an immediate rejection comes after an order that waits
  for its commit (the commit is held back by another connection holding SQLite's write lock).
* With every packet id in flight the reader thread still reads: only the acker waits for ids.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_mqtt_gateway import Listener

from service_support import forget_mqtt_sessions
from transactive.api import Service, Settings
from transactive.market import ManualClock
from transactive.mqtt.connection import MAX_PACKET_ID
from transactive.mqtt.gateway import Gateway
from transactive.store.sql import SQLITE_FILE

SLOT = "2026-03-01T10:15:00Z"
SLOT2 = "2026-03-01T10:30:00Z"
CLIENT_ID = "gw-failure-test"
FAIL = "CREATE TRIGGER fail_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'disk failure (test)'); END"


@pytest.fixture
def service(tmp_path: Path, mosquitto: tuple[str, int]) -> Iterator[Service]:
    host, port = mosquitto
    s = Service(Settings(data_dir=tmp_path, admin_key="tk_admin", run_cycle=False, mqtt_url=f"mqtt://{host}:{port}",
                         mqtt_client_id=CLIENT_ID, clock=ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))))
    s.start()
    yield s
    s.stop()
    forget_mqtt_sessions(host, port, [CLIENT_ID])


@pytest.fixture
def alice(service: Service) -> str:
    service.operator.create_community("green", "uniform", {}, 15)
    return service.operator.add_member("green", "alice", "prosumer")[1]


@pytest.fixture
def listener(mosquitto: tuple[str, int]) -> Iterator[Listener]:
    listening = Listener(*mosquitto, ["transactive/green/acks/+"])
    yield listening
    listening.close()


def database(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / SQLITE_FILE, isolation_level=None, timeout=30)


def order(api_key: str, key: str, slot: str = SLOT, **change: Any) -> str:
    return json.dumps({"api_key": api_key, "side": "sell", "slot_start": slot, "idempotency_key": key,
                       "energy_kwh": 1, "price_per_kwh": 1, **change})


def gateway(service: Service) -> Gateway:
    assert service.gateway is not None
    return service.gateway


def test_a_transient_commit_failure_is_retried(tmp_path: Path, service: Service, alice: str,
                                               listener: Listener) -> None:
    db = database(tmp_path)
    db.execute(FAIL)
    listener.publish("transactive/green/orders/alice", order(alice, "r1"))
    assert gateway(service).wait_for(lambda: gateway(service).commit_failures >= 1, 30)
    assert listener.messages.empty()  # not stored, not acknowledged
    db.execute("DROP TRIGGER fail_orders")
    topic, ack = listener.next(timeout_s=30)
    assert (topic, ack["status"], ack["idempotency_key"]) == ("transactive/green/acks/alice", "created", "r1")
    assert [o.id for o in service.store.orders_of_member("alice")] == [ack["order"]["id"]]
    db.close()


def test_a_lasting_failure_reconnects_and_the_broker_redelivers(tmp_path: Path, service: Service, alice: str,
                                                                listener: Listener) -> None:
    gw = gateway(service)
    connections = gw.connection.connections
    db = database(tmp_path)
    db.execute(FAIL)
    listener.publish("transactive/green/orders/alice", order(alice, "r2"))
    # every retry fails: the gateway drops its connection so that the broker delivers the order again
    assert gw.wait_for(lambda: gw.forced_reconnects >= 1, 60)
    assert gw.commit_failures >= 1 + len(gw.retry_delays_s)
    assert listener.messages.empty()
    db.execute("DROP TRIGGER fail_orders")
    topic, ack = listener.next(timeout_s=60)  # the redelivered order, stored now
    assert (topic, ack["status"], ack["idempotency_key"]) == ("transactive/green/acks/alice", "created", "r2")
    assert gw.connection.connections > connections
    assert [o.id for o in service.store.orders_of_member("alice")] == [ack["order"]["id"]]
    db.close()


def test_acks_follow_the_message_order_around_a_commit(tmp_path: Path, service: Service, alice: str,
                                                       listener: Listener) -> None:
    """One member's burst: an order waiting for its commit, then rejections answered without a commit, then
    another order. Each ack answers its own message (idempotency key, or its place for a keyless one), in the
    order of the messages (docs/mqtt.md, "Order of the acks")."""
    gw = gateway(service)
    db = database(tmp_path)
    db.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the gateway's commit waits for it
    burst = [order(alice, "w1"), "{not json", order(alice, "bad", price_per_kwh=-1), order(alice, "w2", SLOT2)]
    for payload in burst:
        listener.client.publish("transactive/green/orders/alice", payload, qos=1)
    assert gw.wait_for(lambda: gw.received >= len(burst), 30)  # all read, admitted, the orders sent to commit
    assert listener.messages.empty()  # the rejections wait for the order received before them
    db.execute("COMMIT")
    acks = [listener.next(timeout_s=30)[1] for _ in burst]
    assert [(a["idempotency_key"], a["status"]) for a in acks] == [
        ("w1", "created"), (None, "rejected"), ("bad", "rejected"), ("w2", "created")]
    assert [a["error"]["field"] for a in acks[1:3]] == ["(payload)", "price_per_kwh"]
    stored = {o.idempotency_key: o.id for o in service.store.orders_of_member("alice")}
    assert stored == {"w1": acks[0]["order"]["id"], "w2": acks[3]["order"]["id"]}
    db.close()


def test_the_reader_keeps_reading_while_every_packet_id_is_in_flight(service: Service, alice: str,
                                                                     listener: Listener) -> None:
    """All 65,535 outgoing packet ids taken: the acks must wait for PUBACKs, which only the reader thread reads.
    So the reader must not be the one waiting: it goes on receiving and committing orders meanwhile."""
    gw = gateway(service)
    connection = gw.connection
    taken = connection._allocate(MAX_PACKET_ID)  # as if the broker had not yet acknowledged 65,535 acks
    try:
        listener.publish("transactive/green/orders/alice", order(alice, "x1", price_per_kwh=-1))
        listener.publish("transactive/green/orders/alice", order(alice, "x2"))
        assert gw.wait_for(lambda: gw.received >= 2, 30)  # the reader was not stuck on the first ack
        # the group commit is first in, first out: once bob's order (REST path) is stored, alice's x2 is too
        bob, _ = service.operator.add_member("green", "bob", "prosumer")
        service.operator.submit_order(bob, "green", {"side": "buy", "slot_start": SLOT, "idempotency_key": "b1",
                                                    "energy_kwh": 1, "price_per_kwh": 1})
        assert [o.idempotency_key for o in service.store.orders_of_member("alice")] == ["x2"]
        assert listener.messages.empty()  # no id free for the acks yet
    finally:
        with connection._ids:  # the broker's PUBACKs arrive: the ids are free again
            for packet_id in taken:
                connection._inflight.pop(packet_id, None)
            connection._ids.notify_all()
    acks = [listener.next(timeout_s=30)[1] for _ in range(2)]
    assert [(a["idempotency_key"], a["status"]) for a in acks] == [("x1", "rejected"), ("x2", "created")]


def test_a_meter_reading_not_stored_is_redelivered(tmp_path: Path, service: Service, alice: str,
                                                   listener: Listener) -> None:
    """A storage error outside the order commit (here: storing a meter reading, on the reader thread): no ack,
    no PUBACK, a pause, then a reconnect so that the broker delivers the reading again."""
    gw = gateway(service)
    clock = service.operator.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    db = database(tmp_path)
    db.execute("CREATE TRIGGER fail_meters BEFORE INSERT ON meter_readings "
               "BEGIN SELECT RAISE(ABORT, 'disk failure (test)'); END")
    listener.publish("transactive/green/meters/alice", {"api_key": alice, "slot_start": SLOT, "energy_kwh": 4})
    assert gw.wait_for(lambda: gw.forced_reconnects >= 1, 60)
    assert listener.messages.empty()
    db.execute("DROP TRIGGER fail_meters")
    topic, ack = listener.next(timeout_s=60)
    assert (topic, ack["kind"], ack["status"], ack["slot_start"]) == ("transactive/green/acks/alice",
                                                                      "meter_reading", "created", SLOT)
    assert [r.energy_kwh for r in service.store.meter_readings("green", SLOT)] == [4.0]
    db.close()


def test_a_message_that_keeps_failing_is_dead_lettered_not_redelivered_forever(
        service: Service, alice: str, listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """Processing raises every time (a bug, not a rejection): the broker redelivers the message after each
    failure until it has failed MAX_DELIVERY_ATTEMPTS times; then it is recorded in the dead letters with the
    reason, answered, and the broker stops delivering it."""
    from transactive.mqtt.gateway import MAX_DELIVERY_ATTEMPTS

    gw = gateway(service)
    calls: list[str | None] = []

    def broken(api_key: str | None) -> Any:
        calls.append(api_key)
        raise RuntimeError("a bug in processing")

    monkeypatch.setattr(service.operator, "authenticate", broken)
    listener.publish("transactive/green/orders/alice", order(alice, "loop"))
    assert gw.wait_for(lambda: gw.dead_letters >= 1, 60)
    ack = listener.next(timeout_s=30)[1]
    assert ack["status"] == "rejected" and ack["error"]["field"] == "(payload)"
    assert ack["error"]["message"] == f"failed {MAX_DELIVERY_ATTEMPTS} times: RuntimeError: a bug in processing"
    letters = service.store.dead_letters()
    assert [(d.topic, d.reason) for d in letters] == [("transactive/green/orders/alice", ack["error"]["message"])]
    assert len(calls) == MAX_DELIVERY_ATTEMPTS
    assert gw.forced_reconnects == MAX_DELIVERY_ATTEMPTS - 1
    received = gw.received
    assert not gw.wait_for(lambda: gw.received > received, 3)  # acknowledged: not delivered again


def test_malformed_messages_are_rejected_acknowledged_and_dead_lettered(service: Service, alice: str,
                                                                       listener: Listener) -> None:
    """The malformed-message suite against the real Mosquitto: each message is answered with a rejection naming
    the problem, PUBACKed, and recorded as a dead letter; the gateway goes on taking orders."""
    gw = gateway(service)
    cases = [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}", "nested deeper than 32 levels"),
        (b'"' + b"x" * 1_000_001 + b'"', "larger than 1000000 bytes"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
    ]
    for payload, _ in cases:
        listener.client.publish("transactive/green/orders/alice", payload, qos=1).wait_for_publish(10)
    acks = [listener.next(timeout_s=30)[1] for _ in cases]
    assert [(a["status"], a["error"]["field"], a["error"]["message"]) for a in acks] == [
        ("rejected", "(payload)", message) for _, message in cases]
    assert gw.wait_for(lambda: gw.dead_letters >= len(cases), 30)
    letters = service.store.dead_letters()
    assert [(d.reason, d.payload_bytes) for d in reversed(letters)] == [(m, len(p)) for p, m in cases]
    listener.publish("transactive/green/orders/alice", order(alice, "fine"))
    assert listener.next(timeout_s=30)[1]["status"] == "created"
