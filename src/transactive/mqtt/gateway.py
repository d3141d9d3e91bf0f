"""The MQTT gateway (MQTT 3.1.1, QoS 1): orders and meter readings in, acks and results out.

Topics (``<community>`` and ``<member>`` are ids; ``<slot>`` an ISO 8601 slot start), see ``docs/mqtt.md``:

* ``transactive/<community>/orders/<member>`` (in): a JSON order as for REST plus ``"api_key"``.
* ``transactive/<community>/acks/<member>`` (out): ``{"idempotency_key", "status": "created" | "duplicate" |
  "rejected", "order": {...} | null, "error": {"field", "message"} | null}``, published only after the order
  is durable (or definitively rejected).
* ``transactive/<community>/meters/<member>`` (in): ``{"api_key", "slot_start", "energy_kwh"}``; acked on
  ``.../acks/<member>`` with ``"kind": "meter_reading"``.
* ``transactive/<community>/results/<slot>`` (out, retained): the public slot summary (price, volume,
  counts; no individual rows). ``.../results/<slot>/<member>`` (out, retained): that member's own rows.

Authentication: the member's API key inside each payload, checked like a REST bearer key; the topic's member
must be the key's member. The gateway also acknowledges the MQTT message itself (PUBACK) only after the order
is committed, so a gateway crash before the commit makes the broker redeliver it.

Throughput (``docs/mqtt.md``): the gateway speaks MQTT through :class:`~transactive.mqtt.connection.MqttConnection`,
which hands over every PUBLISH of one socket read as a batch. A batch is parsed and authenticated message by
message, admitted at once (:func:`~transactive.market.order_batch.admit_orders`), committed as one unit by the
group-commit :class:`~transactive.market.intake.OrderIntake`, and answered with one socket write carrying all
its acks and PUBACKs. With ``share_group`` the gateway subscribes through a shared subscription
(``$share/<group>/...``), so several gateway processes split the incoming orders between them
(``transactive serve --mqtt-workers N``).
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from transactive.market import MarketError, Operator
from transactive.market.operator import SIDE_NAMES, Receipt
from transactive.market.order_batch import admit_orders
from transactive.mqtt import wire
from transactive.mqtt.connection import MqttConnection
from transactive.store import Member, OrderRecord, Outcome, Slot, SlotState

log = logging.getLogger(__name__)

PREFIX = "transactive"
QOS = 1


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None]:
    """``mqtt://[user:password@]host[:port]`` -> host, port (default 1883), user, password."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"not an mqtt:// URL: {url!r}")
    return parts.hostname, parts.port or 1883, parts.username, parts.password


def order_json(order: OrderRecord) -> dict[str, Any]:
    return {"id": order.id, "community": order.community, "slot_start": order.slot_start, "member": order.member,
            "side": SIDE_NAMES[order.side], **order.entry, "idempotency_key": order.idempotency_key,
            "received_at": order.received_at}


def order_ack(key: object, receipt: Receipt | None = None, error: MarketError | None = None) -> dict[str, Any]:
    """The ack payload of an order: its receipt (``created`` / ``duplicate``) or its rejection."""
    if receipt is not None:
        return {"kind": "order", "idempotency_key": key, "status": receipt.outcome.value,
                "order": order_json(receipt.order), "error": None}
    assert error is not None
    return {"kind": "order", "idempotency_key": key if isinstance(key, str) else None, "status": "rejected",
            "order": None, "error": {"field": error.field, "message": error.message}}


@dataclass
class Outbox:
    """Acks and PUBACKs collected while handling a batch, written with one ``sendall``."""

    acks: list[tuple[str, bytes, bool]] = field(default_factory=list)
    pubacks: list[bytes] = field(default_factory=list)

    def ack(self, community: str, member: str, payload: dict[str, Any]) -> None:
        self.acks.append((f"{PREFIX}/{community}/acks/{member}", json.dumps(payload).encode(), False))

    def puback(self, message: wire.Publish) -> None:
        if message.qos:
            self.pubacks.append(wire.puback(message.packet_id))


@dataclass(slots=True)
class _Pending:
    """An authenticated order message waiting for admission."""

    message: wire.Publish
    community: str
    member_id: str
    member: Member
    body: dict[str, Any]


_Committed = tuple[list[tuple[_Pending, OrderRecord]], list[tuple[Outcome, OrderRecord]] | None,
                   BaseException | None]


class Gateway:
    """Bridges an MQTT broker to the operator. ``start()`` connects and returns once subscribed."""

    def __init__(self, operator: Operator, url: str, client_id: str | None = None,
                 share_group: str | None = None) -> None:
        self.operator = operator
        self.share = f"$share/{share_group}/" if share_group else ""
        self.host, self.port, user, password = parse_mqtt_url(url)
        self.connection = MqttConnection(
            self.host, self.port, client_id or f"transactive-gateway-{secrets.token_hex(4)}",
            clean_session=client_id is None, username=user, password=password,
            subscriptions=[(f"{self.share}{PREFIX}/+/orders/+", QOS), (f"{self.share}{PREFIX}/+/meters/+", QOS)],
            on_publishes=self._on_publishes)
        self.received = 0
        # committed batches waiting for their acks: the writer thread hands them over and goes on with the next
        # commit while this gateway's acker thread encodes and sends the acks (SQLite releases the GIL)
        self._committed: queue.SimpleQueue[_Committed | None] = queue.SimpleQueue()
        self._acker: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 30.0) -> Gateway:
        self._acker = threading.Thread(target=self._ack_committed, name="mqtt-acks", daemon=True)
        self._acker.start()
        self.connection.start(timeout_s)
        return self

    def stop(self) -> None:
        """Disconnect. Orders still being committed are not acknowledged: the broker redelivers them."""
        self.connection.stop()
        if self._acker is not None:
            self._committed.put(None)
            self._acker.join(10)
            self._acker = None

    def _send(self, outbox: Outbox) -> None:
        self.connection.publish_many(outbox.acks, QOS, b"".join(outbox.pubacks))

    # ------------------------------------------------------------------------------------ in
    def _on_publishes(self, messages: list[wire.Publish]) -> None:
        """Handle one burst: meters and rejections answered at once, orders admitted and stored as one batch."""
        self.received += len(messages)
        outbox = Outbox()
        pending: list[_Pending] = []
        for message in messages:
            item = self._authenticate(message, outbox)
            if item is not None:
                pending.append(item)
        stored: list[tuple[_Pending, OrderRecord]] = []
        if pending:
            admitted = admit_orders(self.operator, [(p.member, p.community, p.body) for p in pending])
            for item, result in zip(pending, admitted, strict=True):
                key = item.body.get("idempotency_key")
                if isinstance(result, OrderRecord):
                    stored.append((item, result))
                    continue
                if isinstance(result, Receipt):
                    outbox.ack(item.community, item.member_id, order_ack(key, receipt=result))
                elif isinstance(result, MarketError):
                    outbox.ack(item.community, item.member_id, order_ack(key, error=result))
                else:  # storage failure: no ack, the broker redelivers after a reconnect
                    log.error("MQTT order on %s failed: %r", item.message.topic, result)
                    continue
                outbox.puback(item.message)
        self._send(outbox)
        if stored:
            assert self.operator.intake is not None, "the gateway needs the group-commit intake"
            self.operator.intake.submit_batch_async(
                [order for _, order in stored],
                lambda answers, error: self._committed.put((stored, answers, error)))

    def _ack_committed(self) -> None:
        while (item := self._committed.get()) is not None:
            try:
                self._stored(*item)
            except Exception:  # not acked: the broker redelivers after a reconnect, and the retry is a duplicate
                log.exception("MQTT acks failed")

    def _stored(self, stored: list[tuple[_Pending, OrderRecord]],
                answers: list[tuple[Outcome, OrderRecord]] | None, error: BaseException | None) -> None:
        """After the commit (acker thread): ack every order of the batch, then PUBACK its message."""
        if error is not None or answers is None:
            log.error("%d MQTT orders not stored: %s", len(stored), error)
            return  # not acked: redelivered after a reconnect
        outbox = Outbox()
        for (item, order), (outcome, record) in zip(stored, answers, strict=True):
            try:
                payload = order_ack(order.idempotency_key, receipt=self.operator.answer(order, outcome, record))
            except MarketError as exc:
                payload = order_ack(order.idempotency_key, error=exc)
            outbox.ack(item.community, item.member_id, payload)
            outbox.puback(item.message)
        self._send(outbox)

    def _authenticate(self, message: wire.Publish, outbox: Outbox) -> _Pending | None:
        """Parse and authenticate one message; an order comes back for admission, anything else is answered."""
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[0] != PREFIX:
            outbox.puback(message)
            return None
        _, community, kind, member_id = parts
        key: object = None
        try:
            try:
                body = json.loads(message.payload, parse_constant=float)
            except (ValueError, RecursionError):
                raise MarketError("(payload)", "not valid JSON") from None
            if not isinstance(body, dict):
                raise MarketError("(payload)", "must be a JSON object")
            key = body.get("idempotency_key") if kind == "orders" else body.get("slot_start")
            api_key = body.pop("api_key", None)
            member = self.operator.authenticate(api_key if isinstance(api_key, str) else None)
            if member.id != member_id:
                raise MarketError("api_key", "is not the key of the topic's member", "forbidden")
            if kind == "orders":
                return _Pending(message, community, member_id, member, body)
            if kind == "meters":
                outcome, reading = self.operator.submit_meter_reading(member, community, body)
                outbox.ack(community, member_id, {"kind": "meter_reading", "slot_start": reading.slot_start,
                                                  "status": outcome.value, "energy_kwh": reading.energy_kwh,
                                                  "error": None})
        except MarketError as exc:
            outbox.ack(community, member_id, {
                "kind": "order" if kind == "orders" else "meter_reading",
                ("idempotency_key" if kind == "orders" else "slot_start"): key if isinstance(key, str) else None,
                "status": "rejected", "order": None, "error": {"field": exc.field, "message": exc.message}})
        except Exception:  # storage failure: no ack, the broker redelivers after a reconnect
            log.exception("MQTT message on %s failed", message.topic)
            return None
        outbox.puback(message)
        return None

    # ------------------------------------------------------------------------------------ out
    def publish_result(self, slot: Slot) -> None:
        """Publish a finished slot: the public summary, and each participant's own rows on its own topic."""
        base = f"{PREFIX}/{slot.community}/results/{slot.start}"
        record = self.operator.store.get_result(slot.community, slot.start)
        messages: list[tuple[str, bytes, bool]] = []
        summary: dict[str, Any] = {"community": slot.community, "slot_start": slot.start,
                                   "state": slot.state.value, "note": slot.note}
        if record is not None and slot.state is SlotState.CLEARED:
            doc = record.document
            summary.update({"mechanism": doc["mechanism"], "price_per_kwh": doc["price_per_kwh"],
                            "traded_kwh": sum(r["energy_kwh"] for r in doc["sellers"]),
                            "participants": len(doc["sellers"]) + len(doc["buyers"])})
            for side in ("sellers", "buyers"):
                for row in doc[side]:
                    own = {"community": slot.community, "slot_start": slot.start, "mechanism": doc["mechanism"],
                           "price_per_kwh": doc["price_per_kwh"], "side": SIDE_NAMES[side],
                           "energy_kwh": row["energy_kwh"], "payment": row["payment"]}
                    messages.append((f"{base}/{row['id']}", json.dumps(own).encode(), True))
        messages.append((base, json.dumps(summary).encode(), True))
        self.connection.publish_many(messages, QOS)
