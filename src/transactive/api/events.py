"""Live updates: ``GET /communities/{c}/events``, a server-sent event stream (``text/event-stream``) of the
community's slots as they change, so a page watching a slot need not poll.

Events (``event:`` name, ``data:`` one JSON object):

* ``hello``: on connecting: the community, the market time and the current slot's phase and state;
* ``phase``: the current slot changed phase (or a new slot began): ``slot_start``, ``phase``, ``closes_at``;
  computed from the market clock by the stream itself (no store access);
* ``slot``: a slot finished clearing: ``slot_start``, ``state`` (``cleared``/``void``), ``note``;
* ``ledger``: the slot's clearing was anchored or its settlement done on chain: ``slot_start``, ``kind``
  (``clearing``/``settlement``), ``state`` (e.g. ``anchored``, ``settled``, ``failed``);
* ``order``: an order of yours was stored (only on your own streams): ``order_id``, ``slot_start``, ``side``,
  ``standing`` (true: placed by the service from your standing instruction; false: through ``POST .../orders``);
* ``negawatt``: a demand-response event changed: ``event_id``, ``change`` (``offer``: an offer was stored,
  ``cleared``); no offer's contents (an aggregator's page reloads the event, which its role may read);
* ``resync``: events were dropped because this client read too slowly: reload what the page shows.

Authentication as every route (``Authorization: Bearer <key>``; a browser reads the stream with ``fetch``, since
``EventSource`` cannot send the header); any member may watch its own community, an admin any. Bounded: at most
:data:`MAX_CLIENTS` streams per process (more: 429 naming ``events``), each with a queue of
:data:`QUEUE_SIZE` events; a client that falls that far behind gets its queue emptied and one ``resync``
instead (memory per client never grows). A comment line every :data:`KEEPALIVE_S` seconds keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from transactive.api.app import Caller  # the shared authentication dependency (app imports this module lazily)
from transactive.errors import MarketError
from transactive.market import Operator, iso
from transactive.market.commit_reveal import SIDE_NAMES
from transactive.market.operator import Receipt
from transactive.market.slots import slot_containing, window_at
from transactive.market.standing import KEY_PREFIX
from transactive.store import LedgerSlot, Member, Slot

MAX_CLIENTS = 200
QUEUE_SIZE = 32
KEEPALIVE_S = 15.0
PHASE_CHECK_S = 0.25  # how often (real seconds) a stream looks at the market clock for a phase change


@dataclass(eq=False)
class Subscriber:
    """One open stream: its community, member and bounded queue of ``(event, data)``."""

    community: str
    member: str
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE))
    dropped: int = 0


class EventHub:
    """Fans events out to the open streams. ``publish`` may be called from any thread (the cycle's, the
    ledger worker's); delivery happens on the event loop that serves the streams."""

    def __init__(self, max_clients: int = MAX_CLIENTS) -> None:
        self.max_clients = max_clients
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def check_room(self) -> None:
        """MarketError (429) when :attr:`max_clients` streams are open."""
        with self._lock:
            if len(self._subscribers) >= self.max_clients:
                raise MarketError("events", f"{self.max_clients} live streams are open; try again later",
                                  "too_many")

    def subscribe(self, community: str, member: str) -> Subscriber:
        """A new stream's queue (MarketError, 429, when :attr:`max_clients` are open)."""
        self._loop = asyncio.get_running_loop()
        with self._lock:
            if len(self._subscribers) >= self.max_clients:
                raise MarketError("events", f"{self.max_clients} live streams are open; try again later",
                                  "too_many")
            subscriber = Subscriber(community, member)
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, community: str, event: str, data: dict[str, Any], member: str | None = None) -> None:
        """Send ``event`` to the community's streams (only ``member``'s when given); thread-safe."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody has ever listened
        try:
            loop.call_soon_threadsafe(self._deliver, community, event, data, member)
        except RuntimeError:  # the loop closed meanwhile (shutting down)
            return

    def _deliver(self, community: str, event: str, data: dict[str, Any], member: str | None) -> None:
        with self._lock:
            targets = [s for s in self._subscribers
                       if s.community == community and (member is None or s.member == member)]
        for subscriber in targets:
            try:
                subscriber.queue.put_nowait((event, data))
            except asyncio.QueueFull:  # a slow reader: drop what it missed and this event, tell it to reload
                subscriber.dropped += 1
                while not subscriber.queue.empty():
                    subscriber.dropped += subscriber.queue.get_nowait()[0] != "resync"
                subscriber.queue.put_nowait(("resync", {"community": community, "dropped": subscriber.dropped}))

    def slot_finished(self, slot: Slot) -> None:
        """The service's ``on_cleared`` listener."""
        self.publish(slot.community, "slot", {"community": slot.community, "slot_start": slot.start,
                                              "state": slot.state.value, "note": slot.note})

    def ledger_step(self, record: LedgerSlot) -> None:
        """The ledger worker's ``on_done`` listener: a slot anchored or settled (states only, no roots or bids)."""
        self.publish(record.community, "ledger", {"community": record.community, "slot_start": record.slot_start,
                                                  "kind": record.kind, "state": record.state})

    def order_placed(self, receipt: Receipt) -> None:
        """An order stored (the standing desk's ``on_placed`` listener and the REST route): to the member's own
        streams only."""
        order = receipt.order
        self.publish(order.community, "order", {"community": order.community, "order_id": order.id,
                                                "slot_start": order.slot_start, "side": SIDE_NAMES[order.side],
                                                "standing": order.idempotency_key.startswith(KEY_PREFIX)},
                     member=order.member)

    def negawatt_changed(self, community: str, event_id: str, change: str) -> None:
        """A demand-response event got an offer or was cleared (the negawatt routes): ids only."""
        self.publish(community, "negawatt", {"community": community, "event_id": event_id, "change": change})

    def frame(self, event: str, data: dict[str, Any]) -> str:
        """One server-sent event."""
        return f"id: {next(self._ids)}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _phase(op: Operator, community: str, slot_minutes: int) -> dict[str, Any]:
    now = op.clock.now()
    start = slot_containing(now, slot_minutes)
    window = window_at(start, slot_minutes, now)
    return {"community": community, "now": now.isoformat(), "slot_start": iso(start), "phase": window.phase.value,
            "closes_at": None if window.closes_at is None else iso(window.closes_at)}


def register(app: FastAPI, op: Operator, hub: EventHub) -> None:
    """Add ``GET /communities/{community}/events``."""
    @app.get("/communities/{community}/events", tags=["communities"],
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "server-sent events: hello, phase, slot, ledger, order, resync"},
                        429: {"description": "too many live streams are open"}})
    async def events(community: str, request: Request, caller: Caller) -> StreamingResponse:
        """Live updates of the community's slots (server-sent events): phase changes, slots cleared, your
        standing orders placed. Bounded per client; see docs/api.md."""
        c = op.community_for(caller, community)
        hub.check_room()  # the 429 while an answer can still say so; the stream subscribes when it starts
        return StreamingResponse(_stream(op, hub, c.name, slot_minutes=c.slot_minutes, request=request,
                                         caller=caller),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(op: Operator, hub: EventHub, community: str, *, slot_minutes: int, request: Request,
                  caller: Member) -> AsyncIterator[str]:
    # subscribed here, not in the route: a stream that is never started (the client left at once) never holds a
    # place, and every place taken is given back by the ``finally`` below
    try:
        subscriber = hub.subscribe(community, caller.id)
    except MarketError:  # the last places went between the route's check and now: end at once
        return
    try:
        current = _phase(op, community, slot_minutes)
        yield "retry: 3000\n\n"
        slot = await asyncio.to_thread(op.slot_status, caller, community, current["slot_start"])
        yield hub.frame("hello", {**current, "state": slot["state"], "orders": slot["orders"]})
        idle = 0.0
        while True:
            try:
                event, data = await asyncio.wait_for(subscriber.queue.get(), PHASE_CHECK_S)
            except TimeoutError:
                phase = _phase(op, community, slot_minutes)
                if (phase["slot_start"], phase["phase"]) != (current["slot_start"], current["phase"]):
                    current = phase
                    idle = 0.0
                    yield hub.frame("phase", phase)
                    continue
                idle += PHASE_CHECK_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                continue
            idle = 0.0
            yield hub.frame(event, data)
    finally:
        hub.unsubscribe(subscriber)
