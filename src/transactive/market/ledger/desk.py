"""The service's ledger: the contracts on a chain, custodial member accounts, anchoring and settling slots.

Per slot (see ``docs/service.md``, *Ledger*):

1. **anchor** (after clearing): the slot's stored orders become EIP-712 orders signed with the members'
   custodial keys (nonce = the order's arrival ``seq``), the auctioneer ``validators[s mod n]`` opens the
   on-chain slot and commits the order root, every in-process validator recomputes the clearing from the
   batch (:func:`transactive.ledger.clearance.protocol.recompute`) and endorses its root, and once ``k`` agree the
   result root is submitted (Proof of Clearance). The clearing anchor is opened in claims mode and never
   claimed: it records the clearing; money moves in step 2.
2. **settle** (once the slot's meter readings are in, or at the deadline): the settlement input
   (:mod:`transactive.settlement.slot_settlement`) is committed as a second on-chain slot, the validators
   recompute the postings ((4.8)-(4.9), DSO account included) and endorse their root, and the tokens move:
   in one ``settle_batch`` when the slot has at most :attr:`LedgerConfig.batch_max_rows` accounts, else by
   Merkle claims (the service escrows every debit with the debtor's custodial key before committing, then
   claims every debit and then every credit).

Every step first reads the on-chain slot state and only sends what is still missing, so a service stopped
anywhere resumes where it was and never submits twice (the chain refuses a second ``open_slot``,
``commit_orders``, ``submit_result``, ``settle_batch`` or claim anyway).

On-chain slot numbers: ``(community_number << 64) | (epoch_minutes << 1) | kind`` with ``kind`` 0 for the
clearing anchor and 1 for the settlement; ``community_number`` is the first 6 bytes of SHA-256 of the
community's name.

The desk is split by responsibility: :mod:`transactive.market.ledger.accounts` (contracts, custodial
accounts), :mod:`transactive.market.ledger.anchoring` (anchoring), :mod:`transactive.market.ledger.settlement`
(settlement); this module holds :class:`LedgerDesk` (construction, views, the cycle's ``process_due``).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from transactive.crypto.signing import Signer, WorkerPool
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.ledger.clearance.protocol import domain_of
from transactive.market.ledger.batch import SignRow, chain_slot_number, claims_to_make, sign_rows
from transactive.market.ledger.config import CLEARED, CLEARING, RETRY_S, SETTLED, SETTLEMENT, LedgerConfig
from transactive.market.ledger.sequence import multi_slot_starts
from transactive.market.ledger.settlement import LedgerSettlement
from transactive.store import LedgerSlot, MultiStore
from transactive.times import iso

log = logging.getLogger(__name__)
FULL_SCAN_S = 300.0  # process_due looks at every slot since the ledger's start this often (seconds)
SCAN_BACK = timedelta(days=1)  # and in between at the slots of the last day of market time (and older pending)
MULTI_LOOKBACK = timedelta(days=7)  # the cycle looks this far back for void slots with contracts or listings

__all__ = ["CLEARED", "CLEARING", "SETTLED", "SETTLEMENT", "LedgerConfig", "LedgerDesk", "chain_slot_number",
           "claims_to_make"]


class LedgerDesk(LedgerSettlement):
    """The contracts, validators and member accounts of one service, over its store: the facade. Deployment and
    accounts (:class:`~transactive.market.ledger.accounts.LedgerDeployment`), anchoring
    (:class:`~transactive.market.ledger.anchoring.LedgerAnchoring`) and settlement
    (:class:`~transactive.market.ledger.settlement.LedgerSettlement`) are inherited; here: construction, views and
    the cycle (:meth:`process_due`)."""

    def __init__(self, store: MultiStore, config: LedgerConfig, chain: Chain | None = None, *,
                 started: datetime | None = None) -> None:
        from transactive.ledger.chain.connect import open_chain
        from transactive.ledger.clearance.protocol import Validator

        self.store = store
        self.config = config
        self.chain = chain if chain is not None else open_chain(config.chain_url, config.chain_dir)
        self.lock = threading.RLock()  # one chain writer at a time (the embedded chain is single-threaded)
        # signature checks of large batches in worker processes (started on the first batch of >= 2,048 orders)
        self.pool = WorkerPool(start_method="forkserver")
        # opt-in (LedgerConfig.parallel_validators): the validators other than the slot's auctioneer recompute
        # a large slot side by side in these processes (started on the first large slot, or by warm_up)
        self.parallel_validators = (
            ParallelValidators(config.validators - 1) if config.parallel_validators and config.validators > 1
            else None)
        self.timings = {}  # seconds per step of the last anchor / settle (benchmarks, logs)
        self.cpu_timings = {}  # CPU seconds per step (this process + its signature workers)
        self._retry_at: dict[tuple[str, str, str], float] = {}
        self._bus_cache = {}  # Registry bus by member address (enrol writes what it sets)
        self._full_scan_at = 0.0  # process_due: when to look at every slot since the ledger's start again
        self._scan_from: dict[str, str] = {}  # else from here, per community (see process_due)
        self._multi_seen: set[tuple[str, str]] = set()  # void-slot path: slots known cleared or settled
        accounts = self.chain.accounts
        if len(accounts) < config.validators + 1:
            raise ValueError(f"validators: the chain has only {len(accounts)} accounts")
        self.admin = accounts[0]
        keys = [self.chain.private_key(a) for a in accounts[1:config.validators + 1]]
        self.validators = [Validator(k) for k in keys]
        self._signers = [Signer(k) for k in keys]
        try:
            self.registry, self.token, self.slots = self._deploy_or_reopen()
        except Exception:
            if chain is None:  # refused (another chain, other validators): release the chain we opened
                self.chain.close()
            raise
        self.start = self._ledger_start(started)
        self.domain = domain_of(self.chain, self.slots)
        for account in self.store.chain_accounts():
            if account.private_key_hex:
                self._keyed.add_key(bytes.fromhex(account.private_key_hex))
        self.archive = None
        if config.archive_dir is not None:
            self.archive = SlotArchive(config.archive_dir)
            if not self.archive.manifest_path.exists():  # the journal starts from the supply on chain now
                self.archive.create(registry=self.registry.address, token=self.token.address,
                                    slots=self.slots.address)
                self._journal(int(self.chain.call(self.token, "totalSupply")),
                              [a.address for a in self.store.chain_accounts()])

    def warm_up(self) -> None:
        """Start the worker processes now and let each import the signing code (else the first large slot pays
        for it: about a second or two)."""
        if self.pool is None:
            return
        key = "11" * 32
        trader = Signer(bytes.fromhex(key)).address
        rows: list[SignRow] = [(key, trader, 0, 0, 1, 1, i, self.domain.chain_id, self.domain.verifying_contract)
                                for i in range(self.pool.parallel_threshold)]
        self.pool.map_chunks(sign_rows, rows)
        if self.parallel_validators is not None:
            self.parallel_validators.warm_up(self._warm_up_batch())

    def _warm_up_batch(self) -> SlotBatch:
        """A two-order uniform batch, signed by throw-away keys (imports the clearing code in a worker)."""
        signers = [Signer(bytes([i + 1]) * 32) for i in range(2)]
        rows: list[SignRow] = [(f"{i + 1:02x}" * 32, s.address, 0, i, 1000, 100_000, 0,
                                self.domain.chain_id, self.domain.verifying_contract) for i, s in enumerate(signers)]
        return SlotBatch(self.domain, 0, tuple(sign_rows(rows)), mechanism="uniform", params={})

    # views (roots, statements, DSO income): transactive.market.ledger.views, over the store
    def ledger_view(self, community: str, slot_start: str) -> dict[str, Any]:
        from transactive.market.ledger.views import ledger_view

        return ledger_view(self.store, community, slot_start)

    def statements(self, community: str, member: str) -> list[dict[str, Any]]:
        from transactive.market.ledger.views import statements

        return statements(self.store, community, member)

    def dso_income(self, community: str) -> list[dict[str, Any]]:
        from transactive.market.ledger.views import dso_income

        return dso_income(self.store, community)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.parallel_validators is not None:
            self.parallel_validators.close()
        self.chain.close()

    # ------------------------------------------------------------------------------ the cycle
    def process_due(self, now: datetime) -> list[LedgerSlot]:
        """Anchor every cleared slot not anchored yet; settle every anchored slot whose readings are in (or
        whose deadline passed). Only slots starting at or after the ledger's start (:attr:`start`): older ones
        only on an explicit request (:meth:`anchor`, :meth:`settle`). Errors are logged and retried later.

        Cost: two indexed queries per community returning only the pending slot keys. Every
        :data:`FULL_SCAN_S` seconds they start at the ledger's start; in between at the earliest slot that was
        pending then, or a day of market time before then if that is earlier (a slot cleared late with an old
        start is picked up by the next full scan)."""
        done: list[LedgerSlot] = []
        full = time.monotonic() >= self._full_scan_at
        if full:
            self._full_scan_at = time.monotonic() + FULL_SCAN_S
        for community in self.store.list_communities():
            since = self.start if full else self._scan_from.get(community.name, self.start)
            to_anchor = self.store.slots_to_anchor(community.name, since)  # slot keys only, by the indexes
            for slot_start in to_anchor:
                if self._due((community.name, slot_start, CLEARING)):
                    try:
                        done.append(self.anchor(community.name, slot_start))
                    except Exception:
                        self._failed((community.name, slot_start, CLEARING))
            to_settle = self.store.slots_to_settle(community.name, since)
            # slots with contracts or listings settle too when their auction did not clear (void, no orders)
            # (those of the last MULTI_LOOKBACK since the ledger's start; older ones are settled by hand)
            window = multi_slot_starts(self.store, community.name, max(iso(now - MULTI_LOOKBACK), self.start),
                                       iso(now - timedelta(minutes=community.slot_minutes)))
            due = to_settle + sorted(s for s in window - set(to_settle) if not self._multi_done(community.name, s))
            for slot_start in due:
                key = (community.name, slot_start, SETTLEMENT)
                if not self._due(key):
                    continue
                try:
                    done.append(self.settle(community.name, slot_start, now))
                except MarketError:
                    pass  # not due yet (readings missing before the deadline, slot not ended)
                except Exception:
                    self._failed(key)
            if full:
                self._scan_from[community.name] = max(self.start, min([iso(now - SCAN_BACK), *to_anchor[:1],
                                                                       *to_settle[:1]]))
        return done

    def _multi_done(self, community: str, slot_start: str) -> bool:
        """Whether a slot with contracts or listings needs no settlement from the void-slot path: it has a
        clearing record (then it settles once anchored, through ``slots_to_settle``) or is settled. Remembered,
        so that each such slot is read once, not on every tick."""
        if (community, slot_start) in self._multi_seen:
            return True
        rec = self.store.get_ledger_slot(community, slot_start, SETTLEMENT)
        if self.store.get_ledger_slot(community, slot_start, CLEARING) is not None or (
                rec is not None and rec.state == "settled"):
            self._multi_seen.add((community, slot_start))
            return True
        return False

    def _due(self, key: tuple[str, str, str]) -> bool:
        return time.monotonic() >= self._retry_at.get(key, 0.0)

    def _failed(self, key: tuple[str, str, str]) -> None:
        """Log a failed step (e.g. a node that is down, a buyer short of tokens) and retry it in 30 s at the
        earliest rather than on every tick."""
        log.exception("%s of %s %s failed; retrying in %.0f s", key[2], key[0], key[1], RETRY_S)
        self._retry_at[key] = time.monotonic() + RETRY_S
