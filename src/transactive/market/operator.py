"""The market operator: communities and members, order intake, and clearing slots into stored results.

Business rules (documented in ``docs/service.md``):

* **Orders** are one participant entry as in a market file (``energy_kwh`` + ``price_per_kwh``, or ``blocks``
  where the mechanism takes block bids, plus mechanism-specific fields such as ``bus``), with ``side``
  (``"sell"`` or ``"buy"``), ``slot_start`` (ISO 8601 UTC, aligned to the slot length) and
  ``idempotency_key`` (1-128 characters, unique per member). The participant id is the member id. The entry
  is validated by :func:`transactive.marketfile.parse_participant`, so errors name the same fields as in a
  market file (``blocks[1].price_per_kwh``).
* **Windows:** orders are taken while the slot is ``pending`` (up to :data:`MAX_DAYS_AHEAD` days ahead) or in
  its quotation window; later they are rejected (``too_late``) and nothing is stored.
* **One order per member per slot.** A second order with another key is a ``conflict``.
* **Idempotency:** resubmitting the same order with the same key returns the stored order (``duplicate``),
  even after quotation closed; the same key with a different order is a ``conflict`` naming
  ``idempotency_key``.
* **Clearing:** when quotation closes the slot is first marked ``closed`` (from then on no order is stored
  in it), then cleared with ``full_registry()[mechanism]`` over its orders in arrival order, and the
  ``transactive.result/1`` document is stored with state ``cleared``; a slot that cannot clear (a side
  empty, or the mechanism refuses the orders) becomes ``void`` with a note naming the reason.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from transactive._bulk import gc_paused
from transactive.errors import MarketError
from transactive.grid.feeder import DEFAULT_FEEDER
from transactive.market import order_defaults
from transactive.market.clock import Clock
from transactive.market.commit_reveal import OrderCommitment, sealed
from transactive.market.intake import OrderIntake
from transactive.market.ledger.operator_clearing import OperatorClearing
from transactive.market.order_limits import order_bound_error
from transactive.market.slots import parse_slot_start, quotation_closes, slot_containing, window_at
from transactive.marketfile import (
    MARKET_FORMAT,
    MarketFileError,
    parse_market,
    parse_params,
    parse_participant,
    result_document,
)
from transactive.matching.mechanisms import unknown_location_field
from transactive.mechanisms import Mechanism
from transactive.registry import full_registry
from transactive.settlement.fund import no_trade_result, settle_auction
from transactive.settlement.wholesale import COMMUNITY_KEY, community_series, mechanism_params
from transactive.store import (
    ROLES,
    Community,
    Member,
    MeterReading,
    OrderRecord,
    Outcome,
    ResultRecord,
    Role,
    SideName,
    Slot,
    SlotState,
    Store,
)
from transactive.store.leases import Leases, pause_point
from transactive.times import iso
from transactive.units import entry_at_batch_resolution

if TYPE_CHECKING:
    from transactive.market.ledger.desk import LedgerDesk
    from transactive.marketfile import Market
    from transactive.result import ClearingResult

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SIDES: Mapping[str, SideName] = {"sell": "sellers", "buy": "buyers"}
ORDER_KEYS = ("side", "slot_start", "idempotency_key")
MAX_KEY_LENGTH = 128
MAX_DAYS_AHEAD = 7
MAX_BUS_BYTES = 32  # a member's bus in the chain's Registry is a bytes32, and a signed attribute at most 32 bytes
TRADING_ROLES: tuple[Role, ...] = ("prosumer", "aggregator")
DEFAULT_MECHANISM = "dpda_matched"  # DPDA + score matching on the feeder (docs/grid.md), anchored and settled


def hash_key(api_key: str) -> str:
    """SHA-256 hex digest of an API key (keys are random 256-bit tokens, so no salt or stretching is needed)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return "tk_" + secrets.token_urlsafe(32)


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise MarketError(field, "must be 1-64 characters: letters, digits, '_', '.', '-' (not first)")
    return value


@dataclass(frozen=True)
class Receipt:
    """An accepted order: ``created`` now, or a ``duplicate`` of the one stored earlier under the same key."""

    outcome: Outcome
    order: OrderRecord


class Operator:
    """Runs the market over a :class:`~transactive.store.Store` and a :class:`~transactive.market.clock.Clock`.

    ``intake`` (a started :class:`OrderIntake`) batches order commits; without it each order commits alone.
    ``leases``: who clears a slot (:mod:`transactive.store.leases`: fleet-wide on PostgreSQL); default
    process-local.
    """

    def __init__(self, store: Store, clock: Clock, registry: Mapping[str, Mechanism[Any]] | None = None,
                 intake: OrderIntake | None = None, leases: Leases | None = None) -> None:
        self.store = store
        self.clock = clock
        self.registry = full_registry() if registry is None else registry
        self.intake = intake
        self._members: dict[str, Member] = {}
        self._communities: dict[str, Community] = {}
        self.leases = Leases() if leases is None else leases
        self.ledger: LedgerDesk | None = None  # set by the service: accounts, anchoring and settlement on chain

    # ------------------------------------------------------------------------------------ communities
    def create_community(self, name: object, mechanism: object = DEFAULT_MECHANISM, params: object = None,
                         slot_minutes: object = 15) -> Community:
        name = _name(name, "name")
        if not isinstance(mechanism, str) or mechanism not in self.registry:
            raise MarketError("mechanism", f"unknown mechanism (known: {', '.join(self.registry)})")
        raw_params = {} if params is None else params
        series = community_series(raw_params) if isinstance(raw_params, dict) else None
        try:  # the mechanism's own parameters; ``wholesale`` is the grid stage's (settlement/wholesale.py)
            parse_params(self.registry[mechanism], mechanism_params(raw_params) if isinstance(raw_params, dict)
                         else raw_params)
        except MarketFileError as exc:
            raise MarketError(exc.field, exc.message) from None
        assert isinstance(raw_params, dict)
        if series is not None:  # stored with explicit prices ("synthetic" resolved): readers see the numbers
            raw_params = {**raw_params, COMMUNITY_KEY: series.to_json()}
        if isinstance(slot_minutes, bool) or not isinstance(slot_minutes, int) or slot_minutes <= 0 \
                or 1440 % slot_minutes:
            raise MarketError("slot_minutes", "must be a whole number of minutes dividing a day (e.g. 5, 15, 60)")
        community = Community(name, mechanism, dict(raw_params), slot_minutes, _utc_stamp(self.clock.now()))
        if not self.store.create_community(community):
            raise MarketError("name", f"community {name!r} exists", "conflict")
        return community

    def community(self, name: str) -> Community:
        found = self._communities.get(name)
        if found is None:
            found = self.store.get_community(name)
            if found is None:
                raise MarketError("community", f"no community {name[:64]!r}", "not_found")
            self._communities[name] = found
        return found

    def communities(self) -> list[Community]:
        return self.store.list_communities()

    # ------------------------------------------------------------------------------------ members
    def add_member(self, community: str, member_id: object, role: object, bus: object = None, *,
                   enrol: bool = True) -> tuple[Member, str]:
        """Register a member of ``community``; returns it and its API key (shown once, stored hashed).
        ``enrol=False``: its chain account is left to the caller's batch enrolment (``LedgerDesk.enrol_many``;
        else at the next start)."""
        self.community(community)
        member_id = _name(member_id, "id")
        if role not in ROLES or role == "admin":
            raise MarketError("role", "must be one of prosumer, aggregator, dso, validator")
        if bus is not None and (isinstance(bus, bool) or not isinstance(bus, str | int) or not str(bus).strip()
                                or len(str(bus).encode("utf-8")) > MAX_BUS_BYTES):
            raise MarketError("bus", f"must be a non-empty string (up to {MAX_BUS_BYTES} UTF-8 bytes: the chain's "
                              "Registry keeps a bytes32) or an integer")
        if bus is None and role in TRADING_ROLES and self.ledger is not None and self._locates_members(community):
            raise MarketError("bus", f"required: community {community!r} clears on the feeder (its members sign "
                              "their bus, which the chain's Registry must confirm)")
        key = new_api_key()
        member = Member(member_id, community, role, hash_key(key), None if bus is None else str(bus))
        if not self.store.add_member(member):
            raise MarketError("id", f"member {member_id!r} exists", "conflict")
        if self.ledger is not None and enrol:  # its chain account (a failure here is retried at the next start)
            try:
                self.ledger.enrol(member)
            except Exception:
                log.exception("enrolling %s on the chain failed", member.id)
        return member, key

    def _locates_members(self, community: str) -> bool:
        """Whether the community's mechanism places its traders on the feeder by their bus (grid-aware, e.g.
        ``dpda_matched``, unless it runs on straight-line distances with ``feeder: "none"``). With the ledger,
        such a community's traders need a registered bus (the Registry confirms every signed bus); without it
        an order may still give its bus itself."""
        c = self.community(community)
        mechanism = self.registry.get(c.mechanism)
        return (mechanism is not None and any(f.name == "bus" for f in mechanism.participant_fields)
                and c.params.get("feeder") != "none")

    def ensure_admin(self, api_key: str) -> Member:
        """Make ``api_key`` an administrator's key (idempotent): the bootstrap of a fresh service."""
        digest = hash_key(api_key)
        found = self.store.member_by_key_hash(digest)
        if found is not None:
            if found.role != "admin":
                raise ValueError("that key belongs to a non-admin member")
            return found
        member = Member("admin" if self.store.get_member("admin") is None else f"admin-{digest[:12]}", None,
                        "admin", digest)
        if not self.store.add_member(member):
            again = self.store.member_by_key_hash(digest)  # another process of a fleet stored it first
            if again is None or again.role != "admin":
                raise RuntimeError("could not store the admin")
            return again
        return member

    def authenticate(self, api_key: str | None) -> Member:
        if not api_key:
            raise MarketError("Authorization", "missing API key (send 'Authorization: Bearer <key>')",
                              "unauthenticated")
        digest = hash_key(api_key)
        member = self._members.get(digest)
        if member is None:
            member = self.store.member_by_key_hash(digest)
            if member is None:
                raise MarketError("Authorization", "unknown API key", "unauthenticated")
            self._members[digest] = member
        return member

    @staticmethod
    def require(member: Member, roles: tuple[Role, ...], what: str) -> None:
        if member.role not in roles:
            raise MarketError("Authorization", f"{what} needs role {' or '.join(roles)} (you are {member.role})",
                              "forbidden")

    def community_for(self, member: Member, name: str) -> Community:
        """The community, if ``member`` may see it (its own, or any for an admin)."""
        community = self.community(name)
        if member.role != "admin" and member.community != community.name:
            raise MarketError("community", f"you are not a member of {name!r}", "forbidden")
        return community

    # ------------------------------------------------------------------------------------ orders
    def prepare_order(self, member: Member, community_name: str, body: object) -> OrderRecord:
        """Validate an order body into a record (nothing stored)."""
        self.require(member, TRADING_ROLES, "submitting orders")
        community = self.community_for(member, community_name)
        if not isinstance(body, dict):
            raise MarketError("(body)", "must be a JSON object")
        for key in ORDER_KEYS:
            if key not in body:
                raise MarketError(key, "required")
        side_name = body["side"]
        if side_name not in SIDES:
            raise MarketError("side", "must be \"sell\" or \"buy\"")
        side = SIDES[side_name]
        mechanism = self.registry[community.mechanism]
        if side not in mechanism.sides:
            raise MarketError("side", f"{mechanism.name} takes no {side}")
        key = body["idempotency_key"]
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise MarketError("idempotency_key", f"must be a string of 1-{MAX_KEY_LENGTH} characters")
        start = parse_slot_start(body["slot_start"], community.slot_minutes)
        if "id" in body and body["id"] != member.id:
            raise MarketError("id", "is your member id (it may be omitted)")
        entry = {k: v for k, v in body.items() if k not in ORDER_KEYS}
        entry["id"] = member.id
        locates = any(f.name == "bus" for f in mechanism.participant_fields)
        if member.bus is not None and locates and self._locates_members(community.name):
            # location is the member's registered bus (also in the chain's Registry): default and check it
            entry.setdefault("bus", member.bus)
            if str(entry["bus"]) != member.bus:
                raise MarketError("bus", f"is your registered bus {member.bus!r}")
        order_defaults.fill(self.store, member.id, mechanism, side, entry)  # e.g. distance_pref_m, if omitted
        try:
            participant = parse_participant(mechanism, side, entry)
        except MarketFileError as exc:
            raise MarketError(exc.field, exc.message) from None
        if locates:  # bus on a feeder, x_m/y_m without: the clearing's rule (matching.mechanisms)
            found = unknown_location_field(str(community.params.get("feeder", DEFAULT_FEEDER)),
                                           participant.attributes)
            if found is not None:
                raise MarketError(*found)
        for k, (e, p) in enumerate(participant.blocks):
            bound = order_bound_error(e, p, community.slot_minutes)
            if bound is not None:
                raise MarketError(f"blocks[{k}].{bound[0]}" if "blocks" in entry else bound[0], bound[1])
        stored: dict[str, Any]
        if "blocks" in entry:
            stored = {"blocks": [{"energy_kwh": e, "price_per_kwh": p} for e, p in participant.blocks]}
        else:
            ((e, p),) = participant.blocks
            stored = {"energy_kwh": e} if "price_per_kwh" not in entry else {"energy_kwh": e, "price_per_kwh": p}
        # optional fields that were not given come back as NaN (e.g. x_m, y_m with a feeder): not stored
        stored.update({k: v for k, v in participant.attributes.items() if not (isinstance(v, float) and math.isnan(v))})
        if self.ledger is not None:  # the clearing's own check of what it will see: the entry at batch resolution
            try:
                parse_participant(mechanism, side, {"id": member.id, **self.clearing_entry(stored)})
            except MarketFileError as exc:
                raise MarketError(exc.field, f"{exc.message} at the ledger's resolution (energy in whole Wh, "
                                  "prices in whole micro-tokens per kWh)") from None
        now = self.clock.now()
        return OrderRecord(str(uuid.uuid4()), community.name, iso(start), member.id, side, stored, key,
                           _utc_stamp(now))

    def _check_window(self, order: OrderRecord, slot_minutes: int) -> None:
        start = datetime.fromisoformat(order.slot_start)
        now = self.clock.now()
        if start - now > timedelta(days=MAX_DAYS_AHEAD):
            raise MarketError("slot_start", f"more than {MAX_DAYS_AHEAD} days ahead")
        window = window_at(start, slot_minutes, now)
        if not window.phase.takes_orders:
            raise MarketError("slot_start", f"quotation closed at {iso(quotation_closes(start, slot_minutes))} "
                              f"(the slot is in its {window.phase.value} phase)", "too_late")

    def _answer(self, order: OrderRecord, outcome: Outcome, stored: OrderRecord) -> Receipt:
        if outcome is Outcome.CREATED:
            return Receipt(outcome, stored)
        if outcome is Outcome.DUPLICATE:
            same = (stored.community, stored.slot_start, stored.side, dict(stored.entry)) == \
                   (order.community, order.slot_start, order.side, dict(order.entry))
            if not same:
                raise MarketError("idempotency_key", f"already used for another order ({stored.id})", "conflict")
            return Receipt(outcome, stored)
        if outcome is Outcome.CONFLICT:
            raise MarketError("slot_start", f"you already have an order in this slot ({stored.id}); one per slot",
                              "conflict")
        raise MarketError("slot_start", "quotation closed: the slot no longer takes orders", "too_late")

    def accept(self, order: OrderRecord) -> Receipt | None:
        """Window check for a prepared order: a late order is answered from the store if it is a retry of a
        stored one (idempotency), else rejected. None: go on and store it."""
        community = self.community(order.community)
        try:
            self._check_window(order, community.slot_minutes)
        except MarketError as exc:
            if exc.kind != "too_late":
                raise
            earlier = self.store.order_by_key(order.member, order.idempotency_key)
            if earlier is None:
                raise
            return self._answer(order, Outcome.DUPLICATE, earlier)
        return None

    def answer(self, order: OrderRecord, outcome: Outcome, stored: OrderRecord) -> Receipt:
        """Turn the store's outcome for ``order`` into a receipt, or raise the matching :class:`MarketError`."""
        return self._answer(order, outcome, stored)

    def submit_order(self, member: Member, community_name: str, body: object) -> Receipt:
        """Validate, check the window and store durably; returns only once the order is on disk."""
        order = self.prepare_order(member, community_name, body)
        early = self.accept(order)
        if early is not None:
            return early
        return self.submit_prepared(order)

    def submit_prepared(self, order: OrderRecord) -> Receipt:
        """Store a prepared, window-checked order durably (blocking) and answer it."""
        if self.intake is not None:
            outcome, stored = self.intake.submit(order)
        else:
            ((outcome, stored),) = self.store.put_orders([order])
        return self._answer(order, outcome, stored)

    def orders_of(self, member: Member, community_name: str, slot_start: str | None
                  ) -> list[OrderRecord] | OrderCommitment:
        """A trader's own orders; an admin's or validator's view of a whole slot, which is only its commitment
        (count and hash, :mod:`transactive.market.commit_reveal`) while the slot takes orders. The DSO sees
        no orders."""
        community = self.community_for(member, community_name)
        start = None if slot_start is None else iso(parse_slot_start(slot_start, community.slot_minutes))
        if member.role in ("admin", "validator"):
            if start is None:
                raise MarketError("slot_start", "required for the whole-slot view")
            orders = self.store.orders_in_slot(community.name, start)
            moment = datetime.fromisoformat(start)
            if sealed(moment, community.slot_minutes, self.clock.now()):  # commit first, reveal after quotation
                return OrderCommitment.of(community.name, moment, community.slot_minutes, orders)
            return orders
        self.require(member, TRADING_ROLES, "listing orders")
        return [o for o in self.store.orders_of_member(member.id, start) if o.community == community.name]

    # ------------------------------------------------------------------------------------ clearing
    def clearing_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A stored order entry as the clearing sees it: at the ledger's batch resolution when the ledger runs
        (the validators recompute from signed orders in Wh and micro-tokens), as stored without it. The intake
        validates this same view (``prepare_order``), so an accepted order never voids its slot."""
        return entry_at_batch_resolution(entry) if self.ledger is not None else dict(entry)

    def clear_slot(self, community_name: str, start: datetime) -> Slot:
        """Close and clear one slot (idempotent: a finished slot is returned as stored); waits while another
        process of the fleet holds the slot's clearing lease."""
        slot = self._clear_leased(community_name, start, wait=True)
        assert slot is not None
        return slot

    def _clear_leased(self, community_name: str, start: datetime, *, wait: bool) -> Slot | None:
        """Clear one slot under its lease ``clear/<community>/<start>``; None when another holder has it and
        ``wait`` is False. Resumable: a holder killed after closing the slot leaves it ``closed``, which the
        next holder clears (the result is stored once: ``finish_slot`` only finishes an open or closed slot)."""
        community = self.community(community_name)
        slot_start = iso(start)
        with self.leases.hold(f"clear/{community.name}/{slot_start}", wait=wait) as held:
            if not held:
                return None
            existing = self.store.get_slot(community.name, slot_start)
            if existing is not None and existing.state in (SlotState.CLEARED, SlotState.VOID):
                return existing
            self.store.close_slot(community.name, slot_start, community.slot_minutes)
            pause_point("clear")  # tests: the holder killed between closing and storing the result
            return self._clear_closed(community, slot_start)

    def _clear_closed(self, community: Community, slot_start: str) -> Slot:
        """Clear a closed slot's orders and store the result (or ``void``): the many small objects of a large
        slot built with the cyclic garbage collector paused (:func:`transactive._bulk.gc_paused`)."""
        with gc_paused():
            orders = self.store.orders_in_slot(community.name, slot_start)
            doc = {
                "format": MARKET_FORMAT, "mechanism": community.mechanism,
                "params": mechanism_params(community.params),
                "sellers": [self.clearing_entry({"id": o.member, **o.entry}) for o in orders if o.side == "sellers"],
                "buyers": [self.clearing_entry({"id": o.member, **o.entry}) for o in orders if o.side == "buyers"],
            }
            slot = Slot(community.name, slot_start, community.slot_minutes, SlotState.CLEARED)
            result: ResultRecord | None = None
            kept: OperatorClearing | None = None
            try:
                market = parse_market(doc, self.registry)
                cleared = market.clear()
                document = settled_result_document(market, cleared)
                result = ResultRecord(community.name, slot_start, document, _utc_stamp(self.clock.now()))
                kept = OperatorClearing(community.mechanism, mechanism_params(community.params), market.sellers,
                                        market.buyers, cleared, tuple(orders))
            except MarketFileError as exc:
                note = "no orders" if not orders else f"cannot clear: {exc}"
                slot = Slot(community.name, slot_start, community.slot_minutes, SlotState.VOID, note)
            except Exception as exc:  # a mechanism refusing its input must not stop the cycle
                log.exception("clearing %s %s failed", community.name, slot_start)
                slot = Slot(community.name, slot_start, community.slot_minutes, SlotState.VOID,
                            f"clearing failed: {type(exc).__name__}: {exc}")
            if self.store.finish_slot(slot, result) and kept is not None and self.ledger is not None:
                self.ledger.keep_clearing(community.name, slot_start, kept)  # the anchoring clears no second time
            stored = self.store.get_slot(community.name, slot_start)
            assert stored is not None
            return stored

    def clear_due(self) -> list[Slot]:
        """Clear every slot whose quotation has closed and that is not finished yet."""
        now = self.clock.now()
        done: list[Slot] = []
        for community in self.store.list_communities():
            for state in (SlotState.OPEN, SlotState.CLOSED):
                for slot in self.store.slots(community.name, state):
                    start = datetime.fromisoformat(slot.start)
                    if now >= quotation_closes(start, community.slot_minutes):
                        cleared = self._clear_leased(community.name, start, wait=False)
                        if cleared is not None:  # else another process of the fleet is clearing it
                            done.append(cleared)
        return done

    def slot_status(self, member: Member, community_name: str, slot_start: str) -> dict[str, Any]:
        community = self.community_for(member, community_name)
        start = parse_slot_start(slot_start, community.slot_minutes)
        window = window_at(start, community.slot_minutes, self.clock.now())
        slot = self.store.get_slot(community.name, iso(start))
        from transactive.market.slots import phase_bounds

        return {
            "community": community.name,
            "slot_start": iso(start),
            "slot_minutes": community.slot_minutes,
            "phase": window.phase.value,
            "phase_closes_at": None if window.closes_at is None else iso(window.closes_at),
            "phases": {p.value: [iso(a), iso(b)] for p, (a, b) in phase_bounds(start, community.slot_minutes).items()},
            "state": (slot.state.value if slot is not None
                      else SlotState.OPEN.value if window.phase.takes_orders else SlotState.VOID.value),
            "note": slot.note if slot is not None else "" if window.phase.takes_orders else "no orders",
            "orders": len(self.store.orders_in_slot(community.name, iso(start))) if slot is not None else 0,
        }

    def current_slot(self, community_name: str) -> datetime:
        return slot_containing(self.clock.now(), self.community(community_name).slot_minutes)

    # ------------------------------------------------------------------------------------ meter readings
    def submit_meter_reading(self, member: Member, community_name: str, body: object) -> tuple[Outcome, MeterReading]:
        """A member's net metered energy for a slot that has ended (kWh, + exported / - imported); the rules
        (meter keys, signatures, bounds, who may report) are :class:`transactive.market.meters.MeterDesk`'s."""
        from transactive.market.meters import MeterDesk

        return MeterDesk(self).submit_reading(member, community_name, body)

    def submit_meter_readings(self, community_name: str, readings: Sequence[tuple[Member, object]]
                              ) -> list[tuple[Outcome, MeterReading]]:
        """A burst of meter readings ``(member, body)`` (:meth:`MeterDesk.submit_readings
        <transactive.market.meters.MeterDesk.submit_readings>`: each as :meth:`submit_meter_reading` takes it)."""
        from transactive.market.meters import MeterDesk

        return MeterDesk(self).submit_readings(community_name, readings)

def settled_result_document(market: Market, result: ClearingResult) -> dict[str, Any]:
    """The result document the service stores and serves: the clearing as the ledger settles it.

    The one rule (:func:`transactive.settlement.fund.settle_auction`, as
    :func:`transactive.ledger.messages.commitments.result_entries` applies it to the anchored batch) keeps the
    mechanism's clearing when every participant is individually rational, else applies the community's remedy
    (``balanced_budget``, then ``no_trade``). With a remedy the document shows the remedied allocation and says
    so in ``details.remedy`` (the policy, the reason, the mechanism's own clearing price); ``mechanism`` stays
    the community's mechanism. So a result page never differs from what the members are paid
    (``docs/settlement.md``)."""
    settled = settle_auction(result, market.sellers, market.buyers, market.sellers.ids, market.buyers.ids,
                             ppm=(0, 0))
    if settled.policy_applied is None:
        return result_document(market, result)
    remedied = settled.result if settled.result is not None else no_trade_result(result)
    document = result_document(market, remedied)
    document["mechanism"] = result.mechanism
    document["details"] = {**document["details"], "remedy": {
        "policy": settled.policy_applied, "reason": settled.policy_reason,
        "mechanism_price_per_kwh": None if result.price_per_kwh is None else float(result.price_per_kwh)}}
    return document

