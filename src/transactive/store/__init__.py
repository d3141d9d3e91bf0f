"""Durable SQL storage: the :class:`Store` seam and its SQLAlchemy implementation (SQLite, PostgreSQL).

Example:
    >>> from transactive.store import open_store
    >>> open_store(url="sqlite://").schema_version()
    11
"""

from __future__ import annotations

from pathlib import Path

from transactive.store.protocol import MultiStore, Store
from transactive.store.records import (
    ROLES,
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
    Role,
    SideName,
    Slot,
    SlotState,
)
from transactive.store.sql import SqlStore, StoreError, sqlite_url


def open_store(data_dir: str | Path | None = None, url: str | None = None) -> SqlStore:
    """``url`` if given (``postgresql://...`` or ``sqlite:///...``), else SQLite in ``data_dir``."""
    if url:
        return SqlStore.open(url)
    if data_dir is None:
        raise ValueError("give a data directory or a database URL")
    return SqlStore.in_data_dir(data_dir)


__all__ = [
    "ROLES",
    "ChainAccount",
    "Community",
    "ContractRecord",
    "DeadLetter",
    "LedgerSlot",
    "ListingOrderRecord",
    "ListingRecord",
    "Member",
    "MemberAddress",
    "MeterKey",
    "MeterReading",
    "MultiSettlementRecord",
    "MultiStore",
    "NegawattDeliveryRecord",
    "NegawattEventRecord",
    "NegawattOfferRecord",
    "OrderRecord",
    "Outcome",
    "ReadingDispute",
    "ResultRecord",
    "Role",
    "SideName",
    "Slot",
    "SlotState",
    "SqlStore",
    "Store",
    "StoreError",
    "open_store",
    "sqlite_url",
]
