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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, WorkerPool
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.market.ledger.config import LedgerConfig
from transactive.market.ledger.documents import SlotDocument, now_stamp
from transactive.market.ledger.operator_clearing import ClearingMemo
from transactive.market.ledger.sharing import SharedRecomputation
from transactive.store import LedgerSlot, MultiStore
from transactive.store.leases import ChainLock, FleetLock

if TYPE_CHECKING:
    from transactive.ledger.clearance.protocol import Validator

_D = TypeVar("_D", bound=SlotDocument)
RECORDED_STEPS = ("open_slot", "commit_orders", "open_and_commit", "submit_result", "settle_batch",
                  "submit_and_settle")  # by hash in a slot's document (the combined steps: docs/ledger.md)
FINAL_STATES = ("anchored", "settled")


class KeyedChain(Protocol):
    """What the desk needs beyond :class:`Chain`: signing for added (custodial) keys and ether transfers."""

    def add_key(self, private_key: bytes) -> str: ...

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Any: ...


class ReconcilingLock:
    """The chain-writer lock (a :class:`ChainLock`): its outermost acquisition runs ``reconcile`` once the lock is
    held (an exception releases it and propagates: the holder's step does not run)."""

    def __init__(self, inner: ChainLock, reconcile: Callable[[], None]) -> None:
        self.inner = inner
        self._reconcile = reconcile
        self._depth = 0  # changed only by the holder

    def acquire(self) -> bool:
        self.inner.acquire()
        self._depth += 1
        if self._depth == 1:
            try:
                self._reconcile()
            except BaseException:
                self.release()
                raise
        return True

    def release(self) -> None:
        self._depth -= 1
        self.inner.release()

    def __enter__(self) -> ReconcilingLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


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
        writer: ChainLock = threading.RLock() if lock is None else lock
        # chain reads (balances): this process's writers only, not the fleet's (a node serves reads at any time)
        self.read_lock: ChainLock = lock.local if isinstance(lock, FleetLock) else writer
        # write-ahead: every transaction's intent in the store before it is sent; whoever takes the writer lock
        # first settles the intents a crash left open (transactive.ledger.chain.intents)
        use_journal = getattr(chain, "use_journal", None)
        if use_journal is not None:
            use_journal(store)
        self.lock: ChainLock = ReconcilingLock(writer, self.reconcile)
        self.pool = pool
        self.parallel_validators = parallel_validators
        # the in-process validators' one recomputation per distinct input (None: each recomputes on its own)
        self.shared: SharedRecomputation | None = SharedRecomputation() if config.share_recomputation else None
        self.operator_clearings = ClearingMemo()  # the operator's last clearings, reused by the anchoring
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

    def reconcile(self) -> None:
        """Settle the transactions a crash left open (:meth:`~transactive.ledger.chain.base.KeyedSender.reconcile`):
        run by the writer lock's outermost acquisition, before its holder reads the chain to decide what to send."""
        reconcile = getattr(self.chain, "reconcile", None)
        if reconcile is not None:
            reconcile()

    def with_sent_txs(self, rec: LedgerSlot, document: _D) -> _D:
        """``document`` with the hash of each of the round's steps (:data:`RECORDED_STEPS`) it lacks but that a
        mined intent of the slot has: a process killed after sending a step and before storing its hash."""
        missing = [step for step in RECORDED_STEPS if step not in document.txs]
        if not missing:
            return document
        mined = {i.step: i.tx_hash for i in self.store.tx_intents(str(rec.chain_slot))
                 if i.state == "mined" and i.step in missing}
        for step in missing:
            if step in mined:
                document = document.with_tx(step, mined[step])
        return document
    def result_root(self, number: int, submitted: str | None = None) -> bytes:
        """The result root of on-chain slot ``number``: ``submitted`` (``0x``-hex), the root whose
        ``submit_result`` this desk has just seen accepted (the chain holds exactly it, no read needed), else
        read from :meth:`slot_record`."""
        if submitted is not None:
            return bytes.fromhex(submitted.removeprefix("0x"))
        return bytes(self.slot_record(number)[6])

    def save(self, rec: LedgerSlot, state: str, document: SlotDocument) -> LedgerSlot:
        """Store ``rec`` with its new ``state`` and ``document`` if nobody changed it since it was read
        (``MarketError`` conflict otherwise); answers the stored record. A final state (:data:`FINAL_STATES`)
        first fills in the step hashes the document lacks (:meth:`with_sent_txs`)."""
        if state in FINAL_STATES:
            document = self.with_sent_txs(rec, document)
        new = replace(rec, state=state, document=document.to_json(), updated_at=now_stamp())
        if not self.store.put_ledger_slot(new, rec.state):
            raise MarketError("slot_start", "the ledger record changed concurrently", "conflict")
        return new

    def cpu_seconds(self) -> float:
        pools = (self.pool, self.parallel_validators)
        return time.process_time() + sum(p.cpu_seconds() for p in pools if p is not None)
