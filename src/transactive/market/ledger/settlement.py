"""Settling an anchored slot on chain (step 2 of :mod:`transactive.market.ledger.desk`): the settlement input
(the whole seed-001 sequence, :mod:`transactive.settlement.sequence`, its auction stage the anchored clearing's
endorsed entries with the meters settling the deviations; or a format-1/2 record of an older service),
committed as a second on-chain slot, the validators' recomputed postings (DSO and fund accounts included)
endorsed, and the tokens moved in one ``settle_batch`` or by Merkle claims; the multi-settlement
desk's document of the same settlement stored.

:class:`LedgerSettlement` is the third part of :class:`transactive.market.ledger.desk.LedgerDesk`: it works on the
desk's :class:`~transactive.market.ledger.context.LedgerContext`, enrols through its
:class:`~transactive.market.ledger.accounts.LedgerAccounts` and runs the on-chain round through the public steps of
its :class:`~transactive.market.ledger.anchoring.LedgerAnchoring`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from transactive._bulk import gc_paused
from transactive.crypto.encoding import hex0x
from transactive.crypto.merkle import MerkleTree
from transactive.errors import MarketError
from transactive.ledger.audit.archive import SETTLEMENT_KIND, SettlementRecord
from transactive.ledger.clearance.protocol import auctioneer_index, settlement_rows
from transactive.ledger.clearance.registry_checks import RegistryReader, input_registry_problem, validator_postings
from transactive.ledger.messages.commitments import SPECIAL_ROWS, ResultEntry, result_tree
from transactive.market.ledger.accounts import LedgerAccounts
from transactive.market.ledger.anchoring import LedgerAnchoring
from transactive.market.ledger.batch import chain_slot_number, claims_to_make
from transactive.market.ledger.config import (
    CLEARED,
    CLEARING,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    SETTLED,
    SETTLEMENT,
)
from transactive.market.ledger.context import LedgerContext
from transactive.market.ledger.documents import AnchorDocument, SettlementDocument, now_stamp, result_rows
from transactive.market.ledger.sequence import (
    auction_document,
    auction_input,
    sequence_input,
    sequence_lines,
    slot_parties,
    stored_multi_document,
)
from transactive.market.ledger.sharing import settlement_key
from transactive.market.slots import Phase, phase_bounds
from transactive.result import ResultSummary
from transactive.settlement.input import SettlementInput, input_digest
from transactive.settlement.sequence import SequenceSettlement, settle_sequence
from transactive.settlement.slot_settlement import AccountPosting, SettlementTerms, settle_input, statement_lines
from transactive.settlement.wholesale import settlement_field
from transactive.store import Community, LedgerSlot, MultiSettlementRecord, SlotState


def _same_write(a: LedgerSlot, b: LedgerSlot) -> bool:
    """Whether two copies of a ledger record are of the same write (its JSON then the same)."""
    return (a.community, a.slot_start, a.kind, a.chain_slot, a.state, a.updated_at) == \
        (b.community, b.slot_start, b.kind, b.chain_slot, b.state, b.updated_at)


class LedgerSettlement:
    """Settlement of a :class:`~transactive.market.ledger.desk.LedgerDesk`: the settlement record of an ended slot,
    its on-chain round and token transfers, the archive's settlement record, and the desk's own settlement of
    an input (cached per input)."""

    def __init__(self, ctx: LedgerContext, accounts: LedgerAccounts, anchoring: LedgerAnchoring) -> None:
        self.ctx = ctx
        self.accounts = accounts
        self.anchoring = anchoring
        self._sequence_cache: dict[bytes, SequenceSettlement] = {}
        self._typed: tuple[LedgerSlot, SettlementDocument] | None = None  # the last record built, typed

    # ------------------------------------------------------------------------------ 2. settlement
    def settlement_deadline(self, slot_start: str, slot_minutes: int) -> datetime:
        """When the settlement of a slot proceeds without its missing readings: the start of the settlement
        phase of the next slot (13 min after the next slot starts, for 15-minute slots)."""
        following = datetime.fromisoformat(slot_start) + timedelta(minutes=slot_minutes)
        return phase_bounds(following, slot_minutes)[Phase.SETTLEMENT][0]

    def prepare_settlement(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """Build the settlement record of an ended slot (``MarketError`` conflict while its clearing is not
        anchored, while readings are missing before the deadline, or before the slot ended): the whole seed-001
        sequence, ``transactive.settlement-input/3`` (:meth:`_prepare_sequence`; a slot without contracts or
        listings has empty first stages). An existing record (also a format-1 or -2 one of an older service) is
        answered as it is."""
        c = self.ctx.store.get_community(community)
        assert c is not None
        existing = self.ctx.store.get_ledger_slot(community, slot_start, SETTLEMENT)
        if existing is not None:
            return existing
        # its state, roots and endorsed entries are needed, not its signed batch (the audit archive has it)
        clearing = self.ctx.store.get_ledger_slot(community, slot_start, CLEARING, without="batch")
        with gc_paused():  # a row or more per member (readings, input, settlement): nothing cyclic to collect
            return self._prepare_sequence(c, slot_start, now, clearing)

    def _check_due(self, c: Community, slot_start: str, now: datetime, missing: Sequence[str]) -> None:
        end = datetime.fromisoformat(slot_start) + timedelta(minutes=c.slot_minutes)
        if now < end:
            raise MarketError("slot_start", "the slot has not ended yet", "conflict")
        if missing and now < self.settlement_deadline(slot_start, c.slot_minutes):
            raise MarketError("slot_start", f"waiting for the meter readings of {', '.join(sorted(missing)[:10])}",
                              "conflict")

    def _store_settlement(self, community: str, slot_start: str, number: int, doc: SettlementInput,
                          accounts: int) -> LedgerSlot:
        mode = MODE_BATCH if accounts <= self.ctx.config.batch_max_rows else MODE_CLAIMS
        stored_doc = SettlementDocument(input=doc, mode=mode, order_root=hex0x(input_digest(doc)))
        fresh = LedgerSlot(community, slot_start, SETTLEMENT, number, "batched", stored_doc.to_json(), now_stamp())
        if self.ctx.store.put_ledger_slot(fresh, None):  # stored as built: its typed document kept for the round
            self._typed = (fresh, stored_doc)
            return fresh
        stored = self.ctx.store.get_ledger_slot(community, slot_start, SETTLEMENT)  # another process's, first
        assert stored is not None
        return stored

    def _document(self, rec: LedgerSlot) -> SettlementDocument:
        """The typed document of a settlement record: the one this desk just built for it (the same JSON object,
        or the record as stored then, read back: the same key, state and ``updated_at``, which every write of the
        record sets anew), else read from its JSON (the input: 100,000 rows at 10^5)."""
        if self._typed is not None:
            built, typed = self._typed
            if built.document is rec.document or _same_write(built, rec):
                return typed
        return SettlementDocument.from_json(rec.document)

    def _prepare_sequence(self, c: Community, slot_start: str, now: datetime, clearing: LedgerSlot | None
                          ) -> LedgerSlot:
        """The settlement record of a slot: the whole seed-001 sequence with the auction settled as the
        anchored clearing's endorsed entries, the meters settling the deviations
        (:mod:`transactive.settlement.sequence`). The clearing must be anchored if the slot cleared; a void
        slot (or one without orders) settles without an auction stage."""
        result: ResultSummary | None = None  # the traders, the price, matched or not: no row object each
        anchored: AnchorDocument | None = None
        entries: list[tuple[str, int, int]] = []  # the endorsed results as figures (result_rows)
        if clearing is not None:
            if clearing.state != "anchored":
                raise MarketError("slot_start", f"the slot's clearing is not anchored ({clearing.state})", "conflict")
            stored = self.ctx.store.get_result(c.name, slot_start)
            assert stored is not None
            result = ResultSummary.from_json(stored.document)
            anchored = AnchorDocument.from_json(clearing.document, results=False)
            entries = result_rows(clearing.document)
        else:
            slot = self.ctx.store.get_slot(c.name, slot_start)
            if slot is not None and slot.state is not SlotState.VOID:
                raise MarketError("slot_start", f"the slot's clearing is not anchored ({slot.state.value})",
                                  "conflict")
        # the members whose readings it waits for (an ordering member settles only when its reading is in)
        found = slot_parties(self.ctx.store, c.name, slot_start, result)
        self._check_due(c, slot_start, now, ())
        due = now >= self.settlement_deadline(slot_start, c.slot_minutes)
        confirmed: set[str] = set()  # awaited members whose readings are in (a reading is never taken back)
        if not due:  # a read (nothing closed): waiting for readings closes neither the readings nor the bidding
            self._check_due(c, slot_start, now, list(self.ctx.store.missing_meter_readings(c.name, slot_start,
                                                                                            found.awaited)))
            confirmed.update(found.awaited)
        self.ctx.store.close_listings(c.name, slot_start)  # bidding closes: from now on no order is decided
        found = replace(found, listings=tuple(self.ctx.store.list_listings(c.name, slot_start)),
                        orders=tuple(self.ctx.store.listing_orders(c.name, slot_start)))  # final now
        # 1. everything that can fail, while the slot's readings are open: every possible party's account (an
        # ordering member becomes one when its reading comes in before the close), the DSO's, the endorsed rows
        # against the accounts, the wholesale field
        number = chain_slot_number(c.name, slot_start, SETTLEMENT)
        known = self._accounts(c.name, {*found.awaited, *found.ordered})
        dso_address = self.accounts.dso_address(c.name)
        terms = SettlementTerms(self.ctx.config.penalty_per_kwh, self.ctx.config.grid_charge_per_kwh)
        member_of = {address.lower(): member for member, address in known.items()}
        auction = auction_input(result, entries, member_of=member_of, dso_address=dso_address, terms=terms)
        auctioneer = self.ctx.validators[auctioneer_index(number, len(self.ctx.validators))].address
        settlement_field(c.params, slot_start, auctioneer)
        # 2. the slot's readings closed, then read once for the whole input: a reading (or a dispute's decision)
        # after the close is refused, so none is accepted and left unsettled
        closed = False
        while not closed:  # (not closed, nothing missing: the awaited readings came in meanwhile, close again)
            closed, stored_readings = self.ctx.store.close_meter_readings(
                c.name, slot_start, unless_missing=() if due else [m for m in found.awaited if m not in confirmed])
            if not closed:
                readings = {r.member for r in stored_readings}
                self._check_due(c, slot_start, now, [m for m in found.awaited if m not in readings])
        # 3. the input: reads and pure functions of what was resolved above
        doc = sequence_input(
            self.ctx.store, c, slot_start, chain_slot=number,
            clearing_slot=None if clearing is None else clearing.chain_slot,
            clearing_root=None if anchored is None else anchored.result_root, result=result, terms=terms,
            account_of=known.__getitem__, dso_address=dso_address, auctioneer=auctioneer,
            stored_readings=stored_readings, found=found, auction=auction)
        return self._store_settlement(c.name, slot_start, number, doc, len(self._sequence(doc).postings))

    def _accounts(self, community: str, members: Collection[str]) -> dict[str, str]:
        """Chain address by member id of the community's accounts, ``members`` enrolled first where they have none
        (one batch); ``MarketError`` conflict for a member that cannot have one (no such member, or a role
        without a custodial account)."""
        known = self.ctx.store.chain_account_addresses(community)
        missing = sorted(set(members) - set(known))
        if missing:
            records = {m.id: m for m in self.ctx.store.list_members(community) if m.id in set(missing)}
            enrolled = self.accounts.enrol_many([records[m] for m in missing if m in records])
            known.update({m: a.address for m, a in enrolled.items()})
            unknown = [m for m in missing if m not in known]
            if unknown:
                raise MarketError("slot_start", f"cannot settle: no chain account for {', '.join(unknown[:10])}",
                                  "conflict")
        return known

    def _sequence(self, doc: SettlementInput) -> SequenceSettlement:
        """The desk's own (the auctioneer's) settlement of a format-3 (or -2) input, computed once per input and reused
        for its postings, its statement lines and the record (the validators still recompute it each)."""
        digest = input_digest(doc)
        cache = self._sequence_cache
        if digest not in cache:
            cache.clear()
            cache[digest] = settle_sequence(doc, self.ctx.domain)
        return cache[digest]

    def settlement_postings(self, doc: SettlementInput | Mapping[str, Any], reader: RegistryReader | None = None
                            ) -> list[AccountPosting]:
        """Every validator's recomputation of a settlement input (formats 3 and 2: the whole sequence; format 1, of
        records an older service prepared: the auction against the meters; the audit's too), after its check of
        the input's meters and correction approvers against the Registry at the head
        (:func:`~transactive.ledger.clearance.registry_checks.validator_postings`; ``reader``: one shared by the
        round's in-process validators). A :class:`~transactive.settlement.metering.SettlementError` when it does
        not endorse."""
        return validator_postings(reader or self._registry_reader(), doc, self.ctx.domain)

    def _registry_reader(self) -> RegistryReader:
        """The Registry read (memoised) at the current head block."""
        return RegistryReader(self.ctx.chain, self.ctx.registry, self.ctx.chain.block_number())

    def _registry_refusal(self, rec: LedgerSlot, stored: SettlementDocument) -> LedgerSlot | None:
        """The auctioneer's check before it commits (or resumes) a settlement: an input whose meters or approvers
        the Registry contradicts at the head is never endorsed, so the record goes to the visible state
        ``blocked`` with the reason (an admin resolves it, e.g. registering the meter, then ``POST
        .../slots/{slot}/settle`` resumes it); None when the Registry agrees."""
        problem = input_registry_problem(self._registry_reader(), stored.input)
        if problem is None:
            return None
        what, expected, found = problem
        note = (f"blocked: the Registry refuses the settlement input: {what}: expected {expected}, found {found}; "
                f"an admin resolves it: POST /admin/communities/{rec.community}/slots/{rec.slot_start}/settle")
        return self.ctx.save(rec, "blocked", stored.with_note(note))

    def _archive_settlement(self, rec: LedgerSlot, doc: SettlementDocument, order_root: bytes,
                            entries: Sequence[ResultEntry], submitted: bool) -> None:
        """Archive a SETTLED settlement slot (``DATA_DIR/settlements/<slot>.json``, atomically) for
        ``transactive ledger verify``: its input, postings, roots and the endorsements stored before submission.
        Written before the record is marked settled, so a stop in between rewrites it whole on resumption."""
        if self.ctx.archive is None:
            return
        root = self.ctx.result_root(rec.chain_slot, doc.result_root if submitted else None)
        self.ctx.archive.save_settlement(SettlementRecord(rec.chain_slot, SETTLEMENT_KIND, doc.input, order_root, root,
                                                          tuple(entries), doc.endorsement_bytes()))

    def settle(self, community: str, slot_start: str, now: datetime, *, claims_sample: int | None = None
               ) -> LedgerSlot:
        """Settle an anchored slot against its meter readings, on chain, exactly once (resumes a half-done
        settlement). A settled slot is a ``MarketError`` conflict. ``claims_sample`` (benchmarks only): in
        claims mode escrow and claim only that many debits and as many credits as they pay for. Run with the cyclic
        garbage collector paused (:func:`transactive._bulk.gc_paused`: the input, postings, entries, statement
        lines and documents are several objects per member, none cyclic)."""
        with self.ctx.lock, gc_paused():
            self.ctx.reset_timings()
            with self.ctx.timed("settlement: input from readings + postings"):
                rec = self.prepare_settlement(community, slot_start, now)
            if rec.state == "settled":
                settled_at = SettlementDocument.from_json(rec.document).settled_at
                raise MarketError("slot_start", f"the slot is settled already ({settled_at})", "conflict")
            return self._run_settlement(rec, claims_sample)

    def _run_settlement(self, rec: LedgerSlot, claims_sample: int | None) -> LedgerSlot:
        stored = self._document(rec)
        doc, mode = stored.input, stored.mode
        number = rec.chain_slot
        if (doc.meters or doc.corrections) and int(self.ctx.slot_record(number)[0]) < CLEARED and \
                (refused := self._registry_refusal(rec, stored)) is not None:
            return refused  # not endorsed yet: the auctioneer does not commit (or resume) what would be refused
        order_root = input_digest(doc)
        postings = list(self._sequence(doc).postings) if doc.is_sequence else self.settlement_postings(doc)
        entries = [ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in postings]
        debits, credits = claims_to_make(entries, claims_sample)
        own_tree: MerkleTree | None = None  # the tree of ``entries``: built once for their root and the claims

        def tree() -> MerkleTree:
            nonlocal own_tree
            if own_tree is None:
                own_tree = result_tree(number, entries)
            return own_tree

        def escrow_debits() -> None:  # a claims-mode settlement: every debtor escrows its debit before the commit
            for e in debits:
                if e.account in SPECIAL_ROWS:  # the fund pays its deficit from its account when claimed
                    continue
                held = int(self.ctx.chain.call(self.ctx.slots, "escrow", number, e.account))
                if held < -e.amount_micro:
                    self.accounts.fund_gas(e.account)
                    self.ctx.chain.transact(self.ctx.slots, "deposit_escrow", number, -e.amount_micro - held,
                                        sender=e.account)

        with self.ctx.timed("settlement: open + escrow + commit"):
            escrow = escrow_debits if mode == MODE_CLAIMS else None  # batch mode: open and commit in one transaction
            rec, stored, state = self.anchoring.open_and_commit(rec, stored, number, mode=mode, order_root=order_root,
                                                                count=len(entries), before_commit=escrow)
        submitted = False  # the root on chain is the one this call submitted (the archive need not read it)
        if state == RESERVE_NOT_MET:
            with self.ctx.timed(f"settlement: {len(self.ctx.validators)} validators recompute + endorse + submit"):
                roots = []
                reader = self._registry_reader()  # the validators' Registry reads at this block (one node)
                shared = self.ctx.shared
                key = settlement_key(number, order_root, self.ctx.domain, self.ctx.registry.address, reader.block)

                def recomputed_root() -> bytes:  # one validator's recomputation of the published input
                    nonlocal own_tree
                    theirs = [ResultEntry(p.address, p.energy_wh, p.amount_micro)
                              for p in self.settlement_postings(doc, reader)]
                    built = result_tree(number, theirs)
                    if own_tree is None and theirs == entries:  # the same entries: the same tree (a pure function)
                        own_tree = built
                    return built.root

                for _ in self.ctx.validators:  # each validator recomputes the postings from the published input,
                    # or the validators in this process share one recomputation (and root) of this exact input
                    roots.append(recomputed_root() if shared is None else shared.get(key, recomputed_root))
                # batch mode: the miner submits and settles in one transaction (unless a dispute window is set)
                rows = settlement_rows(number, entries) if mode == MODE_BATCH else None
                rec, stored = self.anchoring.endorse_and_submit(rec, stored, number, order_root=order_root,
                                                                results=entries, roots=roots, rows=rows,
                                                                own_root=tree().root)
            state, submitted = (SETTLED if "submit_and_settle" in stored.txs else CLEARED), True
        if state == CLEARED and mode == MODE_BATCH:
            with self.ctx.timed("settlement: settle_batch (token transfers)"):
                receipt = self.ctx.chain.transact(self.ctx.slots, "settle_batch", number,
                                                  settlement_rows(number, entries))
                rec, stored = self.anchoring.record_tx(rec, stored, "settle_batch", receipt)
            state = SETTLED
        elif state == CLEARED:
            with self.ctx.timed("settlement: Merkle claims (token transfers)"):
                position = {e.account: k for k, e in enumerate(entries)}  # one entry per account
                claimed = 0
                for e in (*debits, *credits):
                    if not self.ctx.chain.call(self.ctx.slots, "claimed", number, e.account):
                        self.ctx.chain.transact(self.ctx.slots, "claim", number, e.account, e.energy_wh, e.amount_micro,
                                                tree().proof(position[e.account]))
                    claimed += 1
                stored = replace(stored, claims=claimed)
                rec = self.ctx.save(rec, rec.state, stored)
            state = SETTLED
        if state != SETTLED:
            raise MarketError("slot_start", f"on-chain slot {number} is in state {state}", "conflict")
        members = {address: member for member, address in self.ctx.store.chain_account_addresses(rec.community).items()}
        final = "settled" if claims_sample is None else "sampled"  # a benchmark's partial claims
        members.update({a: "fund" for a in SPECIAL_ROWS})
        posted = [{"account": p.address, "member": members.get(p.address, "dso"), "energy_wh": p.energy_wh,
                   "amount_micro": p.amount_micro} for p in postings]
        dso_amount = next(p.amount_micro for p in postings if p.address == doc.dso)
        c = self.ctx.store.get_community(rec.community)
        assert c is not None
        stored = self.ctx.with_sent_txs(rec, stored)  # a step sent by a process killed before storing its hash
        txs = {"chain_slot": str(number), "txs": dict(stored.txs)}
        if doc.is_sequence:
            seq = self._sequence(doc)
            lines = sequence_lines(seq)
            dso = {"account": doc.dso, **seq.dso_breakdown}
            multi = stored_multi_document(c, rec.slot_start, doc, seq, c.mechanism)
        else:  # a format-1 record of an older service: the auction against the meters only
            settlement, _ = settle_input(doc)
            lines = statement_lines(settlement)
            dso = {"account": doc.dso, "tariffs_micro": settlement.dso_tariffs_micro,
                   "penalties_micro": settlement.dso_penalties_micro,
                   "imbalance_micro": settlement.dso_imbalance_micro, "amount_micro": dso_amount}
            multi = auction_document(c, rec.slot_start, doc, settlement, dso_amount_micro=dso_amount,
                                     mechanism=c.mechanism)
        if final == "settled":
            self._archive_settlement(rec, stored, order_root, entries, submitted)
        if final == "settled":  # the multi-settlement desk's document of the same (one) settlement, stored
            # first: a stop between the two writes resumes here (the chain says SETTLED) and stores it once
            self.ctx.store.finish_multi_settlement(
                MultiSettlementRecord(c.name, rec.slot_start, {**multi, "ledger": txs}, now_stamp()), now_stamp())
        return self.ctx.save(rec, final, replace(stored.with_note(None), settled_at=now_stamp(), lines=tuple(lines),
                                                 postings=tuple(posted), dso=dso))

    def settle_once(self, community: str, slot_start: str, now: datetime) -> LedgerSlot:
        """Settle now unless the slot is settled already (then its record): the multi-settlement desk's manual
        endpoint, idempotent with the cycle (both run under the desk's lock)."""
        with self.ctx.lock:
            rec = self.ctx.store.get_ledger_slot(community, slot_start, SETTLEMENT)
            if rec is not None and rec.state == "settled":
                return rec
            return self.settle(community, slot_start, now)
