"""The service's ledger: the contracts on a chain, custodial member accounts, anchoring and settling slots.

Per slot (see ``docs/service.md``, *Ledger*):

1. **anchor** (after clearing): the slot's stored orders become EIP-712 orders signed with the members'
   custodial keys (nonce = the order's arrival ``seq``), the auctioneer ``validators[s mod n]`` opens the
   on-chain slot and commits the order root, every in-process validator recomputes the clearing from the
   batch (:func:`transactive.ledger.clearance.recompute`) and endorses its root, and once ``k`` agree the
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
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from transactive.ledger.attributes import ParticipantAttributes, SignedAttributes, sign_attributes
from transactive.ledger.audit import SlotArchive
from transactive.ledger.chain import Chain, ChainRevert, Contract
from transactive.ledger.clearance import (
    ClearanceError,
    auctioneer_index,
    check_members,
    clear_batch,
    domain_of,
    recompute,
    slot_rewards,
)
from transactive.ledger.commitments import ResultEntry, RewardShares, SettlementTree, result_tree
from transactive.ledger.compiler import load_artifact
from transactive.ledger.eip712 import Domain
from transactive.ledger.endorsement import endorse, valid_endorsements
from transactive.ledger.market_batch import GRID_ATTRIBUTES
from transactive.ledger.orders_codec import OrderError
from transactive.ledger.parallel_validators import ParallelValidators
from transactive.ledger.proofs import SlotBatch
from transactive.ledger.signing import Signer, WorkerPool
from transactive.market.errors import MarketError
from transactive.market.ledger_batch import (
    SignRow,
    chain_slot_number,
    claims_to_make,
    quantised_entry,
    sign_rows,
)
from transactive.market.ledger_config import (
    CLEARED,
    CLEARING,
    CLOSE,
    FOR_SALE,
    MAX_UINT,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    RETRY_S,
    ROLE_ADMIN,
    ROLE_BITS,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_VALIDATOR,
    SETTLED,
    SETTLEMENT,
    LedgerConfig,
)
from transactive.market.ledger_sequence import (
    auction_document,
    multi_slot_starts,
    sequence_input,
    sequence_lines,
    sequence_parties,
    stored_multi_document,
)
from transactive.market.slot_sequence import SEQUENCE_FORMAT, settle_sequence
from transactive.market.slots import Phase, iso, phase_bounds
from transactive.registry import full_registry
from transactive.settlement.slot_settlement import (
    AccountPosting,
    SettlementTerms,
    input_digest,
    settle_input,
    statement_lines,
)
from transactive.store import (
    ChainAccount,
    Community,
    LedgerSlot,
    Member,
    MultiSettlementRecord,
    MultiStore,
    SlotState,
)

if TYPE_CHECKING:
    from transactive.orders import Orders
    from transactive.result import ClearingResult

log = logging.getLogger(__name__)
FULL_SCAN_S = 300.0  # process_due looks at every slot since the ledger's start this often (seconds)
SCAN_BACK = timedelta(days=1)  # and in between at the slots of the last day of market time (and older pending)
MULTI_LOOKBACK = timedelta(days=7)  # the cycle looks this far back for void slots with contracts or listings

__all__ = ["CLEARED", "CLEARING", "SETTLED", "SETTLEMENT", "LedgerConfig", "LedgerDesk", "chain_slot_number",
           "claims_to_make"]

class KeyedChain(Protocol):
    """What the desk needs beyond :class:`Chain`: signing for added (custodial) keys and ether transfers."""

    def add_key(self, private_key: bytes) -> str: ...

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Any: ...


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _bus32(bus: str | None) -> bytes:
    raw = (bus or "").encode()
    return raw.ljust(32, b"\x00") if len(raw) <= 32 else hashlib.sha256(raw).digest()


class LedgerDesk:
    """The contracts, validators and member accounts of one service, over its store."""

    def __init__(self, store: MultiStore, config: LedgerConfig, chain: Chain | None = None, *,
                 started: datetime | None = None) -> None:
        from transactive.ledger.clearance import Validator
        from transactive.ledger.connect import open_chain

        self.store = store
        self.config = config
        self.chain: Chain = chain if chain is not None else open_chain(config.chain_url, config.chain_dir)
        self.lock = threading.RLock()  # one chain writer at a time (the embedded chain is single-threaded)
        # signature checks of large batches in worker processes (started on the first batch of >= 2,048 orders)
        self.pool: WorkerPool | None = WorkerPool(start_method="forkserver")
        # opt-in (LedgerConfig.parallel_validators): the validators other than the slot's auctioneer recompute
        # a large slot side by side in these processes (started on the first large slot, or by warm_up)
        self.parallel_validators: ParallelValidators | None = (
            ParallelValidators(config.validators - 1) if config.parallel_validators and config.validators > 1
            else None)
        self.timings: dict[str, float] = {}  # seconds per step of the last anchor / settle (benchmarks, logs)
        self.cpu_timings: dict[str, float] = {}  # CPU seconds per step (this process + its signature workers)
        self._retry_at: dict[tuple[str, str, str], float] = {}
        self._bus_cache: dict[str, str] = {}  # Registry bus by member address (enrol writes what it sets)
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
        self.domain: Domain = domain_of(self.chain, self.slots)
        for account in self.store.chain_accounts():
            if account.private_key_hex:
                self._keyed.add_key(bytes.fromhex(account.private_key_hex))
        self.archive: SlotArchive | None = None
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

    @property
    def _keyed(self) -> KeyedChain:
        chain: Any = self.chain
        return chain  # type: ignore[no-any-return]

    # views (roots, statements, DSO income): transactive.market.ledger_views, over the store
    def ledger_view(self, community: str, slot_start: str) -> dict[str, Any]:
        from transactive.market.ledger_views import ledger_view

        return ledger_view(self.store, community, slot_start)

    def statements(self, community: str, member: str) -> list[dict[str, Any]]:
        from transactive.market.ledger_views import statements

        return statements(self.store, community, member)

    def dso_income(self, community: str) -> list[dict[str, Any]]:
        from transactive.market.ledger_views import dso_income

        return dso_income(self.store, community)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.parallel_validators is not None:
            self.parallel_validators.close()
        self.chain.close()

    # ------------------------------------------------------------------------------ deployment
    def _deploy_or_reopen(self) -> tuple[Contract, Contract, Contract]:
        stored = self.store.ledger_meta("deployment")
        names = ("Registry", "EnergyToken", "MarketSlots")
        if stored is None:
            stored = self.store.put_ledger_meta("deployment", self._deploy())
        if int(stored["chainId"]) != self.chain.chain_id:
            raise ValueError(f"chain: the store's contracts are on chain {stored['chainId']}, "
                             f"this chain is {self.chain.chain_id}")
        registry, token, slots = (Contract(name=n, address=stored[n], abi=load_artifact(n).abi) for n in names)
        try:
            if int(self.chain.call(registry, "threshold")) < 1:
                raise ChainRevert("no threshold")
        except Exception as exc:
            raise ValueError(f"chain: no Transactive deployment at {stored['Registry']} on this chain "
                             f"(was the chain reset?): {exc}") from None
        self._check_validators(registry)
        return registry, token, slots

    def _check_validators(self, registry: Contract) -> None:
        """Refuse to reopen a deployment whose Registry holds other validators or another threshold than this
        configuration (every ``open_slot`` would revert): a :class:`MarketError` naming the option to change."""
        on_chain = [str(a) for a in self.chain.call(registry, "validator_list")]
        k = int(self.chain.call(registry, "threshold"))
        mine = [v.address for v in self.validators]
        if [a.lower() for a in on_chain] != [a.lower() for a in mine]:
            raise MarketError("--validators", f"the ledger's Registry holds {len(on_chain)} validators (development "
                              f"accounts 1..{len(on_chain)} when deployed by this service) and threshold {k}; "
                              f"start with --validators {len(on_chain)} --threshold {k}")
        if k != self.config.threshold:
            raise MarketError("--threshold", f"the ledger's Registry has threshold {k}; start with --threshold {k}")

    def _ledger_start(self, started: datetime | None) -> str:
        """The market time (``YYYY-MM-DDTHH:MM:SSZ``) from which the cycle anchors and settles slots: stored in
        the ledger metadata at first deployment (``started``, default now). A store deployed before this was
        recorded takes its first ledger record's slot (or now). Older slots: only by an explicit request."""
        stored = self.store.ledger_meta("start")
        if stored is None:
            first = [r.slot_start for c in self.store.list_communities()
                     for r in self.store.ledger_slots(c.name, CLEARING)[:1]]
            stored = self.store.put_ledger_meta("start", min(first) if first else iso(started or datetime.now(UTC)))
        return str(stored)

    def _deploy(self) -> dict[str, Any]:
        chain = self.chain
        registry = chain.deploy(load_artifact("Registry"))
        token = chain.deploy(load_artifact("EnergyToken"), registry.address, "Transactive Energy Token", "TET")
        slots = chain.deploy(load_artifact("MarketSlots"), registry.address, token.address, 0, 0)
        for v in self.validators:
            chain.transact(registry, "set_member", v.address, ROLE_VALIDATOR, _bus32("validator"))
        chain.transact(registry, "set_threshold", self.config.threshold)
        chain.transact(registry, "set_member", self.admin, ROLE_ADMIN | ROLE_DSO, _bus32("substation"))
        chain.transact(registry, "set_member", slots.address, ROLE_MARKET, _bus32(""))
        if self.config.start_tokens:  # the fallback DSO account pays an imbalance when it absorbed energy
            chain.transact(token, "mint", self.admin, self.config.start_tokens * 10**6)
        chain.transact(token, "approve", slots.address, MAX_UINT)
        log.warning("deployed the Transactive contracts on chain %s", chain.chain_id)
        return {"chainId": chain.chain_id, "Registry": registry.address, "EnergyToken": token.address,
                "MarketSlots": slots.address, "validators": [v.address for v in self.validators],
                "threshold": self.config.threshold}

    # ------------------------------------------------------------------------------ member accounts
    def account_of(self, member: Member) -> ChainAccount | None:
        return self.store.chain_account(member.id)

    def enrol(self, member: Member) -> ChainAccount | None:
        """Give a prosumer, aggregator or DSO member its custodial account, registered in the Registry with its
        role and bus, funded with gas and ``start_tokens`` and approving MarketSlots (idempotent)."""
        bits = ROLE_BITS.get(member.role)
        if bits is None:
            return None
        with self.lock:
            account = self.store.chain_account(member.id)
            if account is None:
                key = secrets.token_bytes(32)
                address = Signer(key).address
                self.store.put_chain_account(ChainAccount(member.id, address, key.hex()))
                account = self.store.chain_account(member.id)
                assert account is not None
            if account.enrolled:
                return account
            assert account.private_key_hex is not None
            address = self._keyed.add_key(bytes.fromhex(account.private_key_hex))
            chain = self.chain
            if int(chain.call(self.registry, "roles", address)) != bits:
                chain.transact(self.registry, "set_member", address, bits, _bus32(member.bus))
                self._bus_cache[address] = _bus32(member.bus).rstrip(b"\x00").decode("utf-8", "replace")  # as read
            fresh = int(chain.call(self.token, "allowance", address, self.slots.address)) == 0
            if fresh and int(chain.call(self.token, "balanceOf", address)) == 0 and self.config.start_tokens:
                if self.archive is not None:  # journaled first, once per account: a retry mints, never journals twice
                    self.archive.record_mint(self.config.start_tokens * 10**6, to=address)
                chain.transact(self.token, "mint", address, self.config.start_tokens * 10**6)
            self._journal(0, [address])
            if fresh:
                self._gas(address)
                chain.transact(self.token, "approve", self.slots.address, MAX_UINT, sender=address)
            self.store.mark_enrolled(member.id)
            return replace(account, enrolled=True)

    def _journal(self, minted_micro: int, accounts: Sequence[str] = ()) -> None:
        """Record a mint and member accounts in the audit archive's manifest (``transactive ledger verify``
        checks the supply against the mints and sums the balances of these accounts too)."""
        if self.archive is None:
            return
        if minted_micro:
            self.archive.record_mint(minted_micro)
        self.archive.record_accounts(accounts)

    def _gas(self, address: str) -> None:
        balance = getattr(self.chain, "balance", None)
        if self.config.gas_wei and (balance is None or int(balance(address)) < self.config.gas_wei // 2):
            self._keyed.send_value(address, self.config.gas_wei)

    def enrol_all(self) -> None:
        """Enrol every member still missing its account (after a restart, or members of an older database)."""
        for community in self.store.list_communities():
            for member in self.store.list_members(community.name):
                account = self.store.chain_account(member.id)
                if member.role in ROLE_BITS and (account is None or not account.enrolled):
                    self.enrol(member)

    def balance_micro(self, address: str) -> int:
        with self.lock:
            return int(self.chain.call(self.token, "balanceOf", address))

    # ------------------------------------------------------------------------------ helpers
    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), self._cpu_seconds()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - start
            self.cpu_timings[step] = self.cpu_timings.get(step, 0.0) + self._cpu_seconds() - cpu

    def _cpu_seconds(self) -> float:
        pools = (self.pool, self.parallel_validators)
        return time.process_time() + sum(p.cpu_seconds() for p in pools if p is not None)

    def _slot_record(self, number: int) -> tuple[Any, ...]:
        record: tuple[Any, ...] = self.chain.call(self.slots, "slots", number)
        return record

    def _save(self, rec: LedgerSlot, state: str, **updates: Any) -> LedgerSlot:
        new = replace(rec, state=state, document={**rec.document, **updates}, updated_at=_now())
        if not self.store.put_ledger_slot(new, rec.state):
            raise MarketError("slot_start", "the ledger record changed concurrently", "conflict")
        return new

    def _tx(self, rec: LedgerSlot, step: str, receipt: Any) -> LedgerSlot:
        txs = {**rec.document.get("txs", {}), step: _hex(receipt.tx_hash)}
        return self._save(rec, rec.state, txs=txs)

    def _auctioneer(self, number: int) -> str:
        return self.validators[auctioneer_index(number, len(self.validators))].address

    def _endorse_and_submit(self, rec: LedgerSlot, number: int, order_root: bytes,
                            results: Sequence[ResultEntry], roots: Sequence[bytes]) -> LedgerSlot:
        """``roots[i]`` is validator i's recomputed root; the agreeing ``k`` signatures are submitted by the
        first validator after the auctioneer (the miner). The root and the signatures are stored before the
        transaction is sent (a service that dies right after sending it still has them for the archive), and
        reused when the step is resumed."""
        addresses = [v.address for v in self.validators]
        by_root: dict[bytes, list[bytes]] = {}
        for signer, root in zip(self._signers, roots, strict=True):
            by_root.setdefault(root, []).append(endorse(signer, self.domain, number, order_root, root))
        root, signatures = max(by_root.items(), key=lambda kv: len(kv[1]))
        k = self.config.threshold
        valid = valid_endorsements(self.domain, number, order_root, root, signatures=signatures, validators=addresses)
        if len(valid) < k:
            raise ClearanceError(f"slot {number}: fewer than {k} validators agree")
        dissenters = [a for a, r in zip(addresses, roots, strict=True) if r != root]
        start = auctioneer_index(number, len(addresses)) + 1
        miners = [addresses[(start + j) % len(addresses)] for j in range(len(addresses))]
        miners = [m for m in miners if m not in dissenters]
        if rec.document.get("resultRoot") == _hex(root) and rec.document.get("endorsements"):
            signatures = [bytes.fromhex(x[2:]) for x in rec.document["endorsements"]]  # resumed: as stored
        else:
            rec = self._save(rec, rec.state, resultRoot=_hex(root), endorsements=[_hex(s) for s in signatures],
                             miner=miners[0], dissenters=dissenters)
        receipt = self.chain.transact(self.slots, "submit_result", number, root, signatures[:k], sender=miners[0])
        return self._tx(rec, "submit_result", receipt)

    # ------------------------------------------------------------------------------ 1. anchoring
    def build_batch(self, community: str, slot_start: str) -> SlotBatch:
        """The slot's stored orders as a signed batch (custodial keys; nonce = seq << 8 | block)."""
        number = chain_slot_number(community, slot_start, CLEARING)
        c = self.store.get_community(community)
        assert c is not None
        accounts = {a.member: a for a in self.store.chain_accounts(community)}  # one query, not one per member
        rows: list[SignRow] = []
        orders = self.store.orders_in_slot(community, slot_start)
        for order in orders:
            account = accounts.get(order.member)
            if account is None or account.private_key_hex is None:
                member = self.store.get_member(order.member)
                assert member is not None
                account = accounts[order.member] = self.enrol(member)  # type: ignore[assignment]
            assert account is not None and account.private_key_hex is not None
            side = 0 if order.side == "sellers" else 1
            assert order.seq is not None
            for j, (wh, micro) in enumerate(quantised_entry(order.entry)):
                rows.append((account.private_key_hex, account.address, number, side, wh, micro, (order.seq << 8) | j,
                             self.domain.chain_id, self.domain.verifying_contract))
        signers: dict[str, Signer] = {}  # one signer per custodial key, for its orders and its attributes
        signed = sign_rows(rows, signers)  # in-process: the pool's pickling costs more than it saves (measured)
        attributes: tuple[SignedAttributes, ...] = ()
        dso: str | None = None
        mechanism = full_registry().get(c.mechanism)
        if mechanism is not None and {f.name for f in mechanism.participant_fields} & GRID_ATTRIBUTES:
            # grid-aware (dpda_matched, ...): each trader also signs its bus, distance preference and welfare
            # parameters for the slot; the DSO's entry carries the clearing's grid charges
            attributes = tuple(self._sign_attributes(order.member, accounts, order.entry, number, signers)
                               for order in orders)
            dso = self._dso_address(community)
        return SlotBatch(self.domain, number, tuple(signed), mechanism=c.mechanism, params=dict(c.params),
                         attributes=attributes, dso=dso)

    def _recompute_all(self, batch: SlotBatch, rewards: RewardShares | None,
                       precleared: tuple[Orders, Orders, ClearingResult] | None
                       ) -> tuple[tuple[ResultEntry, ...], list[bytes]]:
        """Every validator's recomputation of a committed batch: ``(the auctioneer's entries, every validator's
        root)``. Each verifies every signature itself. The auctioneer recomputes in this process and reuses
        its own clearing from before the commit (``precleared``); the others run one after the other here
        (their signature checks in the desk's pool while they clear), or, with ``parallel_validators`` and a
        large slot, at the same time in those worker processes."""
        n = len(self.validators)
        mine = auctioneer_index(batch.slot, n)
        pending = None
        if self.parallel_validators is not None and n > 1 and self.parallel_validators.worth_it(batch):
            pending = self.parallel_validators.submit(batch, rewards, n - 1)
        results = recompute(batch, pool=self.pool, rewards=rewards, cleared=precleared)
        root = result_tree(batch.slot, results).root
        if pending is not None:
            others = iter(pending())
        else:
            others = iter([result_tree(batch.slot, recompute(batch, pool=self.pool, rewards=rewards)).root
                           for _ in range(n - 1)])
        return results, [root if i == mine else next(others) for i in range(n)]

    def _sign_attributes(self, member: str, accounts: Mapping[str, ChainAccount], entry: Mapping[str, Any],
                         number: int, signers: dict[str, Signer]) -> SignedAttributes:
        account = accounts[member]
        key = account.private_key_hex
        assert key is not None
        values = {k: float(entry[k]) for k in ("a", "b", "c", "omega", "alpha") if k in entry}
        record = ParticipantAttributes.from_values(account.address, slot=number, bus=str(entry["bus"]),
                                                   distance_pref_m=float(entry["distance_pref_m"]), **values)
        signer = signers.get(key)
        if signer is None:
            signer = signers[key] = Signer(bytes.fromhex(key))
        return sign_attributes(signer, record, self.domain)

    def _registry_problems(self, batch: SlotBatch) -> list[str]:
        """What the Registry contradicts in a grid-aware batch (signed buses, the DSO's role), checked before
        the slot is opened; the members' Registry buses are cached (this desk is the only one to set them)."""
        if not batch.attributes and batch.dso is None:
            return []
        with self._timed("check buses in the Registry"):
            return check_members(self.chain, self.slots, batch, bus_cache=self._bus_cache)

    def read_registry_buses(self, addresses: Sequence[str]) -> None:
        """Read the Registry bus of each address into the bus cache (one call each; what the first grid-aware
        slot after a start does for its traders not enrolled by this process)."""
        with self.lock:
            for address in addresses:
                raw = bytes(self.chain.call(self.registry, "bus", address))
                self._bus_cache[address] = raw.rstrip(b"\x00").decode("utf-8", "replace")

    def _unbatchable(self, community: str, slot_start: str, number: int, exc: Exception,
                     state: str = "unsupported") -> LedgerSlot:
        """Record a cleared slot whose orders cannot become a signed batch (``unsupported``) or whose batch the
        Registry contradicts (``refused``) with the reason: neither anchored nor settled on chain; not retried."""
        reason = exc.message if isinstance(exc, MarketError) else str(exc)
        note = (f"the Registry refuses the batch: {reason}" if state == "refused"
                else f"the orders cannot be signed as a batch: {type(exc).__name__}: {reason}")
        self.store.put_ledger_slot(LedgerSlot(community, slot_start, CLEARING, number, state,
                                              {"note": note, "txs": {}}, _now()), None)
        rec = self.store.get_ledger_slot(community, slot_start, CLEARING)
        assert rec is not None
        return rec

    def anchor(self, community: str, slot_start: str) -> LedgerSlot:
        """Anchor a cleared slot (idempotent; resumes a half-done one)."""
        with self.lock:
            rec = self.store.get_ledger_slot(community, slot_start, CLEARING)
            number = chain_slot_number(community, slot_start, CLEARING)
            self.timings, self.cpu_timings = {}, {}
            batch: SlotBatch | None = None
            precleared: tuple[Orders, Orders, ClearingResult] | None = None
            if rec is None:
                slot = self.store.get_slot(community, slot_start)
                if slot is None or slot.state is not SlotState.CLEARED:
                    raise MarketError("slot_start", "the slot is not cleared", "conflict")
                with self._timed("sign orders"):
                    try:
                        batch = self.build_batch(community, slot_start)
                    except (OrderError, ValueError, KeyError) as exc:  # e.g. a trader without a bus
                        return self._unbatchable(community, slot_start, number, exc)
                problems = self._registry_problems(batch)
                if problems:  # a signed bus the Registry does not confirm: never opened on chain
                    return self._unbatchable(community, slot_start, number, ClearanceError(problems[0]), "refused")
                with self._timed("order root + store batch"):
                    fresh = LedgerSlot(community, slot_start, CLEARING, number, "batched",
                                       {"batch": batch.to_json(), "orderRoot": _hex(batch.order_root), "txs": {}},
                                       _now())
                    try:  # the auctioneer clears the batch once before committing it (and keeps its clearing)
                        precleared = clear_batch(batch, verify=False)
                        recompute(batch, verify=False, cleared=precleared)
                    except ClearanceError as exc:
                        fresh = replace(fresh, state="unsupported", document={**fresh.document, "note": str(exc)})
                    self.store.put_ledger_slot(fresh, None)
                rec = self.store.get_ledger_slot(community, slot_start, CLEARING)
                assert rec is not None
            if rec.state != "batched":
                return rec
            if batch is None:
                batch = SlotBatch.from_json(rec.document["batch"])
            auctioneer = self._auctioneer(number)
            state = int(self._slot_record(number)[0])
            with self._timed("open + commit order root"):
                if state == CLOSE:
                    rec = self._tx(rec, "open_slot", self.chain.transact(
                        self.slots, "open_slot", number, MODE_CLAIMS, sender=auctioneer))
                    state = FOR_SALE
                if state == FOR_SALE:
                    rec = self._tx(rec, "commit_orders", self.chain.transact(
                        self.slots, "commit_orders", number, batch.order_root, len(batch.orders), sender=auctioneer))
                    state = RESERVE_NOT_MET
            results: tuple[ResultEntry, ...] = ()
            rewards = slot_rewards(self.chain, self.slots, number)  # as every validator and the audit do
            if state == RESERVE_NOT_MET:
                with self._timed(f"{len(self.validators)} validators recompute + endorse"):
                    # every validator recomputes and verifies every signature itself; the auctioneer reuses
                    # its own clearing of the batch from before the commit (its signature checks still run)
                    results, roots = self._recompute_all(batch, rewards, precleared)
                with self._timed("submit result (k signatures)"):
                    rec = self._endorse_and_submit(rec, number, batch.order_root, results, roots)
                state = CLEARED
            if state != CLEARED:
                raise MarketError("slot_start", f"on-chain slot {number} is in state {state}", "conflict")
            if not results:
                results = recompute(batch, pool=self.pool, rewards=rewards)
            chain_root = bytes(self._slot_record(number)[6])
            if result_tree(number, results).root != chain_root:
                return self._save(rec, "failed", note="the root on chain differs from the recomputation")
            if self.archive is not None:
                endorsements = tuple(bytes.fromhex(x[2:]) for x in rec.document.get("endorsements", []))
                self.archive.save(replace(batch, results=results, endorsements=endorsements))
            return self._save(rec, "anchored", results=[r.to_json() for r in results], resultRoot=_hex(chain_root),
                              anchoredAt=_now())

    # ------------------------------------------------------------------------------ 2. settlement
    def _dso_address(self, community: str) -> str:
        for member in self.store.list_members(community):
            if member.role == "dso":
                account = self.enrol(member)
                if account is not None:
                    return account.address
        return self.admin

    def dso_address(self, community: str) -> str:
        """The community's DSO account (its DSO member's custodial account, else the service's admin account)."""
        return self._dso_address(community)

    def settlement_deadline(self, slot_start: str, slot_minutes: int) -> datetime:
        """When the settlement of a slot proceeds without its missing readings: the start of the settlement
        phase of the next slot (13 min after the next slot starts, for 15-minute slots)."""
        following = datetime.fromisoformat(slot_start) + timedelta(minutes=slot_minutes)
        return phase_bounds(following, slot_minutes)[Phase.SETTLEMENT][0]

    def prepare_settlement(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """Build the settlement record of an ended slot (``MarketError`` conflict while its clearing is not
        anchored, while readings are missing before the deadline, or before the slot ended): the whole seed-001
        sequence, ``transactive.settlement-input/2`` (:meth:`_prepare_sequence`; a slot without contracts or
        listings has empty first stages). An existing record (also a format-1 one of an older service) is
        answered as it is."""
        c = self.store.get_community(community)
        assert c is not None
        existing = self.store.get_ledger_slot(community, slot_start, SETTLEMENT)
        if existing is not None:
            return existing
        return self._prepare_sequence(c, slot_start, now, self.store.get_ledger_slot(community, slot_start, CLEARING))

    def _check_due(self, c: Community, slot_start: str, now: datetime, missing: Sequence[str]) -> None:
        end = datetime.fromisoformat(slot_start) + timedelta(minutes=c.slot_minutes)
        if now < end:
            raise MarketError("slot_start", "the slot has not ended yet", "conflict")
        if missing and now < self.settlement_deadline(slot_start, c.slot_minutes):
            raise MarketError("slot_start", f"waiting for the meter readings of {', '.join(sorted(missing)[:10])}",
                              "conflict")

    def _store_settlement(self, community: str, slot_start: str, number: int, doc: dict[str, Any],
                          accounts: int) -> LedgerSlot:
        mode = MODE_BATCH if accounts <= self.config.batch_max_rows else MODE_CLAIMS
        fresh = LedgerSlot(community, slot_start, SETTLEMENT, number, "batched",
                           {"input": doc, "mode": mode, "orderRoot": _hex(input_digest(doc)), "txs": {}}, _now())
        self.store.put_ledger_slot(fresh, None)
        stored = self.store.get_ledger_slot(community, slot_start, SETTLEMENT)
        assert stored is not None
        return stored

    def _prepare_sequence(self, c: Community, slot_start: str, now: datetime, clearing: LedgerSlot | None
                          ) -> LedgerSlot:
        """The settlement record of a slot with contracts or listings: the whole seed-001 sequence with the
        auction settled against the meters (:mod:`transactive.market.slot_sequence`). The clearing must be
        anchored if the slot cleared; a void slot (or one without orders) settles without an auction stage."""
        result: Mapping[str, Any] | None = None
        if clearing is not None:
            if clearing.state != "anchored":
                raise MarketError("slot_start", f"the slot's clearing is not anchored ({clearing.state})", "conflict")
            stored = self.store.get_result(c.name, slot_start)
            assert stored is not None
            result = stored.document
        else:
            slot = self.store.get_slot(c.name, slot_start)
            if slot is not None and slot.state is not SlotState.VOID:
                raise MarketError("slot_start", f"the slot's clearing is not anchored ({slot.state.value})",
                                  "conflict")
        parties, _, _, _ = sequence_parties(self.store, c.name, slot_start, result)
        readings = {r.member for r in self.store.meter_readings(c.name, slot_start)}
        self._check_due(c, slot_start, now, [m for m in parties if m not in readings])
        self.store.close_listings(c.name, slot_start)  # bidding closes: from now on no order is decided
        known = {a.member: a.address for a in self.store.chain_accounts(c.name)}

        def account_of(member_id: str) -> str:
            if member_id not in known:
                member = self.store.get_member(member_id)
                assert member is not None
                enrolled = self.enrol(member)
                assert enrolled is not None
                known[member_id] = enrolled.address
            return known[member_id]

        number = chain_slot_number(c.name, slot_start, SETTLEMENT)
        doc = sequence_input(
            self.store, c, slot_start, chain_slot=number,
            clearing_slot=None if clearing is None else clearing.chain_slot,
            clearing_root=None if clearing is None else str(clearing.document["resultRoot"]), result=result,
            terms=SettlementTerms(self.config.penalty_per_kwh, self.config.grid_charge_per_kwh),
            account_of=account_of, dso_address=self._dso_address(c.name))
        return self._store_settlement(c.name, slot_start, number, doc,
                                      len(settle_sequence(doc, self.domain).postings))

    def settlement_postings(self, doc: Mapping[str, Any]) -> list[AccountPosting]:
        """Every validator's recomputation of a settlement input (format 2: the whole sequence; format 1, of
        records an older service prepared: the auction against the meters)."""
        if doc.get("format") == SEQUENCE_FORMAT:
            return list(settle_sequence(doc, self.domain).postings)
        return settle_input(doc)[1]

    def settle(self, community: str, slot_start: str, now: datetime, *, claims_sample: int | None = None
               ) -> LedgerSlot:
        """Settle an anchored slot against its meter readings, on chain, exactly once (resumes a half-done
        settlement). A settled slot is a ``MarketError`` conflict. ``claims_sample`` (benchmarks only): in
        claims mode escrow and claim only that many debits and as many credits as they pay for."""
        with self.lock:
            self.timings, self.cpu_timings = {}, {}
            with self._timed("settlement: input from readings + postings"):
                rec = self.prepare_settlement(community, slot_start, now)
            if rec.state == "settled":
                raise MarketError("slot_start", f"the slot is settled already ({rec.document.get('settledAt')})",
                                  "conflict")
            return self._run_settlement(rec, claims_sample)

    def _run_settlement(self, rec: LedgerSlot, claims_sample: int | None) -> LedgerSlot:
        doc = rec.document["input"]
        mode = int(rec.document["mode"])
        number = rec.chain_slot
        order_root = input_digest(doc)
        postings = self.settlement_postings(doc)
        entries = [ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in postings]
        auctioneer = self._auctioneer(number)
        state = int(self._slot_record(number)[0])
        debits, credits = claims_to_make(entries, claims_sample)
        with self._timed("settlement: open + escrow + commit"):
            if state == CLOSE:
                rec = self._tx(rec, "open_slot", self.chain.transact(self.slots, "open_slot", number, mode,
                                                                     sender=auctioneer))
                state = FOR_SALE
            if state == FOR_SALE:
                if mode == MODE_CLAIMS:
                    for e in debits:
                        held = int(self.chain.call(self.slots, "escrow", number, e.account))
                        if held < -e.amount_micro:
                            self._gas(e.account)
                            self.chain.transact(self.slots, "deposit_escrow", number, -e.amount_micro - held,
                                                sender=e.account)
                rec = self._tx(rec, "commit_orders", self.chain.transact(
                    self.slots, "commit_orders", number, order_root, len(entries), sender=auctioneer))
                state = RESERVE_NOT_MET
        if state == RESERVE_NOT_MET:
            with self._timed(f"settlement: {len(self.validators)} validators recompute + endorse + submit"):
                roots = []
                for _ in self.validators:  # each validator recomputes the postings from the published input
                    theirs = self.settlement_postings(doc)
                    roots.append(result_tree(number, [ResultEntry(p.address, p.energy_wh, p.amount_micro)
                                                      for p in theirs]).root)
                rec = self._endorse_and_submit(rec, number, order_root, entries, roots)
            state = CLEARED
        if state == CLEARED and mode == MODE_BATCH:
            with self._timed("settlement: settle_batch (token transfers)"):
                tree = SettlementTree.build([e.values(number) for e in entries])
                rows = [(a, e, m) for _, a, e, m in tree.rows]
                rec = self._tx(rec, "settle_batch", self.chain.transact(self.slots, "settle_batch", number, rows))
            state = SETTLED
        elif state == CLEARED:
            with self._timed("settlement: Merkle claims (token transfers)"):
                tree = SettlementTree.build([e.values(number) for e in entries])
                claimed = 0
                for e in (*debits, *credits):
                    if not self.chain.call(self.slots, "claimed", number, e.account):
                        self.chain.transact(self.slots, "claim", number, e.account, e.energy_wh, e.amount_micro,
                                            tree.proof(e.values(number)))
                    claimed += 1
                rec = self._save(rec, rec.state, claims=claimed)
            state = SETTLED
        if state != SETTLED:
            raise MarketError("slot_start", f"on-chain slot {number} is in state {state}", "conflict")
        members = {a.address: a.member for a in self.store.chain_accounts(rec.community)}
        final = "settled" if claims_sample is None else "sampled"  # a benchmark's partial claims
        posted = [{"account": p.address, "member": members.get(p.address, "dso"), "energy_wh": p.energy_wh,
                   "amount_micro": p.amount_micro} for p in postings]
        dso_amount = next(p.amount_micro for p in postings if p.address == doc["dso"])
        c = self.store.get_community(rec.community)
        assert c is not None
        txs = {"chain_slot": str(number), "txs": rec.document.get("txs", {})}
        if doc.get("format") == SEQUENCE_FORMAT:
            seq = settle_sequence(doc, self.domain)
            lines = sequence_lines(seq)
            dso = {"account": doc["dso"], **seq.dso_breakdown}
            multi = stored_multi_document(c, rec.slot_start, doc, seq, c.mechanism)
        else:  # a format-1 record of an older service: the auction against the meters only
            settlement, _ = settle_input(doc)
            lines = statement_lines(settlement)
            dso = {"account": doc["dso"], "tariffs_micro": settlement.dso_tariffs_micro,
                   "penalties_micro": settlement.dso_penalties_micro,
                   "imbalance_micro": settlement.dso_imbalance_micro, "amount_micro": dso_amount}
            multi = auction_document(c, rec.slot_start, doc, lines, dso_amount_micro=dso_amount,
                                     mechanism=c.mechanism)
        if final == "settled":  # the multi-settlement desk's document of the same (one) settlement, stored
            # first: a stop between the two writes resumes here (the chain says SETTLED) and stores it once
            self.store.finish_multi_settlement(MultiSettlementRecord(c.name, rec.slot_start, {**multi, "ledger": txs},
                                                                     _now()), _now())
        return self._save(rec, final, settledAt=_now(), lines=lines, postings=posted, dso=dso)

    def settle_once(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """Settle now unless the slot is settled already (then its record): the multi-settlement desk's manual
        endpoint, idempotent with the cycle (both run under the desk's lock)."""
        with self.lock:
            rec = self.store.get_ledger_slot(community, slot_start, SETTLEMENT)
            if rec is not None and rec.state == "settled":
                return rec
            return self.settle(community, slot_start, now)

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
