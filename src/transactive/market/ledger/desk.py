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
   in one ``settle_batch`` when the slot has at most :attr:`LedgerConfig.batch_max_rows` accounts (sent with the
   result root as one ``submit_and_settle`` unless a dispute window is set), else by
   Merkle claims (the service escrows every debit with the debtor's custodial key before committing, then
   claims every debit and then every credit).

Every step only sends what the on-chain slot state says is still missing (a fresh slot is opened and committed
by one ``open_and_commit``, which the chain refuses unless the slot is CLOSE; only then is the state read), so a
service stopped anywhere resumes where it was and never submits twice (the chain refuses a second
``open_and_commit``, ``open_slot``, ``commit_orders``, ``submit_result``, ``submit_and_settle``, ``settle_batch``
or claim anyway).

On-chain slot numbers: ``(community_number << 64) | (epoch_minutes << 1) | kind`` with ``kind`` 0 for the
clearing anchor and 1 for the settlement; ``community_number`` is the first 6 bytes of SHA-256 of the
community's name.

The desk is composed of parts sharing one :class:`~transactive.market.ledger.context.LedgerContext` (store,
configuration, chain, lock, pools, validators, contracts, start, domain, archive, bus cache, timings):
:class:`~transactive.market.ledger.accounts.LedgerAccounts` (contracts, custodial accounts),
:class:`~transactive.market.ledger.anchoring.LedgerAnchoring` (anchoring) and
:class:`~transactive.market.ledger.settlement.LedgerSettlement` (settlement), each given the parts it uses; this
module holds :class:`LedgerDesk`, which builds them and delegates to them explicitly (construction, views, the
cycle's ``process_due``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import ZERO32
from transactive.crypto.signing import Signer, WorkerPool
from transactive.errors import MarketError
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain, ChainRevert, Contract
from transactive.ledger.clearance.parallel import ParallelValidators
from transactive.ledger.clearance.protocol import domain_of
from transactive.market.ledger.accounts import LedgerAccounts
from transactive.market.ledger.anchoring import LedgerAnchoring
from transactive.market.ledger.batch import SignRow, chain_slot_number, claims_to_make, sign_rows
from transactive.market.ledger.config import CLEARED, CLEARING, RETRY_S, SETTLED, SETTLEMENT, LedgerConfig
from transactive.market.ledger.context import LedgerContext
from transactive.market.ledger.documents import SettlementDocument
from transactive.market.ledger.operator_clearing import OperatorClearing
from transactive.market.ledger.sequence import multi_slot_starts
from transactive.market.ledger.settlement import LedgerSettlement
from transactive.settlement.input import SettlementInput
from transactive.settlement.slot_settlement import AccountPosting
from transactive.store import ChainAccount, LedgerSlot, Member, MultiStore
from transactive.store.leases import ChainLock, Leases
from transactive.times import iso

if TYPE_CHECKING:
    from transactive.ledger.clearance.protocol import Validator

log = logging.getLogger(__name__)
FULL_SCAN_S = 300.0  # process_due looks at every slot since the ledger's start this often (seconds)
SCAN_BACK = timedelta(days=1)  # and in between at the slots of the last day of market time (and older pending)
MULTI_LOOKBACK = timedelta(days=7)  # the cycle looks this far back for void slots with contracts or listings

__all__ = ["CLEARED", "CLEARING", "SETTLED", "SETTLEMENT", "LedgerConfig", "LedgerDesk", "chain_slot_number",
           "claims_to_make"]


class LedgerDesk:
    """The contracts, validators and member accounts of one service, over its store: the facade. It builds the
    shared :class:`~transactive.market.ledger.context.LedgerContext` and its parts, deployment and accounts
    (:attr:`accounts`, :class:`~transactive.market.ledger.accounts.LedgerAccounts`), anchoring
    (:attr:`anchoring`, :class:`~transactive.market.ledger.anchoring.LedgerAnchoring`) and settlement
    (:attr:`settlement`, :class:`~transactive.market.ledger.settlement.LedgerSettlement`), and delegates its
    public attributes and methods to them; here too: views and the cycle (:meth:`process_due`)."""

    def __init__(self, store: MultiStore, config: LedgerConfig, chain: Chain | None = None, *,
                 started: datetime | None = None, leases: Leases | None = None, lock: ChainLock | None = None
                 ) -> None:
        """``leases``: who anchors or settles a slot (:mod:`transactive.store.leases`; fleet-wide on PostgreSQL);
        ``lock``: the chain-writer lock (a fleet's :class:`~transactive.store.leases.FleetLock`; default an
        ``RLock`` of this process)."""
        from transactive.ledger.chain.connect import open_chain
        from transactive.ledger.clearance.protocol import Validator

        # the custodial keys first: a missing or wrong key-encryption key fails here, before the chain is opened
        custodial = [bytes.fromhex(a.private_key_hex) for a in store.chain_accounts() if a.private_key_hex]
        opened = (chain if chain is not None
                  else open_chain(config.chain_url, config.chain_dir, engine=config.chain_engine))
        # signature checks of large batches in worker processes (started on the first batch of >= 2,048 orders)
        pool = WorkerPool(start_method="forkserver")
        # opt-in (LedgerConfig.parallel_validators): the validators other than the slot's auctioneer recompute
        # a large slot side by side in these processes (started on the first large slot, or by warm_up)
        parallel = (ParallelValidators(config.validators - 1) if config.parallel_validators and config.validators > 1
                    else None)
        self._retry_at: dict[tuple[str, str, str], float] = {}
        self._full_scan_at = 0.0  # process_due: when to look at every slot since the ledger's start again
        self._scan_from: dict[str, str] = {}  # else from here, per community (see process_due)
        self._multi_seen: set[tuple[str, str]] = set()  # void-slot path: slots known cleared or settled
        self.leases = Leases() if leases is None else leases
        accounts = opened.accounts
        if len(accounts) < config.validators + 1:
            raise ValueError(f"validators: the chain has only {len(accounts)} accounts")
        keys = [opened.private_key(a) for a in accounts[1:config.validators + 1]]
        ctx = self.ctx = LedgerContext(store, config, opened, pool=pool, parallel_validators=parallel,
                                       admin=accounts[0], validators=[Validator(k) for k in keys],
                                       signers=[Signer(k) for k in keys], lock=lock)
        self.accounts = LedgerAccounts(ctx)
        self.anchoring = LedgerAnchoring(ctx, self.accounts)
        self.settlement = LedgerSettlement(ctx, self.accounts, self.anchoring)
        try:
            ctx.registry, ctx.token, ctx.slots = self.accounts.deploy_or_reopen()
        except Exception:
            if chain is None:  # refused (another chain, other validators): release the chain we opened
                opened.close()
            raise
        ctx.start = self.accounts.ledger_start(started)
        ctx.domain = domain_of(opened, ctx.slots)
        for key in custodial:
            ctx.keyed.add_key(key)
        ctx.archive = None
        if config.archive_dir is not None:
            ctx.archive = SlotArchive(config.archive_dir)
            if not ctx.archive.manifest_path.exists():  # the journal starts from the supply on chain now
                ctx.archive.create(registry=ctx.registry.address, token=ctx.token.address,
                                   slots=ctx.slots.address)
                self.accounts.journal(int(opened.call(ctx.token, "totalSupply")),
                                       [a.address for a in store.chain_accounts()])

    # ------------------------------------------------------------------------------ the shared state
    @property
    def store(self) -> MultiStore:
        return self.ctx.store

    @property
    def config(self) -> LedgerConfig:
        return self.ctx.config

    @property
    def chain(self) -> Chain:
        return self.ctx.chain

    @property
    def lock(self) -> ChainLock:
        """One chain writer at a time (the embedded chain is single-threaded)."""
        return self.ctx.lock

    @property
    def pool(self) -> WorkerPool | None:
        return self.ctx.pool

    @property
    def parallel_validators(self) -> ParallelValidators | None:
        return self.ctx.parallel_validators

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per step of the last anchor / settle (benchmarks, logs)."""
        return self.ctx.timings

    @property
    def cpu_timings(self) -> dict[str, float]:
        """CPU seconds per step of the last anchor / settle (this process + its signature workers)."""
        return self.ctx.cpu_timings

    @property
    def admin(self) -> str:
        return self.ctx.admin

    @property
    def validators(self) -> list[Validator]:
        return self.ctx.validators

    @property
    def registry(self) -> Contract:
        return self.ctx.registry

    @property
    def token(self) -> Contract:
        return self.ctx.token

    @property
    def slots(self) -> Contract:
        return self.ctx.slots

    @property
    def start(self) -> str:
        """The market time from which the cycle anchors and settles slots (see :meth:`process_due`)."""
        return self.ctx.start

    @property
    def domain(self) -> Domain:
        return self.ctx.domain

    @property
    def archive(self) -> SlotArchive | None:
        return self.ctx.archive

    # ------------------------------------------------------------------------------ accounts (LedgerAccounts)
    def account_of(self, member: Member) -> ChainAccount | None:
        return self.accounts.account_of(member)

    def enrol(self, member: Member) -> ChainAccount | None:
        """See :meth:`LedgerAccounts.enrol <transactive.market.ledger.accounts.LedgerAccounts.enrol>`."""
        return self.accounts.enrol(member)

    def enrol_many(self, members: Sequence[Member]) -> dict[str, ChainAccount]:
        """See :meth:`LedgerAccounts.enrol_many <transactive.market.ledger.accounts.LedgerAccounts.enrol_many>`."""
        return self.accounts.enrol_many(members)

    def enrol_all(self) -> None:
        """See :meth:`LedgerAccounts.enrol_all <transactive.market.ledger.accounts.LedgerAccounts.enrol_all>`."""
        self.accounts.enrol_all()

    def balance_micro(self, address: str) -> int:
        return self.accounts.balance_micro(address)

    def read_registry_buses(self, addresses: Sequence[str]) -> None:
        """See :meth:`~transactive.market.ledger.accounts.LedgerAccounts.read_registry_buses`."""
        self.accounts.read_registry_buses(addresses)

    def dso_address(self, community: str) -> str:
        """The community's DSO account (its DSO member's custodial account, else the service's admin account)."""
        return self.accounts.dso_address(community)

    # ------------------------------------------------------------------------------ anchoring (LedgerAnchoring)
    def build_batch(self, community: str, slot_start: str) -> SlotBatch:
        """The slot's stored orders as a signed batch (custodial keys; nonce = seq << 8 | block)."""
        return self.anchoring.build_batch(community, slot_start)

    def anchor(self, community: str, slot_start: str) -> LedgerSlot:
        """Anchor a cleared slot (idempotent; resumes a half-done one)."""
        return self.anchoring.anchor(community, slot_start)

    def keep_clearing(self, community: str, slot_start: str, clearing: OperatorClearing) -> None:
        """The operator's clearing of a slot, kept for its anchoring (the auctioneer clears each slot once:
        :mod:`transactive.market.ledger.operator_clearing`)."""
        self.ctx.operator_clearings.put(community, slot_start, clearing)

    # ------------------------------------------------------------------------------ settlement (LedgerSettlement)
    def settlement_deadline(self, slot_start: str, slot_minutes: int) -> datetime:
        """See :meth:`~transactive.market.ledger.settlement.LedgerSettlement.settlement_deadline`."""
        return self.settlement.settlement_deadline(slot_start, slot_minutes)

    def prepare_settlement(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """See :meth:`~transactive.market.ledger.settlement.LedgerSettlement.prepare_settlement`."""
        return self.settlement.prepare_settlement(community, slot_start, now)

    def settlement_postings(self, doc: SettlementInput | Mapping[str, Any]) -> list[AccountPosting]:
        """See :meth:`~transactive.market.ledger.settlement.LedgerSettlement.settlement_postings`."""
        return self.settlement.settlement_postings(doc)

    def settle(self, community: str, slot_start: str, now: datetime, *, claims_sample: int | None = None
               ) -> LedgerSlot:
        """See :meth:`~transactive.market.ledger.settlement.LedgerSettlement.settle`."""
        return self.settlement.settle(community, slot_start, now, claims_sample=claims_sample)

    def settle_once(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """See :meth:`~transactive.market.ledger.settlement.LedgerSettlement.settle_once`."""
        return self.settlement.settle_once(community, slot_start, now)

    # ------------------------------------------------------------------------------ workers, views
    def warm_up(self) -> None:
        """Start the worker processes now and let each import the signing code (else the first large slot pays
        for it: about a second or two)."""
        if self.pool is None:
            return
        key = "11" * 32
        trader = Signer(bytes.fromhex(key)).address
        rows: list[SignRow] = [(key, trader, 0, 0, 1, 1, i, self.domain.chain_id, self.domain.verifying_contract,
                                 ZERO32) for i in range(self.pool.parallel_threshold)]
        self.pool.map_chunks(sign_rows, rows)
        if self.parallel_validators is not None:
            self.parallel_validators.warm_up(self._warm_up_batch())

    def _warm_up_batch(self) -> SlotBatch:
        """A two-order uniform batch, signed by throw-away keys (imports the clearing code in a worker)."""
        signers = [Signer(bytes([i + 1]) * 32) for i in range(2)]
        rows: list[SignRow] = [(f"{i + 1:02x}" * 32, s.address, 0, i, 1000, 100_000, 0,
                                self.domain.chain_id, self.domain.verifying_contract, ZERO32)
                               for i, s in enumerate(signers)]
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

    def fund_view(self, community: str) -> dict[str, Any]:
        """The community market fund: its chain account (the desk's own, ``MarketSlots.fund``), its token
        balance now (micro-tokens) and its row of every anchored clearing (:func:`~.views.fund_history`)."""
        from transactive.market.ledger.views import fund_history

        history = fund_history(self.store, community)
        return {"community": community, "account": self.admin, "balance_micro": self.balance_micro(self.admin),
                "slots": history, "total_micro": sum(int(row["fund_micro"]) for row in history)}

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
        :data:`FULL_SCAN_S` seconds they start at the ledger's start (and the members left unenrolled are
        enrolled: ``enrol_all``); in between at the earliest slot that was
        pending then, or a day of market time before then if that is earlier (a slot cleared late with an old
        start is picked up by the next full scan)."""
        done: list[LedgerSlot] = []
        full = time.monotonic() >= self._full_scan_at
        if full:
            self._full_scan_at = time.monotonic() + FULL_SCAN_S
            try:  # an enrolment a process of the fleet left half done when it died (resumed, minted once)
                self.accounts.enrol_all()
            except Exception:
                log.exception("enrolling the members left unenrolled failed; retried at the next full scan")
        for community in self.store.list_communities():
            since = self.start if full else self._scan_from.get(community.name, self.start)
            to_anchor = self.store.slots_to_anchor(community.name, since)  # slot keys only, by the indexes
            for slot_start in to_anchor:
                if self._due((community.name, slot_start, CLEARING)):
                    try:
                        done.extend(self._leased((community.name, slot_start, CLEARING), self.anchor))
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
                    done.extend(self._leased(key, lambda c, s: self.settle(c, s, now)))
                except MarketError:
                    pass  # not due yet (readings missing before the deadline, slot not ended)
                except ChainRevert as exc:  # refused, e.g. a buyer short of tokens: blocked, not retried
                    done.extend(self._block(key, exc))
                except Exception:
                    self._failed(key)
            if full:
                self._scan_from[community.name] = max(self.start, min([iso(now - SCAN_BACK), *to_anchor[:1],
                                                                       *to_settle[:1]]))
        return done

    def _leased(self, key: tuple[str, str, str], step: Callable[[str, str], LedgerSlot]) -> list[LedgerSlot]:
        """``step(community, slot_start)`` under the slot's lease ``<kind>/<community>/<slot_start>`` (anchoring:
        ``clearing``, settling: ``settlement``); nothing when another process of the fleet holds it. The step
        itself resumes whatever a killed holder left half done, from the store and the chain."""
        with self.leases.hold(f"{key[2]}/{key[0]}/{key[1]}") as held:
            return [step(key[0], key[1])] if held else []

    def _multi_done(self, community: str, slot_start: str) -> bool:
        """Whether a slot with contracts or listings needs no settlement from the void-slot path: it has a
        clearing record (then it settles once anchored, through ``slots_to_settle``) or is settled. Remembered,
        so that each such slot is read once, not on every tick."""
        if (community, slot_start) in self._multi_seen:
            return True
        rec = self.store.get_ledger_slot(community, slot_start, SETTLEMENT)
        if self.store.get_ledger_slot(community, slot_start, CLEARING) is not None or (
                rec is not None and rec.state in ("settled", "blocked")):
            self._multi_seen.add((community, slot_start))
            return True
        return False

    def _block(self, key: tuple[str, str, str], error: ChainRevert) -> list[LedgerSlot]:
        """A settlement the chain refuses goes to the visible state ``blocked`` with the reason (the slot's
        ledger view shows it as ``note``), logged once without a traceback and left alone by the cycle; an
        admin resolves it (e.g. the buyer's account topped up, then ``POST .../slots/{slot}/settle`` resumes
        it). Nothing moved: a refused transaction changes nothing on chain."""
        rec = self.store.get_ledger_slot(key[0], key[1], SETTLEMENT)
        if rec is None:  # refused before its record was stored: an ordinary failure
            self._failed(key)
            return []
        note = (f"blocked: the chain refused a transaction ({error}); an admin resolves it: "
                f"POST /admin/communities/{key[0]}/slots/{key[1]}/settle")
        log.warning("settlement of %s %s blocked: %s", key[0], key[1], error)
        return [self.ctx.save(rec, "blocked", SettlementDocument.from_json(rec.document).with_note(note))]

    def _due(self, key: tuple[str, str, str]) -> bool:
        return time.monotonic() >= self._retry_at.get(key, 0.0)

    def _failed(self, key: tuple[str, str, str]) -> None:
        """Log a failed step (e.g. a node that is down, a buyer short of tokens) and retry it in 30 s at the
        earliest rather than on every tick."""
        log.exception("%s of %s %s failed; retrying in %.0f s", key[2], key[0], key[1], RETRY_S)
        self._retry_at[key] = time.monotonic() + RETRY_S
