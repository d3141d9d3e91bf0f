"""The records the service stores: plain frozen dataclasses, JSON-compatible fields, ISO 8601 UTC times.

Times are strings ``YYYY-MM-DDTHH:MM:SSZ`` (slot starts) or with microseconds (receipt times), so that their
lexicographic order is their chronological order on every engine. Energies in kWh, prices in tokens/kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """Net energy measured at a member's meter over one slot, kWh: positive exported, negative imported.

    A reading signed by the member's meter (``docs/service.md``, meter readings) carries the ``meter`` address
    and its ``signature`` (``0x``-hex; the signed value is ``energy_kwh`` in whole Wh). A reading corrected by a
    resolved dispute is read with the corrected ``energy_kwh``, the ``dispute`` id and the meter's own value
    ``metered_kwh``: the stored reading itself is never overwritten."""

    community: str
    member: str
    slot_start: str
    energy_kwh: float
    received_at: str
    meter: str | None = None
    signature: str | None = None
    dispute: str | None = None
    metered_kwh: float | None = None


@dataclass(frozen=True)
class MeterKey:
    """The address of a member's meter key, set by an admin (at enrolment or later) or by the member itself
    (only while none is set)."""

    member: str
    community: str
    address: str
    set_by: str
    set_at: str


@dataclass(frozen=True)
class ReadingDispute:
    """A request to correct a stored reading: ``proposed_kwh`` instead of the stored ``metered_kwh``.
    ``state`` ``open`` until an admin and a DSO both approve it (``resolved``: the corrected value is what
    settlement reads) or either rejects it (``rejected``); ``approvals`` role -> member id; with the ledger,
    ``signatures`` role -> the approver key's ``ReadingCorrection`` signature (``settlement/meter_readings.py``)."""

    id: str
    community: str
    member: str
    slot_start: str
    metered_kwh: float
    proposed_kwh: float
    reason: str
    opened_by: str
    opened_at: str
    state: str = "open"
    approvals: Mapping[str, str] = field(default_factory=dict)
    resolution: str = ""
    resolved_at: str | None = None
    signatures: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # role -> {"address", "signature"}


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be processed: acknowledged to its broker, recorded here, never redelivered.

    ``payload`` holds the first characters of the message (invalid UTF-8 replaced), ``payload_bytes`` its size.
    """

    source: str
    topic: str
    reason: str
    payload: str
    payload_bytes: int
    received_at: str
    id: int | None = None


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
    """A demand-response event (:mod:`transactive.settlement.negawatt`): its listing ``state`` and JSON document."""

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
# ---------------------------------------------------------------------------------------- multi-settlement (v3)
@dataclass(frozen=True)
class MemberAddress:
    """A member's registered chain address (EIP-55), with which it signs bilateral contracts."""

    community: str
    member: str
    address: str
    registered_at: str


@dataclass(frozen=True)
class ContractRecord:
    """A bilateral contract: ``state`` ``proposed`` (one signature) or ``signed`` (both); ``terms`` holds the
    signed fields (``slot_starts``, ``slots``, ``energy_wh_per_slot``, ``price_per_kwh``, ``nonce``,
    ``seller_address``, ``buyer_address``); signatures are ``0x``-hex or None."""

    community: str
    id: str
    seller: str
    buyer: str
    proposer: str
    state: str
    first_slot: str
    last_slot: str
    terms: Mapping[str, Any]
    seller_signature: str | None
    buyer_signature: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ListingRecord:
    """A seller's surplus on the listing board for one slot (Wh, tokens/kWh) and its seed-003 state."""

    community: str
    id: str
    seller: str
    slot_start: str
    energy_wh: int
    price_per_kwh: float
    state: str
    created_at: str


@dataclass(frozen=True)
class ListingOrderRecord:
    """A buyer's order on a listing; ``decision`` None (pending), ``accepted`` or ``rejected`` (``reason``)."""

    community: str
    id: str
    listing_id: str
    buyer: str
    energy_wh: int
    received_at: str
    decision: str | None = None
    reason: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: str | None = None
    seq: int | None = None


@dataclass(frozen=True)
class MultiSettlementRecord:
    """A slot's multi-settlement document (statements per member and stage, accounts) and when computed."""

    community: str
    slot_start: str
    document: Mapping[str, Any]
    computed_at: str
