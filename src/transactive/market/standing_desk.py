"""The service's side of standing instructions (:mod:`transactive.market.standing`): saving one (checked by
the intake's own rules), showing it with its status light and next order, and the cycle task that places the
orders.

**When** a standing order is placed: from a fifth of a slot before the slot starts (3 minutes for 15-minute
slots, the length of the quotation window) until its quotation closes. A member who placed its own order for
the slot before then keeps it (one order per member and slot); a standing order is placed once per slot
(idempotency key ``standing-<slot start>``, so a retry or a second service process cannot place it twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from transactive.errors import MarketError
from transactive.market import standing
from transactive.market.operator import TRADING_ROLES, Operator, Receipt
from transactive.market.slots import quotation_closes, slot_containing
from transactive.store import Community, Member
from transactive.times import iso

log = logging.getLogger(__name__)


def due_slots(now: datetime, slot_minutes: int) -> list[datetime]:
    """The slots whose standing orders are due at ``now``: from ``slot_minutes * 12`` s (a fifth of the slot)
    before each starts until its quotation closes (at most two slots: the current and the next)."""
    lead = timedelta(seconds=12 * slot_minutes)
    current = slot_containing(now, slot_minutes)
    following = current + timedelta(minutes=slot_minutes)
    return [s for s in (current, following) if s - lead <= now < quotation_closes(s, slot_minutes)]


def next_slot(now: datetime, slot_minutes: int) -> datetime:
    """The first slot whose standing order is not placed yet: due now, or the next one to come."""
    due = due_slots(now, slot_minutes)
    if due:
        return due[0]
    return slot_containing(now, slot_minutes) + timedelta(minutes=slot_minutes)


@dataclass(frozen=True)
class Placement:
    """What the desk did for a member's slot: ``order_id`` (placed), else ``field`` and ``message`` (refused
    by the intake, or why nothing was placed)."""

    slot_start: str
    order_id: str | None
    field: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"slot_start": self.slot_start, "order_id": self.order_id, "field": self.field,
                "message": self.message}


class StandingDesk:
    """Saves, shows and carries out standing instructions over the operator's store and clock."""

    def __init__(self, operator: Operator) -> None:
        self.op = operator
        self.on_placed: list[Callable[[Receipt], None]] = []  # e.g. the live-update hub
        self._done: dict[tuple[str, str], set[str]] = {}  # (community, slot) -> members handled
        self._last: dict[str, Placement] = {}  # member -> its latest placement (for the status)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ saving, showing
    def _forecast(self, community: Community, member: str, slot: datetime) -> standing.Forecast:
        return standing.forecast(self.op.store, community.name, member, slot_start=slot,
                                 slot_minutes=community.slot_minutes, now=self.op.clock.now())

    def _preview(self, member: Member, community: Community, instruction: standing.StandingInstruction,
                 slot: datetime) -> tuple[dict[str, Any] | None, str]:
        predicted = self._forecast(community, member.id, slot)
        energy, why = standing.amount_kwh(instruction, predicted, community.slot_minutes)
        if energy is None:
            return None, why
        return standing.order_body(instruction, self.op.registry[community.mechanism], iso(slot), energy), ""

    def validate(self, member: Member, community: Community, instruction: standing.StandingInstruction) -> None:
        """Check the order the instruction makes by the intake's rules (``Operator.prepare_order``: the
        mechanism's fields, bounds, the member's order defaults, the ledger's resolution); an automatic amount
        without a forecast is checked with 1 kWh. Raises :class:`MarketError` naming the instruction's field."""
        if not instruction.active:
            return
        slot = next_slot(self.op.clock.now(), community.slot_minutes)
        body, _ = self._preview(member, community, instruction, slot)
        if body is None:  # automatic with no surplus (or no readings) now: the amount is still unknown
            body = standing.order_body(instruction, self.op.registry[community.mechanism], iso(slot), 1.0)
        try:
            self.op.prepare_order(member, community.name, body)
        except MarketError as exc:
            raise MarketError(standing.instruction_field(exc.field, instruction.activity), exc.message,
                              exc.kind) from None

    def save(self, member: Member, community_name: str, raw: object) -> dict[str, Any]:
        """Check and store the member's instruction (nothing changes on an error); its view."""
        self.op.require(member, TRADING_ROLES, "a standing instruction")
        community = self.op.community_for(member, community_name)
        instruction = standing.parse(raw)
        self.validate(member, community, instruction)
        profile = self.op.store.member_profile(member.id) or {}
        self.op.store.put_member_profile(member.id, {**profile, standing.PROFILE_KEY: instruction.to_json()},
                                         self.op.clock.now().astimezone(UTC).isoformat())
        with self._lock:  # its slots are considered afresh (a slot due now gets its order at the next tick)
            for members in self._done.values():
                members.discard(member.id)
        return self.view(member, community_name)

    def view(self, member: Member, community_name: str) -> dict[str, Any]:
        """The instruction (defaults when none is saved), the status light with the forecast it is based on,
        the next slot and the order the instruction makes for it (or why none), and the latest placement."""
        self.op.require(member, TRADING_ROLES, "a standing instruction")
        community = self.op.community_for(member, community_name)
        unreadable = ""
        try:
            saved = standing.from_profile(self.op.store.member_profile(member.id))
        except MarketError as exc:  # stored by another version: shown as not saved, and why
            saved, unreadable = None, f"your saved instruction cannot be used ({exc.field}: {exc.message})"
        instruction = saved or standing.StandingInstruction()
        slot = next_slot(self.op.clock.now(), community.slot_minutes)
        predicted = self._forecast(community, member.id, slot)
        body, why = self._preview(member, community, instruction, slot)
        why = unreadable or why
        last = self._last.get(member.id)
        return {"instruction": instruction.to_json(), "saved": saved is not None,
                "status": {"light": predicted.light, "forecast_kwh": predicted.energy_kwh,
                           "forecast_basis": predicted.basis, "next_slot": iso(slot), "next_order": body,
                           "why_no_order": why or None, "last": None if last is None else last.to_json()}}

    # ------------------------------------------------------------------------------ the cycle's task
    def process_due(self, now: datetime) -> list[Receipt]:
        """Place the due standing orders of every community (members that have no order in the slot yet)."""
        placed: list[Receipt] = []
        for community in self.op.store.list_communities():
            slots = due_slots(now, community.slot_minutes)
            if not slots:
                continue
            members: list[Member] | None = None
            for slot in slots:
                key = (community.name, iso(slot))
                with self._lock:
                    done = self._done.setdefault(key, set())
                if members is None:
                    members = [m for m in self.op.store.list_members(community.name) if m.role in TRADING_ROLES]
                for member in members:
                    if member.id in done:
                        continue
                    receipt = self._place(member, community, slot)
                    if receipt is not None:
                        placed.append(receipt)
                    with self._lock:
                        done.add(member.id)
        oldest = min((slot_containing(now, c.slot_minutes) for c in self.op.store.list_communities()), default=now)
        with self._lock:
            for stale in [k for k in self._done if k[1] < iso(oldest)]:
                del self._done[stale]
        for receipt in placed:
            for listener in self.on_placed:
                try:
                    listener(receipt)
                except Exception:
                    log.exception("standing order listener failed")
        return placed

    def _place(self, member: Member, community: Community, slot: datetime) -> Receipt | None:
        start = iso(slot)
        try:
            instruction = standing.from_profile(self.op.store.member_profile(member.id))
        except MarketError as exc:  # a stored instruction this version cannot read: that member only
            self._last[member.id] = Placement(start, None, exc.field, exc.message)
            return None
        if instruction is None or not instruction.active:
            return None
        if any(o.community == community.name for o in self.op.store.orders_of_member(member.id, start)):
            return None  # its own order (or the standing one, placed earlier) stands
        body, why = self._preview(member, community, instruction, slot)
        if body is None:
            self._last[member.id] = Placement(start, None, None, why)
            return None
        try:
            receipt = self.op.submit_order(member, community.name, body)
        except MarketError as exc:
            field = standing.instruction_field(exc.field, instruction.activity)
            self._last[member.id] = Placement(start, None, field, exc.message)
            log.info("standing order of %s for %s refused: %s", member.id, start, exc)
            return None
        self._last[member.id] = Placement(start, receipt.order.id, None, "placed")
        return receipt
