"""The storage seam: what the market layer needs from durable storage, nothing more."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, Protocol

from transactive.ledger.chain.intents import IntentState, TxIntent
from transactive.store._multi_sql import PlaceOutcome
from transactive.store.records import (
    ChainAccount,
    Community,
    ContractRecord,
    DeadLetter,
    LedgerSlot,
    ListingOrderRecord,
    ListingRecord,
    Member,
    MemberAddress,
    MeterKey,
    MeterReading,
    MultiSettlementRecord,
    NegawattDeliveryRecord,
    NegawattEventRecord,
    NegawattOfferRecord,
    OrderRecord,
    Outcome,
    ReadingDispute,
    ResultRecord,
    Slot,
    SlotState,
)


class Store(Protocol):
    """Durable storage. Every write method commits before it returns (the data is on disk)."""

    def close(self) -> None: ...

    # messages that cannot be processed (docs/mqtt.md)
    def put_dead_letter(self, source: str, topic: str, reason: str, payload: bytes) -> DeadLetter: ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        ...

    def count_deliveries(self, digests: Sequence[str]) -> list[int]:
        """One more attempt at each message digest, in one transaction; the attempts so far per digest."""
        ...

    def schema_version(self) -> int: ...

    # chain transactions written ahead (schema version 9; transactive.ledger.chain.intents.TxJournal)
    def put_tx_intent(self, intent: TxIntent) -> None:
        """Record a signed transaction as ``open`` before it is sent."""
        ...

    def close_tx_intent(self, tx_hash: str, state: IntentState, block_number: int | None) -> None: ...

    def open_tx_intents(self, chain_id: int) -> list[TxIntent]:
        """Oldest first."""
        ...

    def tx_intents(self, slot: str) -> list[TxIntent]:
        """Every intent acting on the on-chain slot ``slot`` (decimal), oldest first."""
        ...

    # communities and members
    def create_community(self, community: Community) -> bool:
        """False (and nothing written) when the name is taken."""
        ...

    def get_community(self, name: str) -> Community | None: ...

    def list_communities(self) -> list[Community]: ...

    def add_member(self, member: Member) -> bool:
        """False (and nothing written) when the id is taken."""
        ...

    def get_member(self, member_id: str) -> Member | None: ...

    def member_by_key_hash(self, api_key_hash: str) -> Member | None: ...

    def list_members(self, community: str, role: str | None = None) -> list[Member]:
        """By id; ``role``: only the members with that role."""
        ...

    def member_profile(self, member: str) -> dict[str, Any] | None:
        """The member's saved profile document (None: never saved)."""
        ...

    def put_member_profile(self, member: str, document: Mapping[str, Any], updated_at: str) -> None: ...

    def community_settings(self, community: str) -> dict[str, Any] | None:
        """The community's saved settings document, e.g. its time zone (None: never saved)."""
        ...

    def put_community_settings(self, community: str, document: Mapping[str, Any], updated_at: str) -> None: ...

    # orders
    def put_orders(self, orders: Sequence[OrderRecord]) -> list[tuple[Outcome, OrderRecord]]:
        """Insert a batch in ONE transaction (one commit) and report each order's outcome.

        ``created`` returns the stored record (with ``seq``); ``duplicate`` returns the order stored earlier
        under the same member and idempotency key; ``conflict`` returns the member's other order in that slot
        (one order per member per slot); ``closed`` (the order itself returned, nothing stored) when the slot is
        no longer ``open``. The slot row is created (state ``open``) with the first order.
        """
        ...

    def order_by_key(self, member: str, idempotency_key: str) -> OrderRecord | None: ...

    def orders_in_slot(self, community: str, slot_start: str) -> list[OrderRecord]:
        """In arrival order."""
        ...

    def order_members(self, community: str, slot_start: str) -> set[str]:
        """The members with an order in the slot (the ids of :meth:`orders_in_slot`, without reading the orders)."""
        ...

    def orders_of_member(self, member: str, slot_start: str | None = None) -> list[OrderRecord]: ...

    # slots and results
    def get_slot(self, community: str, slot_start: str) -> Slot | None: ...

    def slots(self, community: str, state: SlotState | None = None) -> list[Slot]:
        """Ordered by start."""
        ...

    def close_slot(self, community: str, slot_start: str, duration_minutes: int) -> bool:
        """Move the slot (created if missing) from ``open`` to ``closed``: from the commit on, no order is
        stored in it. False when it was not open."""
        ...

    def finish_slot(self, slot: Slot, result: ResultRecord | None) -> bool:
        """Store the slot's final state (``cleared`` with its result, or ``void``) atomically, only if the slot
        is still ``open`` or ``closed``; False when it was already finished (nothing written)."""
        ...

    def get_result(self, community: str, slot_start: str) -> ResultRecord | None: ...

    # meter readings
    def put_meter_reading(self, reading: MeterReading, reported_by: str | None = None
                          ) -> tuple[Outcome, MeterReading]:
        """One reading per member and slot: the same value again is a ``duplicate``, another is a ``conflict``,
        except that the member's own reading replaces one another member (``reported_by``) reported for it."""
        ...

    def put_meter_readings(self, readings: Sequence[tuple[MeterReading, str | None]]
                           ) -> list[tuple[Outcome, MeterReading]]:
        """A burst of ``(reading, reported_by)`` in one write, each as :meth:`put_meter_reading` in order; stops at
        the first ``conflict``, or at the first reading to store in a slot whose readings are closed (answered
        ``closed``, nothing stored of it) (the last answer; the readings before it stored, none after)."""
        ...

    def close_meter_readings(self, community: str, slot_start: str, *, unless_missing: Collection[str] = ()
                             ) -> tuple[bool, list[MeterReading]]:
        """The settlement's read: close the slot's readings, so from the commit on no reading of the slot is
        stored and no dispute of it opens or changes, then read them (:meth:`meter_readings`); unless a member of
        ``unless_missing`` has no reading yet (then nothing is written). ``(closed, readings)``."""
        ...

    def missing_meter_readings(self, community: str, slot_start: str, members: Collection[str]) -> set[str]:
        """The members of ``members`` without a reading of the slot yet (a read: nothing closed)."""
        ...

    def meter_readings(self, community: str, slot_start: str) -> list[MeterReading]:
        """The slot's readings with their meter signatures and resolved disputes' values."""
        ...

    def meter_readings_closed(self, community: str, slot_start: str) -> bool:
        """Whether :meth:`close_meter_readings` closed the slot's readings."""
        ...

    def put_meter_key(self, key: MeterKey) -> None: ...

    def meter_keys(self, community: str) -> dict[str, MeterKey]: ...

    def put_dispute(self, dispute: ReadingDispute) -> bool:
        """False when the reading has an open or resolved dispute already, or the slot's readings are closed."""
        ...

    def update_dispute(self, dispute: ReadingDispute, expected_approvals: dict[str, str]) -> bool:
        """Compare-and-set on an open dispute's approvals; False (nothing written) otherwise, or when the slot's
        readings are closed."""
        ...

    def disputes(self, community: str, slot_start: str | None = None) -> list[ReadingDispute]: ...

    def dispute(self, community: str, dispute_id: str) -> ReadingDispute | None: ...

    # negawatt events (schema version 2)
    def create_negawatt_event(self, event: NegawattEventRecord) -> bool:
        """False (and nothing written) when the community already has an event with that id."""
        ...

    def get_negawatt_event(self, community: str, event_id: str) -> NegawattEventRecord | None: ...

    def list_negawatt_events(self, community: str) -> list[NegawattEventRecord]:
        """Ordered by id."""
        ...

    def update_negawatt_event(self, event: NegawattEventRecord, expected_state: str) -> bool:
        """Replace state and document only if the stored state is still ``expected_state`` (else False)."""
        ...

    def put_negawatt_offer(self, offer: NegawattOfferRecord, open_state: str) -> tuple[Outcome, NegawattOfferRecord]:
        """``created`` (with ``seq``); ``conflict`` (the member's earlier offer returned) or ``closed`` (the event
        is no longer in ``open_state``; nothing stored). Checked and written in one transaction."""
        ...

    def negawatt_offers(self, community: str, event_id: str) -> list[NegawattOfferRecord]:
        """In arrival order."""
        ...

    def put_negawatt_delivery(self, delivery: NegawattDeliveryRecord) -> tuple[Outcome, NegawattDeliveryRecord]:
        """One per member and event: the same figure again is a ``duplicate``, another a ``conflict``."""
        ...

    def negawatt_deliveries(self, community: str, event_id: str) -> list[NegawattDeliveryRecord]: ...

    # ledger (schema version 3)
    def put_chain_account(self, account: ChainAccount) -> bool:
        """False (and nothing written) when the member already has an account."""
        ...

    def chain_account_addresses(self, community: str) -> dict[str, str]:
        """Member id -> chain address of the community's chain accounts (as :meth:`chain_accounts` without the
        custodial keys)."""
        ...

    def put_chain_accounts(self, accounts: Sequence[ChainAccount]) -> None:
        """:meth:`put_chain_account` of each, in one transaction (a member that has an account is skipped)."""
        ...

    def chain_account(self, member: str) -> ChainAccount | None: ...

    def chain_accounts(self, community: str | None = None) -> list[ChainAccount]:
        """Every account (of ``community``'s members when given), ordered by member id."""
        ...

    def mark_enrolled(self, member: str | Sequence[str]) -> None:
        """Mark the account of ``member`` (or of each of several members, in one transaction) enrolled."""
        ...

    def ledger_meta(self, key: str) -> Any:
        """The JSON value stored under ``key`` or None."""
        ...

    def put_ledger_meta(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` unless a value is there; returns the stored value."""
        ...

    def get_ledger_slot(self, community: str, slot_start: str, kind: str, *,
                        without: str | None = None) -> LedgerSlot | None:
        """``without``: the document read without that top-level key (dropped by the database: e.g. a clearing
        record's signed batch, tens of MB at 100,000 orders, when only its roots and results are needed)."""
        ...

    def ledger_slots(self, community: str, kind: str, state: str | None = None) -> list[LedgerSlot]:
        """Ordered by slot start."""
        ...

    def slots_to_anchor(self, community: str, since: str) -> list[str]:
        """Starts (``>= since``, ordered) of the cleared slots whose clearing is not on chain yet: no ledger
        record, or one still ``batched``. Only slot keys are read (no documents)."""
        ...

    def slots_to_settle(self, community: str, since: str) -> list[str]:
        """Starts (``>= since``, ordered) of the slots whose clearing is ``anchored`` and whose settlement is
        missing or neither ``settled`` nor ``blocked`` (that waits for an admin). Only slot keys are read."""
        ...

    def put_ledger_slot(self, record: LedgerSlot, expected_state: str | None) -> bool:
        """Compare-and-set: insert when ``expected_state`` is None and there is no row; else update only if the
        stored state is ``expected_state``. False (nothing written) otherwise."""
        ...


JSONObject = Mapping[str, Any]


class MultiStore(Store, Protocol):
    """The store of the multi-settlement desk (schema version 3): see :mod:`transactive.store._multi_sql`."""

    def put_member_address(self, record: MemberAddress) -> tuple[Outcome, MemberAddress]: ...

    def member_addresses(self, community: str) -> list[MemberAddress]: ...

    def create_contract(self, record: ContractRecord) -> bool: ...

    def get_contract(self, community: str, contract_id: str) -> ContractRecord | None: ...

    def list_contracts(self, community: str, member: str | None = None) -> list[ContractRecord]: ...

    def countersign_contract(self, community: str, contract_id: str, side: Literal["seller", "buyer"],
                             signature: str, at: str) -> bool: ...

    def signed_contracts_around(self, community: str, slot_start: str) -> list[ContractRecord]: ...

    def create_listing(self, record: ListingRecord) -> bool: ...

    def get_listing(self, community: str, listing_id: str) -> ListingRecord | None: ...

    def list_listings(self, community: str, slot_start: str | None = None) -> list[ListingRecord]: ...

    def place_listing_order(self, order: ListingOrderRecord) -> tuple[PlaceOutcome, ListingOrderRecord, int]: ...

    def get_listing_order(self, community: str, order_id: str) -> ListingOrderRecord | None: ...

    def listing_orders(self, community: str, slot_start: str | None = None) -> list[ListingOrderRecord]: ...

    def decide_listing_order(self, community: str, order_id: str, accepted: bool, reason: tuple[str, ...], *,
                             by: str, at: str) -> bool: ...

    def close_listings(self, community: str, slot_start: str) -> int: ...

    def finish_multi_settlement(self, record: MultiSettlementRecord, at: str) -> bool: ...

    def get_multi_settlement(self, community: str, slot_start: str) -> MultiSettlementRecord | None: ...
