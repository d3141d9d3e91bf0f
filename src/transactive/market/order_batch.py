"""Admit a burst of orders at once: the batch form of ``Operator.prepare_order`` followed by ``Operator.accept``.

The common order shape (``side``, ``slot_start``, ``idempotency_key``, ``energy_kwh``, ``price_per_kwh``, and
optionally ``id``, for a mechanism without extra participant fields on that side) is checked here with the
work shared across the batch: one clock reading and timestamp, one random read for all order ids, and each
distinct slot start parsed and window-checked once. Every order that is not of that shape, or that fails any
check (including the intake's bounds, :func:`~transactive.market.order_limits.order_bound_error`, and an energy
that is 0 at the ledger's resolution), goes through the full path (``prepare_order`` + ``accept``, i.e.
``marketfile.parse_participant``), so rejections carry exactly the same field and message as an order
submitted alone. The fast path only ever accepts what the full path would accept, and builds the same record
(energy and price as floats).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from transactive.market.operator import MAX_DAYS_AHEAD, MAX_KEY_LENGTH, SIDES, TRADING_ROLES, Operator, Receipt
from transactive.market.order_limits import order_bound_error
from transactive.market.slots import parse_slot_start, window_at
from transactive.marketfile import MAX_ABS_PRICE_PER_KWH, MAX_ENERGY_KWH
from transactive.store import Community, Member, OrderRecord
from transactive.times import iso
from transactive.units import BATCH_SCALES, at_batch_resolution

ENERGY_SCALE = BATCH_SCALES["energy_kwh"]  # Wh per kWh: the signed batch's energy resolution

SIMPLE_KEYS = frozenset({"side", "slot_start", "idempotency_key", "energy_kwh", "price_per_kwh"})

Admitted = OrderRecord | Receipt | Exception
"""An order to store, an early answer (a late retry of a stored order), or why it is refused."""


def uuid4_texts(count: int) -> list[str]:
    """``count`` random version-4 UUIDs in canonical text form, from one read of the system's random source."""
    raw = bytearray(os.urandom(16 * count))
    out = []
    for k in range(0, 16 * count, 16):
        raw[k + 6] = (raw[k + 6] & 0x0F) | 0x40  # version 4
        raw[k + 8] = (raw[k + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[k:k + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _number(value: object, maximum: float) -> float | None:
    """The float of a JSON number in [0, maximum], or None (then the full path decides)."""
    if type(value) is not int and type(value) is not float:  # excludes bool, as the full path does
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and 0.0 <= number <= maximum else None


def admit_orders(operator: Operator, requests: Sequence[tuple[Member, str, dict[str, Any]]]) -> list[Admitted]:
    """One result per ``(member, community name, order body)``, in order (see the module docstring)."""
    now = operator.clock.now()
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ids = uuid4_texts(len(requests))
    batch = _Batch(operator, now, stamp)
    out: list[Admitted] = []
    for (member, name, body), order_id in zip(requests, ids, strict=True):
        record = batch.fast(member, name, body, order_id)
        if record is not None:
            out.append(record)
            continue
        try:
            order = operator.prepare_order(member, name, body)
            out.append(operator.accept(order) or order)
        except Exception as exc:  # MarketError: a rejection; anything else: a failure the caller logs
            out.append(exc)
    return out


@dataclass
class _Batch:
    """What the orders of one batch share: the operator, one clock reading, and per-batch caches."""

    operator: Operator
    now: datetime
    stamp: str
    slot_ok: dict[tuple[str, int], str | None] = field(default_factory=dict)
    communities: dict[str, Community | None] = field(default_factory=dict)
    simple_sides: dict[tuple[str, str], bool] = field(default_factory=dict)  # no extra fields on that side

    def fast(self, member: Member, name: str, body: dict[str, Any], order_id: str) -> OrderRecord | None:
        """The record of a simple, valid, open order; None sends the order through the full path."""
        operator, slot_ok, communities = self.operator, self.slot_ok, self.communities
        if member.role not in TRADING_ROLES or member.community != name:
            return None
        keys = body.keys()
        if keys != SIMPLE_KEYS and not (len(keys) == 6 and "id" in keys and body["id"] == member.id
                                        and keys - {"id"} == SIMPLE_KEYS):
            return None
        side = SIDES.get(body["side"]) if isinstance(body["side"], str) else None
        key = body["idempotency_key"]
        if side is None or not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            return None
        if name not in communities:
            try:
                communities[name] = operator.community(name)
            except Exception:
                communities[name] = None
        community = communities[name]
        if community is None:
            return None
        simple = self.simple_sides.get((community.mechanism, side))
        if simple is None:
            mechanism = operator.registry[community.mechanism]
            simple = side in mechanism.sides and not any(side in f.sides for f in mechanism.participant_fields)
            self.simple_sides[(community.mechanism, side)] = simple
        if not simple:
            return None
        energy = _number(body["energy_kwh"], MAX_ENERGY_KWH)
        price = _number(body["price_per_kwh"], MAX_ABS_PRICE_PER_KWH)
        if energy is None or energy == 0.0 or price is None:
            return None
        if order_bound_error(energy, price, community.slot_minutes) is not None:
            return None
        # zero at the ledger's resolution (what ``operator.clearing_entry`` makes of it): the full path names it.
        # The one rounding rule on the energy alone, not a copy of the whole entry per order (MQTT's CPU/order)
        if operator.ledger is not None and not at_batch_resolution(energy, ENERGY_SCALE, "energy_kwh") > 0:
            return None
        entry = {"energy_kwh": energy, "price_per_kwh": price}
        if not isinstance(body["slot_start"], str):
            return None
        slot_key = (body["slot_start"], community.slot_minutes)
        if slot_key not in slot_ok:
            slot_ok[slot_key] = _open_slot(body["slot_start"], community.slot_minutes, self.now)
        start = slot_ok[slot_key]
        if start is None:
            return None
        return OrderRecord(order_id, community.name, start, member.id, side, entry, key, self.stamp)


def _open_slot(text: object, slot_minutes: int, now: datetime) -> str | None:
    """The canonical slot start if ``text`` is a valid slot start still taking orders at ``now``, else None."""
    try:
        start = parse_slot_start(text, slot_minutes)
    except Exception:
        return None
    if start - now > timedelta(days=MAX_DAYS_AHEAD) or not window_at(start, slot_minutes, now).phase.takes_orders:
        return None
    return iso(start)
