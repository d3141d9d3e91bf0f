"""The state the parts of a :class:`~transactive.market.ledger.desk.LedgerDesk` share: one
:class:`LedgerContext`, built by the desk and handed to each part
(:class:`~transactive.market.ledger.accounts.LedgerAccounts`,
:class:`~transactive.market.ledger.anchoring.LedgerAnchoring`,
:class:`~transactive.market.ledger.settlement.LedgerSettlement`).

It owns the store, the configuration, the chain and its lock, the worker pools, the validators and their signers,
the contracts (set once deployed or reopened), the ledger's start, the EIP-712 domain, the audit archive, the
Registry bus cache and the step timings of the last anchor or settle (with :meth:`LedgerContext.timed`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, WorkerPool
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.market.ledger.config import LedgerConfig
from transactive.market.ledger.documents import SlotDocument, now_stamp
from transactive.store import LedgerSlot, MultiStore
from transactive.store.leases import ChainLock, FleetLock

if TYPE_CHECKING:
    from transactive.ledger.clearance.protocol import Validator


class KeyedChain(Protocol):
    """What the desk needs beyond :class:`Chain`: signing for added (custodial) keys and ether transfers."""

    def add_key(self, private_key: bytes) -> str: ...

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Any: ...


class LedgerContext:
    """The shared state of one ledger desk. The contracts (``registry``, ``token``, ``slots``), ``start``,
    ``domain`` and ``archive`` are set by the desk's construction once the deployment is reopened; ``timings`` and
    ``cpu_timings`` are replaced at the start of each anchor and settle (:meth:`reset_timings`)."""

    registry: Contract
    token: Contract
    slots: Contract
    start: str
    domain: Domain
    archive: SlotArchive | None

    def __init__(self, store: MultiStore, config: LedgerConfig, chain: Chain, *, pool: WorkerPool | None,
                 parallel_validators: ParallelValidators | None, admin: str, validators: list[Validator],
                 signers: list[Signer], lock: ChainLock | None = None) -> None:
        self.store = store
        self.config = config
        self.chain = chain
        # one chain writer at a time (the embedded chain is single-threaded; in a fleet one process at a time)
        self.lock: ChainLock = threading.RLock() if lock is None else lock
        # chain reads (balances): this process's writers only, not the fleet's (a node serves reads at any time)
        self.read_lock: ChainLock = lock.local if isinstance(lock, FleetLock) else self.lock
        self.pool = pool
        self.parallel_validators = parallel_validators
        self.timings: dict[str, float] = {}  # seconds per step of the last anchor / settle (benchmarks, logs)
        self.cpu_timings: dict[str, float] = {}  # CPU seconds per step (this process + its signature workers)
        self.bus_cache: dict[str, str] = {}  # Registry bus by member address (enrol writes what it sets)
        self.admin = admin
        self.validators = validators
        self.signers = signers
        self.archive = None

    @property
    def keyed(self) -> KeyedChain:
        chain: Any = self.chain
        return chain  # type: ignore[no-any-return]

    def reset_timings(self) -> None:
        """Fresh ``timings`` and ``cpu_timings`` (new dicts: a caller holding the last ones keeps them)."""
        self.timings, self.cpu_timings = {}, {}

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), self.cpu_seconds()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - start
            self.cpu_timings[step] = self.cpu_timings.get(step, 0.0) + self.cpu_seconds() - cpu

    def slot_record(self, number: int) -> tuple[Any, ...]:
        """``MarketSlots.slots(number)``: the on-chain slot's record (state, ..., order root, count, result root)."""
        record: tuple[Any, ...] = self.chain.call(self.slots, "slots", number)
        return record

    def result_root(self, number: int, submitted: str | None = None) -> bytes:
        """The result root of on-chain slot ``number``: ``submitted`` (``0x``-hex), the root whose
        ``submit_result`` this desk has just seen accepted (the chain holds exactly it, no read needed), else
        read from :meth:`slot_record`."""
        if submitted is not None:
            return bytes.fromhex(submitted.removeprefix("0x"))
        return bytes(self.slot_record(number)[6])

    def save(self, rec: LedgerSlot, state: str, document: SlotDocument) -> LedgerSlot:
        """Store ``rec`` with its new ``state`` and ``document`` if nobody changed it since it was read
        (``MarketError`` conflict otherwise); answers the stored record."""
        new = replace(rec, state=state, document=document.to_json(), updated_at=now_stamp())
        if not self.store.put_ledger_slot(new, rec.state):
            raise MarketError("slot_start", "the ledger record changed concurrently", "conflict")
        return new

    def cpu_seconds(self) -> float:
        pools = (self.pool, self.parallel_validators)
        return time.process_time() + sum(p.cpu_seconds() for p in pools if p is not None)
