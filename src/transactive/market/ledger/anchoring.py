"""Anchoring a cleared slot on chain (step 1 of :mod:`transactive.market.ledger.desk`): the stored orders
as a batch signed with the custodial keys, the Registry's check of a grid-aware batch, ``open_slot`` and
``commit_orders`` by the auctioneer, every validator's recomputation and endorsement, and the result root
submitted with ``k`` agreeing signatures (Proof of Clearance); plus the round's steps the settlement shares,
public: :meth:`LedgerAnchoring.open_and_commit`, :meth:`LedgerAnchoring.endorse_and_submit` and
:meth:`LedgerAnchoring.record_tx`, each storing its progress in the slot's typed document
(:mod:`transactive.market.ledger.documents`) through :meth:`LedgerContext.save`.

:class:`LedgerAnchoring` is the second part of :class:`transactive.market.ledger.desk.LedgerDesk`: it works on the
desk's :class:`~transactive.market.ledger.context.LedgerContext` and enrols through its
:class:`~transactive.market.ledger.accounts.LedgerAccounts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from transactive._bulk import gc_paused
from transactive.crypto.encoding import ZERO32, hex0x
from transactive.crypto.signing import WorkerPool, available_cores
from transactive.errors import MarketError
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.protocol import (
    ClearanceError,
    Collected,
    auctioneer_index,
    batch_entries,
    check_members,
    clear_batch,
    endorse_and_submit,
    open_and_commit,
    recompute,
    settled_by,
    slot_rewards,
    with_rewards,
)
from transactive.ledger.messages.attributes import ParticipantAttributes, SignedAttributes
from transactive.ledger.messages.batch import GRID_ATTRIBUTES
from transactive.ledger.messages.commitments import ResultEntry, RewardShares, result_tree
from transactive.ledger.messages.orders import OrderError, SignedOrder
from transactive.market.ledger.accounts import LedgerAccounts
from transactive.market.ledger.batch import SIGN_CHUNK, SignRow, chain_slot_number, quantised_entry, sign_rows
from transactive.market.ledger.config import CLEARED, CLEARING, MODE_CLAIMS, RESERVE_NOT_MET
from transactive.market.ledger.context import LedgerContext
from transactive.market.ledger.documents import AnchorDocument, SlotDocument, StoredResult, now_stamp
from transactive.market.ledger.operator_clearing import batch_clearing
from transactive.market.ledger.sharing import clearing_key
from transactive.registry import full_registry
from transactive.settlement.wholesale import mechanism_params
from transactive.store import ChainAccount, LedgerSlot, SlotState

_D = TypeVar("_D", bound=SlotDocument)

if TYPE_CHECKING:
    from transactive.orders import Orders
    from transactive.result import ClearingResult


class LedgerAnchoring:
    """Anchoring (and the steps it shares with the settlement) of a
    :class:`~transactive.market.ledger.desk.LedgerDesk`: the signed batch, the Registry's check, the
    Proof-of-Clearance round of a clearing anchor, and the stored record's state and transactions."""

    def __init__(self, ctx: LedgerContext, accounts: LedgerAccounts) -> None:
        self.ctx = ctx
        self.accounts = accounts

    # ------------------------------------------------------------------------------ the round (shared)
    def record_tx(self, rec: LedgerSlot, doc: _D, step: str, receipt: Any) -> tuple[LedgerSlot, _D]:
        """Store the hash of the transaction of ``step`` in the slot's document (the record keeps its state)."""
        doc = doc.with_tx(step, hex0x(receipt.tx_hash))
        return self.ctx.save(rec, rec.state, doc), doc

    def _auctioneer(self, number: int) -> str:
        return self.ctx.validators[auctioneer_index(number, len(self.ctx.validators))].address

    def open_and_commit(self, rec: LedgerSlot, doc: _D, number: int, *, mode: int, order_root: bytes, count: int,
                        before_commit: Callable[[], None] | None = None, store: bool = True
                        ) -> tuple[LedgerSlot, _D, int]:
        """Steps 1 of the Proof-of-Clearance round (:func:`~transactive.ledger.clearance.protocol.open_and_commit`),
        each transaction's hash stored as it is sent; returns the record, its document and the slot's state
        afterwards. ``store=False``: the hashes only put in the returned document, stored by the caller's next
        save (its transaction intents hold them meanwhile: a final save takes a missing hash from a mined
        intent, :meth:`~transactive.market.ledger.context.LedgerContext.with_sent_txs`)."""
        held = (rec, doc)

        def sent(step: str, receipt: Any) -> None:
            nonlocal held
            if store:
                held = self.record_tx(held[0], held[1], step, receipt)
            else:
                held = (held[0], held[1].with_tx(step, hex0x(receipt.tx_hash)))

        state = open_and_commit(self.ctx.chain, self.ctx.slots, number, mode=mode, order_root=order_root, count=count,
                                auctioneer=self._auctioneer(number), before_commit=before_commit, sent=sent)
        return held[0], held[1], state

    def endorse_and_submit(self, rec: LedgerSlot, doc: _D, number: int, *, order_root: bytes,
                           results: Sequence[ResultEntry], roots: Sequence[bytes],
                           rows: Sequence[tuple[str, int, int]] | None = None, own_root: bytes | None = None,
                           store: bool = True) -> tuple[LedgerSlot, _D]:
        """Steps 4-5 of the round (:func:`~transactive.ledger.clearance.protocol.endorse_and_submit`): ``roots[i]`` is
        validator i's recomputed root, which it signs; the agreeing validators submit in
        :func:`~transactive.ledger.clearance.protocol.miner_order`. The root, the signatures, the first miner and the
        dissenters are stored before the transaction is sent (a service that dies right after sending it
        still has them for the archive), and the stored signatures are reused when the step is resumed.
        ``rows`` (a batch-mode settlement slot's rows): submitted and settled in one transaction when the chain
        accepts it (:func:`~transactive.ledger.clearance.protocol.submit`; the step is then recorded as
        ``submit_and_settle``, else as ``submit_result``). ``own_root``: the root of ``results`` when the caller
        has it (else built here). ``store=False``: the submission's hash only put in the returned document (the
        record returned is the one stored before the submission), for the caller's next save to store, as in
        :meth:`open_and_commit`."""
        own = result_tree(number, results).root if own_root is None else own_root
        answers = [v.sign_root(self.ctx.domain, number, order_root, root, tuple(results) if root == own else ())
                   for v, root in zip(self.ctx.validators, roots, strict=True)]
        held = (rec, doc)

        def before_submit(collected: Collected, miner: str) -> Collected:
            nonlocal held
            assert collected.result_root is not None
            current = held[1]
            if current.result_root == hex0x(collected.result_root) and current.endorsements:
                return replace(collected, signatures=current.endorsement_bytes())
            fresh = replace(current, result_root=hex0x(collected.result_root),
                            endorsements=tuple(hex0x(sig) for sig in collected.signatures), miner=miner,
                            dissenters=tuple(collected.dissenters))
            held = (self.ctx.save(held[0], held[0].state, fresh), fresh)
            return collected

        _, _, receipt = endorse_and_submit(
            self.ctx.chain, self.ctx.slots, answers, domain=self.ctx.domain, slot=number, order_root=order_root,
            validators=[v.address for v in self.ctx.validators], k=self.ctx.config.threshold,
            before_submit=before_submit, rows=rows)
        step = "submit_and_settle" if settled_by(self.ctx.slots, receipt) else "submit_result"
        if not store:
            return held[0], held[1].with_tx(step, hex0x(receipt.tx_hash))
        return self.record_tx(held[0], held[1], step, receipt)

    # ------------------------------------------------------------------------------ 1. anchoring
    def build_batch(self, community: str, slot_start: str) -> SlotBatch:
        """The slot's stored orders as a signed batch (custodial keys; nonce = seq << 8 | block)."""
        return self._signed_batch(community, slot_start)[0]

    def _signed_batch(self, community: str, slot_start: str) -> tuple[SlotBatch, dict[str, str]]:
        """:meth:`build_batch` and the address that signed each member's orders (member id -> address)."""
        number = chain_slot_number(community, slot_start, CLEARING)
        c = self.ctx.store.get_community(community)
        assert c is not None
        accounts = {a.member: a for a in self.ctx.store.chain_accounts(community)}  # one query, not one per member
        # the orders the operator read after closing the slot and cleared (else read here)
        orders = self.ctx.operator_clearings.take_orders(community, slot_start) or self.ctx.store.orders_in_slot(
            community, slot_start)
        missing = {o.member for o in orders if (a := accounts.get(o.member)) is None or a.private_key_hex is None}
        if missing:  # traders without a custodial account: enrolled in batches (a few transactions per 200)
            members = [m for m in self.ctx.store.list_members(community) if m.id in missing]
            accounts.update(self.accounts.enrol_many(members))
        mechanism = full_registry().get(c.mechanism)
        # grid-aware (dpda_matched, ...): each trader's bus, distance preference and welfare parameters for the
        # slot, covered by its order's signature (attributesHash); the DSO's entry carries the grid charges
        grid = mechanism is not None and bool({f.name for f in mechanism.participant_fields} & GRID_ATTRIBUTES)
        records: list[ParticipantAttributes] = []
        signed: list[SignedOrder] = []
        chain_id, contract = self.ctx.domain.chain_id, self.ctx.domain.verifying_contract
        in_thread = WorkerPool(workers=1)  # each chunk signed by the thread that runs it
        # the rows are built (Python) while threads sign the chunks built before (libsecp256k1 releases the GIL)
        with ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="sign-orders") as signing:
            chunks = []
            for start in range(0, len(orders), SIGN_CHUNK):
                rows: list[SignRow] = []
                for order in orders[start:start + SIGN_CHUNK]:
                    account = accounts[order.member]
                    assert account.private_key_hex is not None and order.seq is not None
                    attributes_hash = ZERO32
                    if grid:
                        record = self._attributes(account, order.entry, number)
                        records.append(record)
                        attributes_hash = record.struct_hash()
                    side = 0 if order.side == "sellers" else 1
                    for j, (wh, micro) in enumerate(quantised_entry(order.entry)):
                        rows.append((account.private_key_hex, account.address, number, side, wh, micro,
                                     (order.seq << 8) | j, chain_id, contract, attributes_hash))
                chunks.append(signing.submit(sign_rows, rows, pool=in_thread))
            for chunk in chunks:
                signed.extend(chunk.result())
        attributes = tuple(SignedAttributes(r) for r in records)
        dso = self.accounts.dso_address(community) if grid else None
        batch = SlotBatch(self.ctx.domain, number, tuple(signed), mechanism=c.mechanism,
                          params=mechanism_params(c.params), attributes=attributes, dso=dso)
        return batch, {order.member: accounts[order.member].address for order in orders}

    def _own_clearing(self, community: str, slot_start: str, batch: SlotBatch, address_of: Mapping[str, str]
                      ) -> tuple[Orders, Orders, ClearingResult]:
        """The auctioneer's one clearing of the batch it commits: the operator's clearing of the slot when it kept
        it and the batch's orders are exactly the ones it cleared
        (:func:`~transactive.market.ledger.operator_clearing.batch_clearing`), else the batch cleared here
        (:func:`~transactive.ledger.clearance.protocol.clear_batch`, no signature checks: it signed them)."""
        kept = self.ctx.operator_clearings.get(community, slot_start)
        reused = None if kept is None else batch_clearing(batch, kept, address_of)
        return reused if reused is not None else clear_batch(batch, verify=False)

    def _recompute_all(self, batch: SlotBatch, rewards: RewardShares | None,
                       precleared: tuple[Orders, Orders, ClearingResult] | None,
                       own_entries: Sequence[ResultEntry] | None = None
                       ) -> tuple[tuple[ResultEntry, ...], list[bytes]]:
        """Every validator's recomputation of a committed batch: ``(the auctioneer's entries, every validator's
        root)``. The auctioneer's entries and root come from its one clearing of the batch (``precleared``: the
        operator's, :meth:`_own_clearing`). The other validators recompute the batch from scratch: those in this
        process share one recomputation (``ctx.shared``, :mod:`transactive.market.ledger.sharing`: every
        signature verified once, the batch cleared once) and endorse its root; without sharing each verifies
        every signature and recomputes itself, one after the other here (their signature checks in the desk's
        pool while they clear); with ``parallel_validators`` and a large slot they recompute at the same time in
        those worker processes (separate processes: never shared). An auctioneer's clearing that is not the
        batch's is thereby outvoted (its root differs from theirs). ``own_entries``: the auctioneer's
        :func:`~transactive.ledger.clearance.protocol.batch_entries` of ``precleared`` (converted once, before it
        committed the batch): its entries are then these with the slot's rewards
        (:func:`~transactive.ledger.clearance.protocol.with_rewards`), the very integers of ``recompute``."""
        n = len(self.ctx.validators)
        mine = auctioneer_index(batch.slot, n)
        pending = None
        if self.ctx.parallel_validators is not None and n > 1 and self.ctx.parallel_validators.worth_it(batch):
            pending = self.ctx.parallel_validators.submit(batch, rewards, n - 1)
        elif self.ctx.shared is not None:
            theirs = self._shared_recompute(batch, rewards)
            root = result_tree(batch.slot, theirs).root
            if precleared is None:
                return theirs, [root] * n
            own = (with_rewards(batch, own_entries, rewards) if own_entries is not None
                   else recompute(batch, verify=False, rewards=rewards, cleared=precleared))
            own_root = root if own == theirs else result_tree(batch.slot, own).root
            return own, [own_root if i == mine else root for i in range(n)]
        if own_entries is not None and precleared is not None:  # its signatures still checked, as by recompute
            clear_batch(batch, pool=self.ctx.pool, cleared=precleared)
            results = with_rewards(batch, own_entries, rewards)
        else:
            results = recompute(batch, pool=self.ctx.pool, rewards=rewards, cleared=precleared)
        root = result_tree(batch.slot, results).root
        if pending is not None:
            others = iter(pending())
        else:
            others = iter([result_tree(batch.slot, recompute(batch, pool=self.ctx.pool, rewards=rewards)).root
                           for _ in range(n - 1)])
        return results, [root if i == mine else next(others) for i in range(n)]

    def _shared_recompute(self, batch: SlotBatch, rewards: RewardShares | None) -> tuple[ResultEntry, ...]:
        """The in-process validators' one recomputation of ``batch`` from scratch (every signature verified, the
        batch cleared), by exact input."""
        assert self.ctx.shared is not None
        return self.ctx.shared.get(clearing_key(batch, rewards), lambda: recompute(
            batch, pool=self.ctx.pool, rewards=rewards))

    @staticmethod
    def _attributes(account: ChainAccount, entry: Mapping[str, Any], number: int) -> ParticipantAttributes:
        values = {k: float(entry[k]) for k in ("a", "b", "c", "omega", "alpha") if k in entry}
        return ParticipantAttributes.from_values(account.address, slot=number, bus=str(entry["bus"]),
                                                 distance_pref_m=float(entry["distance_pref_m"]), **values)

    def _registry_problems(self, batch: SlotBatch) -> list[str]:
        """What the Registry contradicts in a grid-aware batch (signed buses, the DSO's role), checked before
        the slot is opened; the members' Registry buses are cached (this desk is the only one to set them)."""
        if not batch.attributes and batch.dso is None:
            return []
        with self.ctx.timed("check buses in the Registry"):
            return check_members(self.ctx.chain, self.ctx.slots, batch, bus_cache=self.ctx.bus_cache)

    def _unbatchable(self, community: str, slot_start: str, number: int, exc: Exception,
                     state: str = "unsupported") -> LedgerSlot:
        """Record a cleared slot whose orders cannot become a signed batch (``unsupported``) or whose batch the
        Registry contradicts (``refused``) with the reason: neither anchored nor settled on chain; not retried."""
        reason = exc.message if isinstance(exc, MarketError) else str(exc)
        note = (f"the Registry refuses the batch: {reason}" if state == "refused"
                else f"the orders cannot be signed as a batch: {type(exc).__name__}: {reason}")
        doc = AnchorDocument().with_note(note)
        self.ctx.store.put_ledger_slot(LedgerSlot(community, slot_start, CLEARING, number, state, doc.to_json(),
                                                  now_stamp()), None)
        rec = self.ctx.store.get_ledger_slot(community, slot_start, CLEARING)
        assert rec is not None
        return rec

    def anchor(self, community: str, slot_start: str) -> LedgerSlot:
        """Anchor a cleared slot (idempotent; resumes a half-done one). A large slot's signed batch, its JSON and
        the recomputations build many small objects: with the cyclic garbage collector paused
        (:func:`transactive._bulk.gc_paused`)."""
        with self.ctx.lock, gc_paused():
            rec = self.ctx.store.get_ledger_slot(community, slot_start, CLEARING)
            number = chain_slot_number(community, slot_start, CLEARING)
            self.ctx.reset_timings()
            batch: SlotBatch | None = None
            precleared: tuple[Orders, Orders, ClearingResult] | None = None
            own_entries: list[ResultEntry] | None = None  # precleared's entries before the slot's rewards
            if rec is None:
                slot = self.ctx.store.get_slot(community, slot_start)
                if slot is None or slot.state is not SlotState.CLEARED:
                    raise MarketError("slot_start", "the slot is not cleared", "conflict")
                with self.ctx.timed("sign orders"):
                    try:
                        batch, address_of = self._signed_batch(community, slot_start)
                    except (OrderError, ValueError, KeyError) as exc:  # e.g. a trader without a bus
                        return self._unbatchable(community, slot_start, number, exc)
                problems = self._registry_problems(batch)
                if problems:  # a signed bus the Registry does not confirm: never opened on chain
                    return self._unbatchable(community, slot_start, number, ClearanceError(problems[0]), "refused")
                with self.ctx.timed("order root + store batch"):
                    batched = AnchorDocument(batch=batch.to_json(), order_root=hex0x(batch.order_root))
                    initial = "batched"
                    try:  # the auctioneer's one clearing (the operator's), checked before it commits the batch
                        precleared = self._own_clearing(community, slot_start, batch, address_of)
                        own_entries = batch_entries(batch, verify=False, cleared=precleared)
                        with_rewards(batch, own_entries, None)  # = recompute(batch, verify=False, cleared=...)
                    except ClearanceError as exc:
                        initial, batched = "unsupported", batched.with_note(str(exc))
                    fresh = LedgerSlot(community, slot_start, CLEARING, number, initial, batched.to_json(), now_stamp())
                    # stored as built (no read back of the whole batch), unless another process stored one first
                    inserted = fresh if self.ctx.store.put_ledger_slot(fresh, None) else None
                rec = inserted or self.ctx.store.get_ledger_slot(community, slot_start, CLEARING)
                assert rec is not None
            if rec.state != "batched":
                return rec
            doc = AnchorDocument.from_json(rec.document)
            if batch is None:
                assert doc.batch is not None
                batch = SlotBatch.from_json(doc.batch)
            # the transactions' hashes are stored with the round's next save (the root and signatures before the
            # submission, then the anchored record), not each in a save of its own: the document holds the whole
            # batch, rewritten at every save; meanwhile the mined intents hold them (docs/ledger.md)
            with self.ctx.timed("open + commit order root"):
                rec, doc, state = self.open_and_commit(rec, doc, number, mode=MODE_CLAIMS, order_root=batch.order_root,
                                                       count=len(batch.orders), store=False)
            results: tuple[ResultEntry, ...] = ()
            own_root: bytes | None = None  # the root of ``results``
            rewards = slot_rewards(self.ctx.chain, self.ctx.slots, number)  # as every validator and the audit do
            submitted = False  # the root on chain is the one this call submitted (no need to read it back)
            if state == RESERVE_NOT_MET:
                with self.ctx.timed(f"{len(self.ctx.validators)} validators recompute + endorse"):
                    # the other validators recompute the batch from scratch (every signature verified); the
                    # auctioneer endorses the entries of its one clearing (the operator's, _own_clearing)
                    results, roots = self._recompute_all(batch, rewards, precleared, own_entries)
                    own_root = roots[auctioneer_index(number, len(roots))]  # the auctioneer's: its results' root
                with self.ctx.timed("submit result (k signatures)"):
                    rec, doc = self.endorse_and_submit(rec, doc, number, order_root=batch.order_root,
                                                       results=results, roots=roots, own_root=own_root, store=False)
                state, submitted = CLEARED, True
            if state != CLEARED:
                raise MarketError("slot_start", f"on-chain slot {number} is in state {state}", "conflict")
            if not results:
                results = (recompute(batch, pool=self.ctx.pool, rewards=rewards) if self.ctx.shared is None
                           else self._shared_recompute(batch, rewards))
            chain_root = self.ctx.result_root(number, doc.result_root if submitted else None)
            if (own_root if own_root is not None else result_tree(number, results).root) != chain_root:
                return self.ctx.save(rec, "failed", doc.with_note(
                    "the root on chain differs from the recomputation (the validators outvoted the auctioneer's "
                    "clearing)" if submitted else "the root on chain differs from the recomputation"))
            if self.ctx.archive is not None:
                self.ctx.archive.save(batch.endorsed(results, doc.endorsement_bytes()))
            stored = tuple(StoredResult(r.account, r.energy_wh, r.amount_micro) for r in results)
            return self.ctx.save(rec, "anchored", replace(doc, results=stored, result_root=hex0x(chain_root),
                                                          anchored_at=now_stamp()))
