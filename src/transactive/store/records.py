"""The records the service stores: plain frozen dataclasses, JSON-compatible fields, ISO 8601 UTC times.

Times are strings ``YYYY-MM-DDTHH:MM:SSZ`` (slot starts) or with microseconds (receipt times), so that their
lexicographic order is their chronological order on every engine. Energies in kWh, prices in tokens/kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

Role = Literal["prosumer", "aggregator", "dso", "validator", "admin"]
ROLES: tuple[Role, ...] = ("prosumer", "aggregator", "dso", "validator", "admin")
SideName = Literal["sellers", "buyers"]


@dataclass(frozen=True)
class Community:
    """An energy community: the mechanism its slots clear with, its parameters (JSON) and slot length."""

    name: str
    mechanism: str
    params: Mapping[str, Any]
    slot_minutes: int
    created_at: str


@dataclass(frozen=True)
class Member:
    """A consortium member. ``community`` is None for an administrator of the whole service.

    ``api_key_hash`` is the SHA-256 hex digest of the API key (the key itself is never stored).
    ``bus`` is the member's feeder bus, if known.
    """

    id: str
    community: str | None
    role: Role
    api_key_hash: str
    bus: str | None = None


@dataclass(frozen=True)
class OrderRecord:
    """One participant entry for one slot and side.

    ``entry`` is the validated participant entry without its id, as in a market file: either
    ``{"energy_kwh", "price_per_kwh"}`` or ``{"blocks": [...]}``, plus mechanism-specific fields (e.g. ``bus``).
    ``seq`` is the store's arrival sequence (submission order breaks price ties); None before insertion.
    """

    id: str
    community: str
    slot_start: str
    member: str
    side: SideName
    entry: Mapping[str, Any]
    idempotency_key: str
    received_at: str
    seq: int | None = None


class SlotState(StrEnum):
    """A slot's lifecycle in the store: ``open`` (taking orders), ``closed`` (quotation over: no order is stored
    any more, clearing under way), ``cleared`` (a result is stored), ``void`` (the slot could not clear, e.g. one
    side empty; ``note`` says why)."""

    OPEN = "open"
    CLOSED = "closed"
    CLEARED = "cleared"
    VOID = "void"


@dataclass(frozen=True)
class Slot:
    """A market slot: community, start (ISO 8601 UTC), duration in minutes, state and a note."""

    community: str
    start: str
    duration_minutes: int
    state: SlotState
    note: str = ""


@dataclass(frozen=True)
class ResultRecord:
    """A slot's ``transactive.result/1`` document and when it was computed."""

    community: str
    slot_start: str
    document: Mapping[str, Any]
    computed_at: str


@dataclass(frozen=True)
class MeterReading:
    """Net energy measured at a member's meter over one slot, kWh: positive exported, negative imported."""

    community: str
    member: str
    slot_start: str
    energy_kwh: float
    received_at: str


class Outcome(StrEnum):
    """What happened to a write: ``created``; ``duplicate`` (same idempotency key or the same reading already
    stored: the stored record is returned); ``conflict`` (the member already has a different record there);
    ``closed`` (the slot no longer takes orders: nothing stored)."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    CLOSED = "closed"


@dataclass(frozen=True)
class NegawattEventRecord:
    """A demand-response event (:mod:`transactive.market.negawatt`): its listing ``state`` and JSON document."""

    community: str
    id: str
    aggregator: str
    state: str
    document: Mapping[str, Any]
    updated_at: str


@dataclass(frozen=True)
class NegawattOfferRecord:
    """One member's offer in an event; ``entry`` holds ``side``, ``energy_kwh``, ``price_per_kwh``."""

    community: str
    event_id: str
    member: str
    entry: Mapping[str, Any]
    received_at: str
    seq: int | None = None


@dataclass(frozen=True)
class NegawattDeliveryRecord:
    """A member's verified negawatts in an event (kWh) and the baseline ``detail`` that verified them."""

    community: str
    event_id: str
    member: str
    delivered_kwh: float
    detail: Mapping[str, Any]
    received_at: str


@dataclass(frozen=True)
class ChainAccount:
    """A member's account on the chain: its EIP-55 ``address`` and, for a custodial account (the pilot
    default), the private key in hex; ``enrolled`` once it is registered, funded and approved on chain."""

    member: str
    address: str
    private_key_hex: str | None
    enrolled: bool = False


@dataclass(frozen=True)
class LedgerSlot:
    """The ledger side of a slot: ``kind`` ``clearing`` (the anchored clearing) or ``settlement`` (the settlement
    against meters), the on-chain slot number, a ``state`` and a JSON ``document`` (batch, roots, tx hashes,
    statements)."""

    community: str
    slot_start: str
    kind: str
    chain_slot: int
    state: str
    document: Mapping[str, Any]
    updated_at: str
