"""The REST API: ``create_app(settings)`` builds a FastAPI app (OpenAPI at ``/docs`` and ``/openapi.json``).

Thin by design: each endpoint authenticates, hands the body to the market operator and shapes the answer.
Every error is ``{"error": {"field", "message"}}`` with a 4xx status and changes nothing. See ``docs/api.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from transactive import __version__
from transactive.api import _errors
from transactive.api.models import (
    CommunityIn,
    MemberIn,
    NegawattDeliveryIn,
    NegawattEventIn,
    NegawattOfferIn,
    OrderIn,
)
from transactive.api.webapp import mount_web_app
from transactive.bounded_json import MAX_JSON_BYTES, JsonLimitError, check_json
from transactive.files import private_dir, private_file
from transactive.market import (
    Clock,
    CycleRunner,
    MarketError,
    Operator,
    OrderIntake,
    RealClock,
    Receipt,
    community_settings,
    iso,
    parse_slot_start,
    result_view,
    window_at,
)
from transactive.market.commit_reveal import OrderCommitment, order_json
from transactive.market.meters import MeterDesk, checked_address
from transactive.market.multi_desk import MultiDesk
from transactive.market.negawatt_desk import NegawattDesk
from transactive.market.slots import Phase, quotation_closes
from transactive.store import Community, Member, OrderRecord, Outcome, Slot, SlotState, SqlStore, open_store
from transactive.store.leases import Leases, PauseAfterTransact, pause_requested

if TYPE_CHECKING:
    from transactive.market.ledger.config import LedgerConfig
    from transactive.market.ledger.desk import LedgerDesk
    from transactive.market.ledger.worker import LedgerWorker

log = logging.getLogger(__name__)
ADMIN_KEY_FILE = "admin.key"
MAX_FLEET_SESSIONS = 256  # MQTT client ids a fleet's processes claim: <prefix>-0 .. <prefix>-255
MAX_BODY_BYTES = MAX_JSON_BYTES  # 1 MB; an order is a few hundred bytes, block bids a few kB


@dataclass
class Settings:
    """How to run the service.

    ``data_dir``: SQLite database (and ``admin.key`` when no admin key is given) live here.
    ``db_url``: a PostgreSQL (or SQLite) URL instead of the data directory's SQLite file.
    ``admin_key``: the administrator's API key; when None, one is generated on first start and written to
    ``data_dir/admin.key`` (mode 0600). ``mqtt_url``: start the MQTT gateway against this broker;
    ``mqtt_client_id``: a fixed id gives the gateway a persistent broker session (messages not yet committed
    are redelivered after a crash); None: a random id and a clean session. ``mqtt_share_group``: subscribe
    through a shared subscription of that group (several gateway processes split the load).
    ``mqtt_claim_client_id``: in a fleet on PostgreSQL, take the first free ``<mqtt_client_id>-<i>`` under a
    lease, so that a replacement of a dead process takes over its broker session (docs/deployment.md).
    ``clock``: real time by default; ``run_cycle``: clear slots in the background as quotation closes.
    ``ledger``: run the ledger (contracts deployed on first start, reopened later; members' custodial
    accounts; every cleared slot anchored and settled on chain); None: no chain.
    """

    data_dir: Path | None = None
    db_url: str | None = None
    admin_key: str | None = None
    mqtt_url: str | None = None
    mqtt_client_id: str | None = None
    mqtt_share_group: str | None = None
    mqtt_claim_client_id: bool = False
    clock: Clock = field(default_factory=RealClock)
    run_cycle: bool = True
    cycle_poll_s: float = 0.5
    ledger: LedgerConfig | None = None  # the chain, accounts, anchoring and settlement (docs/service.md, Ledger)


class Service:
    """Everything behind the interfaces: store, group-commit intake, operator, cycle; plus listeners."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.data_dir is not None:  # owner only: databases, admin.key, the chain, the archive
            private_dir(Path(settings.data_dir))
        self.store: SqlStore = open_store(settings.data_dir, settings.db_url)
        self.leases = Leases(self.store.engine)  # fleet-wide on PostgreSQL (docs/deployment.md)
        self.intake = OrderIntake(self.store).start()
        self.operator = Operator(self.store, settings.clock, intake=self.intake, leases=self.leases)
        self.ledger: LedgerDesk | None = None
        if settings.ledger is not None:
            self.ledger = self._open_ledger(settings.ledger)
            self.operator.ledger = self.ledger
        self.admin_key = self._bootstrap_admin()
        self.on_cleared: list[Callable[[Slot], None]] = []
        self.on_stop: list[Callable[[], None]] = []  # run first by stop() (e.g. stop worker processes)
        self.cycle = CycleRunner(self.operator, settings.cycle_poll_s, self._cleared)
        self.ledger_worker: LedgerWorker | None = None
        if self.ledger is not None and settings.run_cycle:  # anchoring and settling beside the cycle
            from transactive.market.ledger.worker import LedgerWorker

            worker = self.ledger_worker = LedgerWorker(self.ledger, settings.clock, settings.cycle_poll_s)
            self.cycle.run_ledger = False
            self.on_cleared.append(lambda _slot: worker.wake())  # a cleared slot: anchor it now
        self.gateway: Any = None
        self._held: list[Any] = []  # leases held for the process's lifetime (released by stop)
        self.mqtt_client_id = settings.mqtt_client_id
        if settings.mqtt_claim_client_id and self.leases.fleet and settings.mqtt_client_id:
            self.mqtt_client_id = self._claim_client_id(settings.mqtt_client_id)

    def _claim_client_id(self, prefix: str) -> str:
        """The first ``<prefix>-<i>`` whose lease ``mqtt-session/<prefix>-<i>`` is free, held until stop: every
        process of the fleet gets its own persistent broker session, and the replacement of a dead process (whose
        lease PostgreSQL released) takes over the dead one's session, with the orders the broker queued for it."""
        for i in range(MAX_FLEET_SESSIONS):
            held = self.leases.hold(f"mqtt-session/{prefix}-{i}")
            if held.__enter__():
                self._held.append(held)
                log.info("MQTT client id %s-%d", prefix, i)
                return f"{prefix}-{i}"
            held.__exit__(None, None, None)
        raise ValueError(f"mqtt_client_id: all {MAX_FLEET_SESSIONS} sessions {prefix}-<i> are taken")

    def _open_ledger(self, config: LedgerConfig) -> LedgerDesk:
        """The ledger desk; in a fleet with the fleet-wide chain-writer lock, held while it deploys the contracts
        and starts the audit archive if nobody did yet (the first process deploys, the others reopen that
        deployment; a process joining a deployed fleet only reads, and does not wait for another's step)."""
        from transactive.ledger.audit.audit import SlotArchive
        from transactive.market.ledger.desk import LedgerDesk

        lock = self.leases.fleet_lock("ledger/chain") if self.leases.fleet else None
        fresh = self.store.ledger_meta("deployment") is None or (
            config.archive_dir is not None and not SlotArchive(config.archive_dir).manifest_path.exists())
        chain: Any = None
        if pause_requested():  # tests only: pause points after chain transactions
            from transactive.ledger.chain.connect import open_chain

            chain = PauseAfterTransact(open_chain(config.chain_url, config.chain_dir,
                                                       engine=config.chain_engine))
        with lock if lock is not None and fresh else contextlib.nullcontext():
            return LedgerDesk(self.store, config, chain, started=self.settings.clock.now(), leases=self.leases,
                              lock=lock)

    def _bootstrap_admin(self) -> str:
        key = self.settings.admin_key
        if key is None:
            if self.settings.data_dir is None:
                raise ValueError("give an admin key or a data directory to keep a generated one")
            path = Path(self.settings.data_dir) / ADMIN_KEY_FILE
            if path.exists():
                key = path.read_text(encoding="utf-8").strip()
            else:
                key = "tk_admin_" + secrets.token_urlsafe(32)
                private_file(path).write_text(key + "\n", encoding="utf-8")
                log.warning("generated an admin API key in %s", path)
        self.operator.ensure_admin(key)
        return key

    def _cleared(self, slot: Slot) -> None:
        for listener in self.on_cleared:
            try:
                listener(slot)
            except Exception:
                log.exception("result listener failed")

    def start(self) -> None:
        # in a fleet the ledger worker's first (full) scan enrols them, in its thread: a process started while
        # another holds the chain-writer lease (a long step, or paused by a test) answers meanwhile
        if self.ledger is not None and (self.ledger_worker is None or not self.leases.fleet):
            self.ledger.enrol_all()
        if self.settings.mqtt_url:
            from transactive.mqtt import Gateway

            self.gateway = Gateway(self.operator, self.settings.mqtt_url, self.mqtt_client_id,
                                   self.settings.mqtt_share_group)
            self.on_cleared.append(self.gateway.publish_result)
            self.gateway.start()
        if self.settings.run_cycle:
            self.cycle.start()
        if self.ledger_worker is not None:
            self.ledger_worker.start()

    def stop(self) -> None:
        for hook in self.on_stop:
            try:
                hook()
            except Exception:
                log.exception("stop hook failed")
        self.cycle.stop()
        if self.ledger_worker is not None:
            self.ledger_worker.stop()
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        self.intake.stop()
        if self.ledger is not None:
            self.ledger.close()
        for held in self._held:
            held.__exit__(None, None, None)
        self._held = []
        self.store.close()


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


def _community_json(c: Community, store: SqlStore) -> dict[str, Any]:
    return {"name": c.name, "mechanism": c.mechanism, "params": dict(c.params), "slot_minutes": c.slot_minutes,
            "created_at": c.created_at, "time_zone": community_settings.time_zone(store, c.name)}


class _BodyLimit:
    """Bounded bodies (:mod:`transactive.bounded_json`): a body over :data:`MAX_BODY_BYTES` is a 413, counted
    while it streams in whatever its transfer encoding (a declared Content-Length over the limit is refused
    before reading); a body nested deeper than :data:`~transactive.bounded_json.MAX_JSON_DEPTH` is a 422, before
    any JSON parser sees it. A plain ASGI middleware, since Starlette's ``BaseHTTPMiddleware`` costs a task and a
    stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY_BYTES):
                await _errors.error_response(413, "(body)", f"larger than {MAX_BODY_BYTES} bytes")(
                    scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _errors.error_response(413, "(body)", f"larger than {MAX_BODY_BYTES} bytes")(
                    scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                check_json(body, MAX_BODY_BYTES)
            except JsonLimitError as exc:
                await _errors.error_response(422, "(body)", exc.message)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _operator(request: Request) -> Operator:
    service: Service = request.app.state.service
    return service.operator


async def _caller(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Member:
    # async: keys are cached after their first use, so this rarely touches the store, and it saves the
    # thread-pool hop that a sync dependency costs on every request
    return _operator(request).authenticate(None if credentials is None else credentials.credentials)


async def _durable(op: Operator, order: OrderRecord) -> Receipt:
    """Hand a prepared order to the group-commit intake and await its commit without blocking the loop."""
    early = op.accept(order)
    if early is not None:
        return early
    if op.intake is None:  # pragma: no cover - the service always has an intake
        return await asyncio.to_thread(op.submit_prepared, order)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[Outcome, OrderRecord]] = loop.create_future()

    def settle(answer: tuple[Outcome, OrderRecord] | None, error: BaseException | None) -> None:
        if not future.done():
            if error is not None or answer is None:
                future.set_exception(error or RuntimeError("no answer from the intake"))
            else:
                future.set_result(answer)

    def from_writer(answer: tuple[Outcome, OrderRecord] | None, error: BaseException | None) -> None:
        loop.call_soon_threadsafe(settle, answer, error)

    op.intake.submit_async(order, from_writer)
    outcome, stored = await future
    return op.answer(order, outcome, stored)


Caller = Annotated[Member, Depends(_caller)]


def _admin(caller: Caller) -> Member:
    Operator.require(caller, ("admin",), "this endpoint")
    return caller


Admin = Annotated[Member, Depends(_admin)]


def create_app(settings: Settings) -> FastAPI:
    """Build the app (and its service: the store is opened and the intake started right away)."""
    service = Service(settings)
    op = service.operator
    desk = NegawattDesk(op)
    meters = MeterDesk(op)
    service.cycle.tasks.append(desk.process_due)  # events cleared when offers close, settled after the window

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="Transactive", version=__version__, lifespan=lifespan,
                  description="Peer-to-peer energy trading: communities, orders, slots and results. "
                              "Errors: `{\"error\": {\"field\", \"message\"}}`. See docs/api.md.")
    app.state.service = service
    app.state.negawatt_desk = desk
    _errors.install(app)

    app.add_middleware(_BodyLimit)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness, the market clock's time, how many orders the intake committed in how many commits, and how
        many live-update streams are open."""
        return {"status": "ok", "version": __version__, "now": settings.clock.now().isoformat(),
                "intake": {"orders": service.intake.orders, "commits": service.intake.batches},
                "events": {"streams": app.state.events.clients}}

    @app.get("/me", tags=["service"])
    def me(caller: Caller) -> dict[str, Any]:
        """Who the API key belongs to: member id, role, community (null for an administrator), feeder bus, the
        custodial chain account's address (``chain_address``, with the ledger) and the address registered with
        the multi-settlement desk (``registered_address``); null where there is none."""
        account = service.store.chain_account(caller.id) if service.ledger is not None else None
        registered = None
        if caller.community is not None:
            registered = next((a.address for a in service.store.member_addresses(caller.community)
                               if a.member == caller.id), None)
        return {"id": caller.id, "role": caller.role, "community": caller.community, "bus": caller.bus,
                "chain_address": None if account is None else account.address, "registered_address": registered}

    @app.post("/admin/communities", status_code=201, tags=["admin"])
    def create_community(body: CommunityIn, _caller: Admin) -> dict[str, Any]:
        """Create a community trading with one mechanism (admin), optionally in a time zone (default UTC)."""
        zone = None if body.time_zone is None else community_settings.check_time_zone(body.time_zone)
        created = op.create_community(body.name, body.mechanism, body.params, body.slot_minutes)
        if zone is not None:
            community_settings.save(service.store, created.name, {"time_zone": zone}, settings.clock.now())
        return _community_json(created, service.store)

    @app.post("/admin/communities/{community}/members", status_code=201, tags=["admin"])
    def add_member(community: str, body: MemberIn, caller: Admin) -> dict[str, Any]:
        """Register a member and issue its API key (shown only in this answer; stored hashed) (admin); with
        ``meter_address``, its meter key (docs/api.md, meter readings)."""
        if body.meter_address is not None:  # checked before anything is stored
            checked_address(body.meter_address, "meter_address")
        new, key = op.add_member(community, body.id, body.role, body.bus)
        meter = None
        if body.meter_address is not None:
            meter = meters.set_meter(caller, community, {"member": new.id, "meter_address": body.meter_address})
        return {"id": new.id, "community": new.community, "role": new.role, "bus": new.bus, "api_key": key,
                **({} if meter is None else {"meter_address": meter.address})}

    @app.post("/admin/communities/{community}/slots/{slot_start}/clear", tags=["admin"])
    def clear(community: str, slot_start: str, _caller: Admin) -> dict[str, Any]:
        """Clear a slot now (admin); only once its quotation window has closed."""
        c = op.community(community)
        start = parse_slot_start(slot_start, c.slot_minutes)
        if window_at(start, c.slot_minutes, settings.clock.now()).phase in (Phase.PENDING, Phase.QUOTATION):
            raise MarketError("slot_start", f"quotation is open until {iso(quotation_closes(start, c.slot_minutes))}",
                              "conflict")
        slot = op.clear_slot(c.name, start)
        service._cleared(slot)
        anchoring = {"anchoring": "pending"} if service.ledger is not None and slot.state is SlotState.CLEARED else {}
        # anchoring is the ledger's work in the cycle, not this request's (a chain problem is not a failed clear)
        return {"community": slot.community, "slot_start": slot.start, "state": slot.state.value,
                "note": slot.note, **anchoring}

    @app.get("/admin/dead-letters", tags=["admin"])
    def dead_letters(_caller: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """Messages that could not be processed (acknowledged, never redelivered), newest first (admin)."""
        return [{"id": d.id, "source": d.source, "topic": d.topic, "reason": d.reason, "payload": d.payload,
                 "payload_bytes": d.payload_bytes, "received_at": d.received_at}
                for d in service.store.dead_letters(limit)]

    @app.get("/communities", tags=["communities"])
    def list_communities(caller: Caller) -> list[dict[str, Any]]:
        """All communities (admin) or your own."""
        return [_community_json(c, service.store) for c in op.communities()
                if caller.role == "admin" or c.name == caller.community]

    @app.get("/communities/{community}", tags=["communities"])
    def get_community(community: str, caller: Caller) -> dict[str, Any]:
        return _community_json(op.community_for(caller, community), service.store)

    @app.post("/communities/{community}/orders", status_code=201, tags=["orders"],
              responses={200: {"description": "a retry with the same idempotency key: the stored order"},
                         409: {"description": "late, or a conflicting order / key"}})
    async def submit_order(community: str, body: OrderIn, caller: Caller) -> JSONResponse:
        """Submit one order (prosumer, aggregator). Answered only once the order is durable."""
        raw = body.model_dump(exclude_unset=True)
        if body.blocks is not None:
            raw["blocks"] = [b.model_dump(exclude_unset=True) for b in body.blocks]
        receipt = await _durable(op, op.prepare_order(caller, community, raw))
        status = 201 if receipt.outcome is Outcome.CREATED else 200
        if receipt.outcome is Outcome.CREATED:
            app.state.events.order_placed(receipt)  # the member's other pages hear of it
        return JSONResponse({**order_json(receipt.order), "status": receipt.outcome.value}, status_code=status)

    @app.get("/communities/{community}/orders", tags=["orders"])
    def list_orders(community: str, caller: Caller,
                    slot_start: Annotated[str | None, Query(description="only this slot")] = None,
                    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Your orders (prosumer, aggregator); a whole slot's orders (admin, validator) once its quotation window
        has closed -- before, only their commitment ``{"revealed": false, "count", "commitment", "reveals_at"}``
        (docs/api.md, commit-reveal). Never for the DSO."""
        found = op.orders_of(caller, community, slot_start)
        if isinstance(found, OrderCommitment):
            return found.to_json()
        return [order_json(o) for o in found]

    @app.get("/communities/{community}/slots/{slot_start}", tags=["slots"])
    def slot_status(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """The slot's phase (quotation, matching, ...), its state and the number of orders."""
        return op.slot_status(caller, community, slot_start)

    @app.get("/communities/{community}/slots/{slot_start}/result", tags=["slots"])
    def slot_result(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """The slot's result as your role may see it (own rows; DSO view; full for admin and validators)."""
        c = op.community_for(caller, community)
        start = iso(parse_slot_start(slot_start, c.slot_minutes))
        record = service.store.get_result(c.name, start)
        if record is None:
            slot = service.store.get_slot(c.name, start)
            state = "open" if slot is None else f"{slot.state.value}{': ' + slot.note if slot.note else ''}"
            raise MarketError("slot_start", f"no result for this slot (state {state})", "not_found")
        return result_view(service.store, caller, record)

    # ------------------------------------------------------------------------------ negawatt events
    base = "/communities/{community}/negawatt-events"

    @app.post(base, status_code=201, tags=["negawatt"])
    def announce_event(community: str, body: NegawattEventIn, caller: Caller) -> dict[str, Any]:
        """Announce a demand-response event (aggregator): target, window, reservation price, baseline rule."""
        return desk.announce(caller, community, body.model_dump(exclude_none=True))

    @app.get(base, tags=["negawatt"])
    def list_events(community: str, caller: Caller) -> list[dict[str, Any]]:
        """The community's events: listing, state and state history (no offers)."""
        return desk.events(caller, community)

    @app.get(base + "/{event}", tags=["negawatt"])
    def get_event(community: str, event: str, caller: Caller) -> dict[str, Any]:
        """The event as your role may see it (full: its aggregator, admin, validators; dso; member: own rows)."""
        return desk.view(caller, community, event)

    @app.post(base + "/{event}/offers", status_code=201, tags=["negawatt"],
              responses={409: {"description": "offers closed, or a second offer"}})
    def offer(community: str, event: str, body: NegawattOfferIn, caller: Caller) -> dict[str, Any]:
        """Offer a reduction (prosumer, aggregator; one per member, until offers_close)."""
        answer = desk.offer(caller, community, event, body.model_dump(exclude_none=True))
        app.state.events.negawatt_changed(community, event, "offer")  # the aggregator's page hears of it
        return answer

    @app.post(base + "/{event}/clear", tags=["negawatt"])
    def clear_event(community: str, event: str, caller: Caller) -> dict[str, Any]:
        """Close the bidding and clear (the event's aggregator or an admin; after offers_close)."""
        answer = desk.clear(caller, community, event)
        app.state.events.negawatt_changed(community, event, "cleared")
        return answer

    @app.post(base + "/{event}/deliveries", status_code=201, tags=["negawatt"])
    def delivery(community: str, event: str, body: NegawattDeliveryIn, caller: Caller) -> JSONResponse:
        """Interval meter data of an offering member after the window: verified against its baseline."""
        outcome, answer = desk.report_delivery(caller, community, event, body.model_dump(exclude_none=True))
        return JSONResponse({**answer, "status": outcome.value},
                            status_code=201 if outcome is Outcome.CREATED else 200)

    @app.post(base + "/{event}/settle", tags=["negawatt"])
    def settle_event(community: str, event: str, caller: Caller) -> dict[str, Any]:
        """Verify and settle: secondary market for shortfalls, penalties, postings (aggregator or admin)."""
        return desk.settle(caller, community, event)

    from transactive.api import meter_routes  # lazily: it imports this module's Caller

    meter_routes.register(app, meters)

    if service.ledger is not None:
        from transactive.api import ledger_routes

        ledger_routes.register(app, op, service.ledger)

    # ------------------------------------------------------------------------------ multi-settlement desk
    from transactive.api import _multi_routes  # lazily: it imports this module's Caller

    # signs in the chain's EIP-712 domain when the ledger runs; its settle endpoint answers the ledger's settlement
    app.state.multi_desk = MultiDesk(op, service.store)
    service.cycle.tasks.append(app.state.multi_desk.process_due)  # without a chain: settles at the deadline
    _multi_routes.register(app, app.state.multi_desk)
    from transactive.api import order_form_routes  # the order form and order defaults (imports Caller too)

    order_form_routes.register(app, op)
    from transactive.api import explorer_routes  # the role pages' reads: members, feeder, ledger explorer

    explorer_routes.register(app, service)
    from transactive.api import events, prosumer_routes  # standing instructions, settings, proofs; live updates
    from transactive.market.standing_desk import StandingDesk

    standing_desk = app.state.standing_desk = StandingDesk(op)
    service.cycle.tasks.append(standing_desk.process_due)  # each slot's standing orders, as the slot comes up
    prosumer_routes.register(app, op, standing_desk, service.ledger)
    hub = app.state.events = events.EventHub()
    service.on_cleared.append(hub.slot_finished)
    if service.ledger_worker is not None:
        service.ledger_worker.on_done.append(hub.ledger_step)
    standing_desk.on_placed.append(hub.order_placed)
    events.register(app, op, hub)

    mount_web_app(app)  # the web app at /app (docs/webapp.md), / redirects there
    return app
