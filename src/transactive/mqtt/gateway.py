"""The MQTT gateway (paho-mqtt 2.x, MQTT 3.1.1, QoS 1): orders and meter readings in, acks and results out.

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
must be the key's member. The gateway also acknowledges the MQTT message itself (PUBACK, manual ack) only
after the order is committed, so a gateway crash before the commit makes the broker redeliver it.
Throughput: orders go through the group-commit :class:`~transactive.market.intake.OrderIntake`, so all orders
that arrive during one commit share the next one. With ``share_group`` the gateway subscribes through a shared
subscription (``$share/<group>/...``), so several gateway processes split the incoming orders between them
(``transactive serve --mqtt-workers N``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from transactive.market import MarketError, Operator
from transactive.market.operator import SIDE_NAMES
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


class Gateway:
    """Bridges an MQTT broker to the operator. ``start()`` connects and returns once subscribed."""

    def __init__(self, operator: Operator, url: str, client_id: str | None = None,
                 share_group: str | None = None) -> None:
        self.operator = operator
        self.share = f"$share/{share_group}/" if share_group else ""
        self.host, self.port, user, password = parse_mqtt_url(url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"transactive-gateway-{secrets.token_hex(4)}",
                                  clean_session=client_id is None, manual_ack=True)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.max_inflight_messages_set(0)  # unlimited; a limit makes paho rescan its queue per PUBACK
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._subscribed = threading.Event()
        self.received = 0

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 30.0) -> Gateway:
        self.client.connect(self.host, self.port, keepalive=60)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.client.loop_stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the gateway")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        client.subscribe([(f"{self.share}{PREFIX}/+/orders/+", QOS), (f"{self.share}{PREFIX}/+/meters/+", QOS)])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("MQTT subscription refused: %s", reasons)
            return
        self._subscribed.set()  # the broker has confirmed: from now on it delivers to this gateway

    # ------------------------------------------------------------------------------------ in
    def _ack(self, community: str, member: str, payload: dict[str, Any]) -> None:
        self.client.publish(f"{PREFIX}/{community}/acks/{member}", json.dumps(payload), qos=QOS)

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received += 1
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[0] != PREFIX:
            client.ack(message.mid, message.qos)
            return
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
                self._order(client, message, member, body)
                return  # acknowledged by the intake callback
            if kind == "meters":
                outcome, reading = self.operator.submit_meter_reading(member, community, body)
                self._ack(community, member_id, {"kind": "meter_reading", "slot_start": reading.slot_start,
                                                 "status": outcome.value, "energy_kwh": reading.energy_kwh,
                                                 "error": None})
        except MarketError as exc:
            self._ack(community, member_id, {
                "kind": "order" if kind == "orders" else "meter_reading",
                ("idempotency_key" if kind == "orders" else "slot_start"): key if isinstance(key, str) else None,
                "status": "rejected", "order": None, "error": {"field": exc.field, "message": exc.message}})
        except Exception:  # storage failure: no ack, the broker redelivers after a reconnect
            log.exception("MQTT message on %s failed", message.topic)
            return
        client.ack(message.mid, message.qos)

    def _order(self, client: mqtt.Client, message: mqtt.MQTTMessage, member: Member, body: dict[str, Any]) -> None:
        _, community, _, member_id = message.topic.split("/")
        order = self.operator.prepare_order(member, community, body)
        early = self.operator.accept(order)
        if early is not None:
            self._ack(community, member_id, {"kind": "order", "idempotency_key": order.idempotency_key,
                                             "status": early.outcome.value, "order": order_json(early.order),
                                             "error": None})
            client.ack(message.mid, message.qos)
            return
        mid, qos = message.mid, message.qos

        def done(answer: tuple[Outcome, OrderRecord] | None, error: BaseException | None) -> None:
            if error is not None or answer is None:
                log.error("order %s not stored: %s", order.idempotency_key, error)
                return  # not acked: redelivered after a reconnect
            try:
                receipt = self.operator.answer(order, *answer)
                payload: dict[str, Any] = {"kind": "order", "idempotency_key": order.idempotency_key,
                                           "status": receipt.outcome.value, "order": order_json(receipt.order),
                                           "error": None}
            except MarketError as exc:
                payload = {"kind": "order", "idempotency_key": order.idempotency_key, "status": "rejected",
                           "order": None, "error": {"field": exc.field, "message": exc.message}}
            self._ack(community, member_id, payload)
            client.ack(mid, qos)

        assert self.operator.intake is not None, "the gateway needs the group-commit intake"
        self.operator.intake.submit_async(order, done)

    # ------------------------------------------------------------------------------------ out
    def publish_result(self, slot: Slot) -> None:
        """Publish a finished slot: the public summary, and each participant's own rows on its own topic."""
        base = f"{PREFIX}/{slot.community}/results/{slot.start}"
        record = self.operator.store.get_result(slot.community, slot.start)
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
                    self.client.publish(f"{base}/{row['id']}", json.dumps(own), qos=QOS, retain=True)
        self.client.publish(base, json.dumps(summary), qos=QOS, retain=True)
