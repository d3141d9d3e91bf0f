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
is committed, so a gateway crash before the commit makes the broker redeliver it. A failed commit is retried
(``retry_delays_s``) and then answered by a reconnect, after which the broker redelivers every message not yet
PUBACKed (persistent session); an order is never acknowledged unless stored. One gateway answers its
messages, acks and PUBACKs, in the order it received them (``docs/mqtt.md``, "Order of the acks").

Throughput (``docs/mqtt.md``): the gateway speaks MQTT through :class:`~transactive.mqtt.connection.MqttConnection`,
which hands over every PUBLISH of one socket read as a batch. A batch is parsed and authenticated message by
message, admitted at once (:func:`~transactive.market.order_batch.admit_orders`), committed as one unit by the
group-commit :class:`~transactive.market.intake.OrderIntake`, and answered with one socket write carrying all
its acks and PUBACKs. With ``share_group`` the gateway subscribes through a shared subscription
(``$share/<group>/...``), so several gateway processes split the incoming orders between them
(``transactive serve --mqtt-workers N``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from transactive.bounded_json import JsonLimitError, check_json
from transactive.market import MarketError, Operator
from transactive.market.commit_reveal import SIDE_NAMES, order_json
from transactive.market.operator import Receipt
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


def order_ack(key: object, receipt: Receipt | None = None, error: MarketError | None = None) -> dict[str, Any]:
    """The ack payload of an order: its receipt (``created`` / ``duplicate``) or its rejection."""
    if receipt is not None:
        return {"kind": "order", "idempotency_key": key, "status": receipt.outcome.value,
                "order": order_json(receipt.order), "error": None}
    assert error is not None
    return {"kind": "order", "idempotency_key": key if isinstance(key, str) else None, "status": "rejected",
            "order": None, "error": {"field": error.field, "message": error.message}}


class _Malformed(Exception):
    """A message that is not a bounded JSON object: dead-lettered."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _digest(message: wire.Publish) -> str:
    """The identity of a message across redeliveries: SHA-256 of topic, NUL, payload."""
    return hashlib.sha256(message.topic.encode() + b"\0" + message.payload).hexdigest()


def _rejected(kind: str, key: object, error: MarketError) -> dict[str, Any]:
    """The ack of a rejected order or meter reading (``key``: its idempotency key / slot start, if a string)."""
    return {"kind": "order" if kind == "orders" else "meter_reading",
            ("idempotency_key" if kind == "orders" else "slot_start"): key if isinstance(key, str) else None,
            "status": "rejected", "order": None, "error": {"field": error.field, "message": error.message}}


@dataclass(slots=True)
class _Pending:
    """An authenticated order message waiting for admission."""

    message: wire.Publish
    community: str
    member_id: str
    member: Member
    body: dict[str, Any]


RETRY_DELAYS_S = (0.1, 0.4, 1.6)  # a failed commit is retried after each delay, then the gateway reconnects
FAILURE_PAUSE_S = 1.0  # a message whose admission failed: pause before the reconnect that redelivers it
MAX_DELIVERY_ATTEMPTS = 5  # a message failed (or redelivered by the broker) this often is dead-lettered


@dataclass(slots=True)
class _Reply:
    """The answer to one received message, in receive order: an ack known now (``payload``), an ack after the
    commit of ``order``, or nothing yet (``failed``: a storage error; no ack, no PUBACK, redelivered)."""

    message: wire.Publish
    community: str = ""
    member_id: str = ""
    payload: dict[str, Any] | None = None
    order: OrderRecord | None = None
    failed: bool = False
    dead: str | None = None  # why the message is dead-lettered (recorded by the acker, then answered)


@dataclass(eq=False)
class _Burst:
    """The messages of one socket read, answered together and in order once ``done`` (its commit finished)."""

    replies: list[_Reply]
    generation: int
    orders: list[OrderRecord] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[Outcome, OrderRecord]] | None = None
    error: BaseException | None = None

    def committed(self, answers: list[tuple[Outcome, OrderRecord]] | None, error: BaseException | None) -> None:
        self.answers, self.error = answers, error
        self.done.set()


class Gateway:
    """Bridges an MQTT broker to the operator. ``start()`` connects and returns once subscribed.

    Threads: the connection's reader parses, authenticates and admits each burst and hands its orders to the
    group commit; the gateway's acker answers the bursts one after the other, in the order they were received
    (so the acks and the PUBACKs of one gateway follow the order of its incoming messages), each once its
    commit has finished. Only the acker publishes: the reader never waits for packet ids."""

    def __init__(self, operator: Operator, url: str, client_id: str | None = None,
                 share_group: str | None = None, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self.operator = operator
        self.share = f"$share/{share_group}/" if share_group else ""
        self.host, self.port, user, password = parse_mqtt_url(url)
        self.connection = MqttConnection(
            self.host, self.port, client_id or f"transactive-gateway-{secrets.token_hex(4)}",
            clean_session=client_id is None, username=user, password=password,
            subscriptions=[(f"{self.share}{PREFIX}/+/orders/+", QOS), (f"{self.share}{PREFIX}/+/meters/+", QOS)],
            on_publishes=self._on_publishes)
        self.retry_delays_s = retry_delays_s
        self.received = 0
        self.commit_failures = 0  # failed commit attempts (each retry counts)
        self.forced_reconnects = 0
        self.dead_letters = 0  # messages dead-lettered by this gateway
        self._failures: dict[str, int] = {}  # digest -> failed attempts in this process
        self.progress = threading.Condition()  # notified when the counters above change
        self._bursts: queue.SimpleQueue[_Burst | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._acker: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 30.0) -> Gateway:
        self._stopping.clear()
        self._acker = threading.Thread(target=self._ack_bursts, name="mqtt-acks", daemon=True)
        self._acker.start()
        self.connection.start(timeout_s)
        return self

    def stop(self) -> None:
        """Disconnect. Orders still being committed are not acknowledged: the broker redelivers them."""
        self._stopping.set()
        self.connection.stop()
        if self._acker is not None:
            self._bursts.put(None)
            self._acker.join(10)
            self._acker = None

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` (over the counters) holds; False after ``timeout_s``."""
        with self.progress:
            return self.progress.wait_for(predicate, timeout_s)

    def _count(self, name: str) -> None:
        with self.progress:
            setattr(self, name, getattr(self, name) + 1)
            self.progress.notify_all()

    # ------------------------------------------------------------------------------------ in (reader thread)
    def _on_publishes(self, messages: list[wire.Publish]) -> None:
        """Handle one burst: meters and rejections answered now, orders admitted and stored as one batch; the
        acker answers the burst (never this reader thread, which must go on reading PUBACKs)."""
        burst = _Burst([], self.connection.generation)
        pending: list[tuple[_Reply, _Pending]] = []
        given_up = self._redelivered_too_often(messages)
        for message in messages:
            reply = _Reply(message)
            burst.replies.append(reply)
            if message in given_up:
                self._dead_letter(message, reply, f"delivered {MAX_DELIVERY_ATTEMPTS} times without being "
                                  "processed (the service failed or stopped while processing it)")
                continue
            item = self._authenticate(message, reply)
            if item is not None:
                pending.append((reply, item))
        if pending:
            admitted = admit_orders(self.operator, [(p.member, p.community, p.body) for _, p in pending])
            for (reply, item), result in zip(pending, admitted, strict=True):
                key = item.body.get("idempotency_key")
                if isinstance(result, OrderRecord):
                    reply.order = result
                    burst.orders.append(result)
                elif isinstance(result, Receipt):
                    reply.payload = order_ack(key, receipt=result)
                elif isinstance(result, MarketError):
                    reply.payload = order_ack(key, error=result)
                else:  # storage failure: no ack; the acker makes the broker redeliver it (a few times)
                    log.error("MQTT order on %s failed: %r", item.message.topic, result)
                    self._failed(item.message, reply, result)
        self._bursts.put(burst)
        if burst.orders:
            assert self.operator.intake is not None, "the gateway needs the group-commit intake"
            self.operator.intake.submit_batch_async(burst.orders, burst.committed)
        else:
            burst.done.set()
        with self.progress:
            self.received += len(messages)
            self.progress.notify_all()

    # ------------------------------------------------------------------------------------ out (acker thread)
    def _ack_bursts(self) -> None:
        while (burst := self._bursts.get()) is not None:
            try:
                self._answer(burst)
            except Exception:  # not acked: the broker redelivers after a reconnect, and the retry is a duplicate
                log.exception("MQTT acks failed")
                self._redeliver(burst)

    def _answer(self, burst: _Burst) -> None:
        """Wait for the burst's commit (retrying a failed one), then send its acks and PUBACKs in order."""
        while not burst.done.wait(0.5):
            if self._stopping.is_set():
                return
        answers = burst.answers
        if burst.error is not None:
            # a persistent session gets the burst's messages again after any reconnect since they came: then a
            # retry would only delay the bursts behind this one
            redelivered = not self.connection.clean_session and burst.generation != self.connection.generation
            answers = None if redelivered else self._retry(burst)
            if redelivered:
                self._count("commit_failures")
        self._record_dead_letters(burst)
        answered = iter(answers or ())  # one answer per order, in the order of the replies holding them
        acks: list[tuple[str, bytes, bool]] = []
        pubacks: list[bytes] = []
        failed = False
        for reply in burst.replies:
            payload = reply.payload
            if reply.order is not None:
                answer = next(answered, None)
                if answer is None:  # not stored: neither acked nor PUBACKed
                    failed = True
                    continue
                try:
                    payload = order_ack(reply.order.idempotency_key,
                                        receipt=self.operator.answer(reply.order, *answer))
                except MarketError as exc:
                    payload = order_ack(reply.order.idempotency_key, error=exc)
            elif reply.failed:
                failed = True
                continue
            if payload is not None:
                acks.append((f"{PREFIX}/{reply.community}/acks/{reply.member_id}", json.dumps(payload).encode(),
                             False))
            if reply.message.qos:
                pubacks.append(wire.puback(reply.message.packet_id))
        if acks or pubacks:
            self.connection.publish_many(acks, QOS, b"".join(pubacks), generation=burst.generation)
        if failed:
            if burst.error is None:  # no commit retries waited: do not spin on a failing database
                self._stopping.wait(FAILURE_PAUSE_S)
            self._redeliver(burst)

    def _retry(self, burst: _Burst) -> list[tuple[Outcome, OrderRecord]] | None:
        """Commit the burst's orders again after each delay of ``retry_delays_s``; None if every attempt failed."""
        assert self.operator.intake is not None
        self._count("commit_failures")
        log.error("%d MQTT orders not stored: %s; retrying", len(burst.orders), burst.error)
        for delay_s in self.retry_delays_s:
            if self._stopping.wait(delay_s):
                return None
            attempt = _Burst(burst.replies, burst.generation, burst.orders)
            self.operator.intake.submit_batch_async(burst.orders, attempt.committed)
            while not attempt.done.wait(0.5):
                if self._stopping.is_set():
                    return None
            if attempt.error is None:
                return attempt.answers
            self._count("commit_failures")
            log.error("%d MQTT orders still not stored: %s", len(burst.orders), attempt.error)
        return None

    def _redeliver(self, burst: _Burst) -> None:
        """Make the broker deliver the burst's unanswered messages again: reconnect (a persistent session gets
        every message not PUBACKed back), unless the connection was already replaced since the burst came."""
        if self._stopping.is_set() or self.connection.generation != burst.generation:
            return
        log.error("MQTT messages not stored: reconnecting so that the broker redelivers them")
        self.connection.reconnect()
        self._count("forced_reconnects")

    def _authenticate(self, message: wire.Publish, reply: _Reply) -> _Pending | None:
        """Parse and authenticate one message; an order comes back for admission, anything else is answered in
        ``reply``. A message that is not a bounded JSON object on a known topic is dead-lettered (PUBACKed, with
        a rejected ack when the topic names a member)."""
        parts = message.topic.split("/")
        if len(parts) != 4 or parts[0] != PREFIX or parts[2] not in ("orders", "meters"):
            self._dead_letter(message, reply, "not a transactive/<community>/orders|meters/<member> topic")
            return None
        _, community, kind, member_id = parts
        reply.community, reply.member_id = community, member_id
        key: object = None
        try:
            try:
                check_json(message.payload)
                body = json.loads(message.payload, parse_constant=float)
            except JsonLimitError as exc:
                raise _Malformed(exc.message) from None
            except (ValueError, RecursionError):
                raise _Malformed("not valid JSON") from None
            if not isinstance(body, dict):
                raise _Malformed("must be a JSON object")
            key = body.get("idempotency_key") if kind == "orders" else body.get("slot_start")
            api_key = body.pop("api_key", None)
            member = self.operator.authenticate(api_key if isinstance(api_key, str) else None)
            if member.id != member_id:
                raise MarketError("api_key", "is not the key of the topic's member", "forbidden")
            if kind == "orders":
                return _Pending(message, community, member_id, member, body)
            outcome, reading = self.operator.submit_meter_reading(member, community, body)
            reply.payload = {"kind": "meter_reading", "slot_start": reading.slot_start,
                             "status": outcome.value, "energy_kwh": reading.energy_kwh, "error": None}
        except _Malformed as exc:
            self._dead_letter(message, reply, exc.message)
        except MarketError as exc:
            reply.payload = _rejected(kind, key, exc)
        except Exception as exc:  # storage failure: no ack; the acker makes the broker redeliver it (a few times)
            log.exception("MQTT message on %s failed", message.topic)
            self._failed(message, reply, exc)
        return None

    # ------------------------------------------------------------------------------------ dead letters
    def _dead_letter(self, message: wire.Publish, reply: _Reply, reason: str) -> None:
        """Mark ``message`` for the dead letters: the acker records it in the store, then answers it (PUBACK; a
        rejected ack naming the reason when the topic names a member)."""
        reply.dead = reason
        if reply.community:
            kind = message.topic.split("/")[2]
            reply.payload = _rejected(kind, None, MarketError("(payload)", reason))

    def _record_dead_letters(self, burst: _Burst) -> None:
        """Write the burst's dead letters (acker thread); one that cannot be written stays unanswered and so is
        redelivered."""
        for reply in burst.replies:
            if reply.dead is None:
                continue
            try:
                self.operator.store.put_dead_letter("mqtt", reply.message.topic, reply.dead, reply.message.payload)
            except Exception:
                log.exception("MQTT dead letter on %s not recorded", reply.message.topic)
                reply.failed, reply.payload = True, None
                continue
            log.warning("MQTT message on %s dead-lettered: %s", reply.message.topic, reply.dead)
            self._count("dead_letters")

    def _failed(self, message: wire.Publish, reply: _Reply, error: BaseException) -> None:
        """A message whose processing raised: redelivered, until it has failed :data:`MAX_DELIVERY_ATTEMPTS`
        times in this process; then dead-lettered."""
        digest = _digest(message)
        with self.progress:
            self._failures[digest] = attempts = self._failures.get(digest, 0) + 1
        if attempts >= MAX_DELIVERY_ATTEMPTS:
            self._failures.pop(digest, None)
            self._dead_letter(message, reply, f"failed {attempts} times: {type(error).__name__}: {error}")
        else:
            reply.failed = True

    def _redelivered_too_often(self, messages: list[wire.Publish]) -> set[wire.Publish]:
        """Count each redelivery (DUP flag) in the store before processing it, so that a message that kills the
        process is given up after :data:`MAX_DELIVERY_ATTEMPTS` deliveries instead of at every restart. The
        messages delivered more often than that (none when the store cannot count: they are processed)."""
        redelivered = [m for m in messages if m.dup and m.qos]
        if not redelivered:
            return set()
        try:
            counts = self.operator.store.count_deliveries([_digest(m) for m in redelivered])
        except Exception:
            log.exception("MQTT redeliveries not counted")
            return set()
        # the first delivery carried no DUP flag: a count of n redeliveries is n + 1 deliveries
        return {m for m, n in zip(redelivered, counts, strict=True) if n + 1 > MAX_DELIVERY_ATTEMPTS}

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
