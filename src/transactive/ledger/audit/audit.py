"""Audit of an archived ledger (``transactive ledger verify DATA_DIR``): recompute every slot, check the chain.

The archive's layout: :mod:`transactive.ledger.audit.slot_archive` (``SlotArchive``).

Checks, slot by slot in increasing slot order, then the token; the FIRST discrepancy is reported as
``Discrepancy(slot, what, expected, found)``:

1. every order's signature, slot and nonce (``order k``), and every attributes record's signature, slot
   and uniqueness (``attributes k``);
2. the order root recomputed from the orders (format 3: and the ``market`` block, the tree's last leaf, so an
   edited mechanism, param or DSO shows on a slot without trades too) against the chain's recorded root and
   count (``orderRoot``, ``orderCount``);
3. the results recomputed with the mechanism (:func:`~transactive.ledger.clearance.protocol.recompute`, with the
   slot's reward shares: batch mode, or claims mode with its auctioneer) against the stored results,
   entry by entry (``result <account>``, ``result count``);
4. the stored result root against the chain's recorded root (``resultRoot``);
5. every stored endorsement is a valid signature of a validator over ``(slot, orderRoot, resultRoot)``, no
   validator twice, and at least the threshold of them, the Registry read as it was at the slot's
   ``cleared_block`` (``endorsement i``, ``endorsements``; also for settlement slots);
6. settlement balance: the credits never exceed the debits (no money created by a slot); for a SETTLED
   slot in batch mode exactly ``credits + floor(ME x_A) + floor(ME x_M) == D`` (seed 001 eq. 2-4, the
   slot's own shares, ME the ``ME_LEAF`` row, which is not a credit); for an endorsed claims-mode slot
   exactly ``credits == debits``, the reward leaves
   (auctioneer, ``MINER_LEAF``) and the DSO's charges among the credits (``balance``);
7. token conservation: ``totalSupply == sum of balances`` over every known account (chain accounts,
   validators, contracts, every result account, the manifest's ``accounts``) and ``totalSupply == minted -
   burned`` from the journal (``token supply``);
8. when the archive has a statement journal (``statements.json``, ``statements/batches.jsonl``: off-chain
   statements settled as token transfers, :mod:`transactive.ledger.audit.statements`), every posted batch balances
   and is settled on chain under its reference, every account's postings sum to its statement, and every
   account's balance is its starting balance plus its statement sum to the micro-token (checked before 7;
   its accounts join the accounts of 7). A journaled batch that names a market slot settles that slot's
   endorsed result: its ``auction`` postings must equal the stored result entries plus the slot's rewards
   (``floor(ME x_A)`` to its auctioneer, ``floor(ME x_M)`` to its miner), account by account, one batch per
   slot, and every archived slot that moves money must have one (``auction postings <account>``); the slot
   must be SETTLED on ``MarketSlots`` by ``mark_settled_off_contract`` with that batch's reference (so
   ``settle_batch`` cannot move its money a second time; ``auction postings (batch <label>)``);
9. every archived settlement slot, in increasing slot order after the market slots (before 7; its posting
   accounts join the accounts of 7): its postings recomputed from its archived input by the function
   of the validators (:func:`transactive.settlement.sequence.settlement_postings`), their root against the endorsed
   root on chain (naming the first differing account), the archived postings, the input's root against the
   committed order root, the postings' balance, at least the threshold of valid endorsements and the slot
   SETTLED on chain (:func:`transactive.ledger.audit.archive.check_settlement`); the recomputation checks the
   meters' signatures of the readings (:mod:`transactive.settlement.meter_readings`), and each meter the input
   names must be the meter key registered for the member's account, each correction's approvers must hold the
   admin and DSO roles, in the Registry as it was at the slot's ``cleared_block`` (``meters[<member>]``,
   ``corrections[<member>].signatures.<role>``; :mod:`transactive.ledger.clearance.registry_checks`, the
   validators' check).

10. every slot the chain opened (``MarketSlots``' ``SlotOpened`` events) that is SETTLED, or endorsed and
    CLEARED or DISPUTED, has its archive file (``archive file``; after 9, before 8).

Exit codes of the command: 0 clean, 1 a discrepancy, 2 unreadable input (missing or malformed manifest,
batch or settlement file, missing chain, a ``chain.sqlite`` that is not a chain database, a settlement
kind the audit does not know). The audit is read only: the embedded chain is opened with ``read_only=True``
(no file of ``DATA_DIR`` is created or changed, no genesis written into an empty database)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transactive.crypto.eip712 import endorsement_digest
from transactive.crypto.encoding import hex0x
from transactive.crypto.signing import SignatureError, WorkerPool, recover_address
from transactive.ledger.audit.archive import SETTLEMENT_KIND, SettlementRecord, check_settlement
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.audit.slot_archive import (
    ARCHIVE_FORMAT,
    AuditInputError,
    SlotArchive,
    open_archive_chain,
    open_rpc_chain,
)
from transactive.ledger.audit.statements import (
    JournalBatch,
    StatementJournal,
    StatementsError,
    check_auction_postings,
    check_statements,
)
from transactive.ledger.chain.base import Chain, Contract, contract_at
from transactive.ledger.chain.constants import (
    CLEARED,
    DISPUTED,
    MODE_BATCH,
    MODE_CLAIMS,
    SETTLED,
    SLOT_FIELDS,
    SLOT_OFF_CHAIN_REF,
    SLOT_RESULT_ROOT,
    SLOT_STATE,
)
from transactive.ledger.clearance.endorsement import valid_endorsements
from transactive.ledger.clearance.protocol import ClearanceError, domain_of, recompute
from transactive.ledger.clearance.registry_checks import audit_input_registry
from transactive.ledger.messages.attributes import verify_batch
from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, RewardShares, exchange_of, result_tree

EXIT_CLEAN, EXIT_DISCREPANCY, EXIT_UNREADABLE = 0, 1, 2

__all__ = ["ARCHIVE_FORMAT", "AuditInputError", "Discrepancy", "SlotArchive", "recorded_root", "verify_archive",
           "verify_settlement", "verify_slot"]


@dataclass(frozen=True)
class Discrepancy:
    """The first thing that does not check out."""

    slot: int | None
    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        where = "token" if self.slot is None else f"slot {self.slot}"
        return f"{where}: {self.what}: expected {self.expected}, found {self.found}"


def _entry(e: Any) -> str:
    return f"(energyWh {e.energy_wh}, amountMicro {e.amount_micro})"


def _check_slot(
    chain: Chain, slots: Contract, batch: SlotBatch, *, validators: Sequence[str], threshold: int,
    pool: WorkerPool | None = None, record: Sequence[Any] | None = None,
) -> Discrepancy | None:
    """Checks 1-6 for one market slot; ``record``: its ``MarketSlots.slots`` record when already read."""
    s = batch.slot
    checked = verify_batch(batch.orders, batch.attributes, batch.domain, slot=s, pool=pool)
    if checked.orders.rejected:
        k, err = checked.orders.rejected[0]
        return Discrepancy(s, f"order {k}", "a valid signed order of this slot", f"{err}")
    if checked.attributes:
        k, err = checked.attributes[0]
        return Discrepancy(s, f"attributes {k}", "a valid attributes record of this slot, signed by its trader",
                           f"{err}")
    record = chain.call(slots, "slots", s) if record is None else record
    state, mode, auctioneer, _, order_root, order_count, result_root, rate_a, rate_m = record[:9]
    shares = None
    if mode == MODE_BATCH:
        shares = RewardShares(int(rate_a), int(rate_m))
    elif mode == MODE_CLAIMS:
        shares = RewardShares(int(rate_a), int(rate_m), auctioneer=str(auctioneer))
    if batch.order_root != order_root:
        return Discrepancy(s, "orderRoot", f"{hex0x(order_root)} (on chain)",
                           f"{hex0x(batch.order_root)} (recomputed from the stored orders"
                           f"{' and market block' if batch.commits_market else ''})")
    if len(batch.orders) != order_count:
        return Discrepancy(s, "orderCount", f"{order_count} (on chain)", f"{len(batch.orders)} stored orders")
    try:
        recomputed = recompute(batch, verify=False, rewards=shares)
    except ClearanceError as exc:
        return Discrepancy(s, "recomputation", "a clearing of the stored orders", str(exc))
    stored = {e.account: e for e in batch.results}
    for e in recomputed:
        got = stored.get(e.account)
        if got != e:
            return Discrepancy(s, f"result {e.account}", f"{_entry(e)} (recomputed)",
                               "no entry" if got is None else f"{_entry(got)} (stored)")
    if len(batch.results) != len(recomputed):
        extra = next(e for e in batch.results if e.account not in {r.account for r in recomputed})
        return Discrepancy(s, "result count", f"{len(recomputed)} entries (recomputed)",
                           f"{len(batch.results)} stored, e.g. {extra.account}")
    stored_root = result_tree(s, batch.results).root
    if stored_root != result_root:
        return Discrepancy(s, "resultRoot", f"{hex0x(result_root)} (on chain)", f"{hex0x(stored_root)} (stored)")
    seen: set[str] = set()
    for i, sig in enumerate(batch.endorsements):
        ok = valid_endorsements(batch.domain, s, batch.order_root, stored_root, signatures=[sig],
                                validators=validators)
        if not ok:
            try:
                who = recover_address(endorsement_digest(batch.domain, s, batch.order_root, stored_root), sig)
                # over the right digest a validator's key would have been accepted above
                found = f"a signature recovering to {who}, not a validator (another message or another key)"
            except SignatureError as exc:
                found = f"malformed signature ({exc})"
            return Discrepancy(s, f"endorsement {i}", "a validator's signature of (slot, orderRoot, resultRoot)",
                               found)
        signer = ok[0][0].lower()
        if signer in seen:
            return Discrepancy(s, f"endorsement {i}", "a distinct validator", f"a repeat of {ok[0][0]}")
        seen.add(signer)
    if result_root != bytes(32) and len(seen) < threshold:
        return Discrepancy(s, "endorsements", f"at least {threshold} distinct validators", str(len(seen)))
    debits = -sum(e.amount_micro for e in batch.results if e.amount_micro < 0)
    credits = sum(e.amount_micro for e in batch.results if e.amount_micro > 0 and e.account != ME_LEAF)
    if credits > debits:
        return Discrepancy(s, "balance", f"credits <= debits ({debits})", f"credits {credits}")
    if mode == MODE_CLAIMS and result_root != bytes(32) and credits != debits:
        return Discrepancy(s, "balance", f"claims credits == debits ({debits}), the reward leaves included",
                           f"credits {credits}")
    if state == SETTLED and mode == MODE_BATCH and shares is not None:
        rewards = sum(shares.rewards_micro(exchange_of(batch.results)))
        if credits + rewards != debits:
            return Discrepancy(s, "balance", f"credits + rewards == debits ({debits})",
                               f"credits {credits} + rewards {rewards}")
    return None


def _validators(
    chain: Chain, registry: Contract, slots: Contract | None = None, slot: int | None = None, *,
    record: Sequence[Any] | None = None,
) -> tuple[list[str], int]:
    """The Registry's validators and threshold; with ``slots`` and ``slot``: as they were when the slot's
    result was endorsed (the state after its ``cleared_block``, what ``endorse_result`` checked), so a later
    change of the validator set or threshold neither fails old slots nor lets a short one pass. A slot not
    endorsed yet is read at the head. ``record``: the slot's ``MarketSlots.slots`` record when already read."""
    block = None
    if slots is not None and slot is not None:
        record = chain.call(slots, "slots", slot) if record is None else record
        cleared = int(record[SLOT_FIELDS.index("cleared_block")])
        block = cleared if cleared > 0 else None
    try:
        listed = chain.call(registry, "validator_list", block=block)
        return [str(v) for v in listed], int(chain.call(registry, "threshold", block=block))
    except Exception as exc:  # e.g. a node without the historical state (any engine's error type)
        raise AuditInputError(f"cannot read the Registry at block {block} ({exc})") from exc


def _registry_reads(
    chain: Chain, registry: Contract, slots: Contract, batches: Sequence[SlotBatch],
    settlements: Sequence[SettlementRecord], *, record_of: Callable[[int], Sequence[Any]],
) -> tuple[dict[int, tuple[list[str], int]], dict[int, tuple[str, str, str]]]:
    """Every read of the Registry as it was at a slot's ``cleared_block`` the audit needs, made up front in
    increasing block order: each archived slot's validators and threshold (:func:`_validators`) and each
    settlement slot's meter and approver check (:func:`audit_input_registry`; its finding, reported in the
    audit's order). An engine that rebuilds a past state by replaying its blocks (revm) then replays the
    chain once, forward, instead of once for the market slots and again for the settlement slots."""
    cleared = SLOT_FIELDS.index("cleared_block")
    inputs = {r.slot: r for r in settlements}
    numbers = sorted({b.slot for b in batches} | set(inputs),
                     key=lambda s: (int(record_of(s)[cleared]) or chain.block_number() + 1, s))
    then: dict[int, tuple[list[str], int]] = {}
    at_block: dict[int, tuple[list[str], int]] = {}
    findings: dict[int, tuple[str, str, str]] = {}
    for s in numbers:
        block = int(record_of(s)[cleared])
        if block not in at_block:
            at_block[block] = _validators(chain, registry, slots, s, record=record_of(s))
        then[s] = at_block[block]
        if s in inputs:
            finding = audit_input_registry(chain, registry, slots, s, inputs[s].input)
            if finding is not None:
                findings[s] = finding
    return then, findings


def verify_slot(chain: Chain, registry: Contract, slots: Contract, batch: SlotBatch) -> Discrepancy | None:
    """Checks 1-6 of the audit for ONE anchored market slot (``batch`` with its stored results and
    endorsements) against the chain's Registry and ``MarketSlots``: the same code as ``transactive ledger
    verify`` runs on every archived slot (the service's ``POST .../ledger/slots/{slot}/verify``). Read only."""
    validators, threshold = _validators(chain, registry, slots, batch.slot)
    return _check_slot(chain, slots, batch, validators=validators, threshold=threshold)


def verify_settlement(chain: Chain, registry: Contract, slots: Contract, rec: SettlementRecord) -> Discrepancy | None:
    """Check 9 of the audit for ONE settlement slot (:func:`~transactive.ledger.audit.archive.check_settlement`:
    postings recomputed from the input, roots, endorsements, SETTLED on chain). Read only."""
    validators, threshold = _validators(chain, registry, slots, rec.slot)
    finding = check_settlement(chain, slots, domain_of(chain, slots), rec, validators=validators,
                               threshold=threshold)
    if finding is None:
        finding = audit_input_registry(chain, registry, slots, rec.slot, rec.input)
    return None if finding is None else Discrepancy(rec.slot, *finding)


def _check_token(
    chain: Chain, token: Contract, accounts: Sequence[str], manifest: dict[str, Any]
) -> Discrepancy | None:
    supply = int(chain.call(token, "totalSupply"))
    unique = list(dict.fromkeys(a.lower() for a in accounts))
    held = sum(int(chain.call(token, "balanceOf", a)) for a in unique)
    if held != supply:
        return Discrepancy(None, "token supply", f"sum of balances {held}", f"totalSupply {supply}")
    issued = manifest["mintedMicro"] - manifest["burnedMicro"]
    if issued != supply:
        return Discrepancy(None, "token supply", f"minted - burned {issued} (journal)", f"totalSupply {supply}")
    return None


def recorded_root(data_dir: str | Path, slot: int, kind: str, *, chain_url: str | None = None) -> bytes:
    """The root ``MarketSlots`` recorded on chain for ``slot`` that a proof of ``kind`` must lead to: the
    order root for ``order`` and ``attributes`` proofs, the result root for ``result`` proofs. The chain is
    ``DATA_DIR/chain/`` (read only) or ``chain_url``, the address ``DATA_DIR/ledger.json``'s; an
    :class:`AuditInputError` if unreadable or the slot has no such root on chain."""
    archive = SlotArchive(data_dir)
    manifest = archive.manifest()
    slots = contract_at("MarketSlots", manifest["slots"])
    field = SLOT_FIELDS.index("result_root" if kind == "result" else "order_root")
    opener = open_rpc_chain(chain_url) if chain_url is not None else open_archive_chain(archive)
    with opener as chain:
        try:
            root = bytes(chain.call(slots, "slots", slot)[field])
        except Exception as exc:  # no contract there (any engine's error type)
            raise AuditInputError(f"no MarketSlots answers at {slots.address} on this chain ({exc})") from exc
    if root == bytes(32):
        raise AuditInputError(f"slot {slot} has no {SLOT_FIELDS[field]} recorded on chain")
    return root


def verify_archive(
    data_dir: str | Path, *, chain: Chain | None = None, chain_url: str | None = None,
) -> Discrepancy | None:
    """Audit ``data_dir``; returns the first discrepancy or None. ``AuditInputError`` if unreadable.

    The chain is the archive's embedded chain (``DATA_DIR/chain/``) unless ``chain`` (an open engine) or
    ``chain_url`` (any Ethereum JSON-RPC node; opened read-only, nothing is sent) is given; the contract
    addresses always come from the manifest. An archived settlement of another kind than
    ``settlement-input`` is an ``AuditInputError``.
    """
    archive = SlotArchive(data_dir)
    manifest = archive.manifest()
    numbers = archive.slots()
    batches = [archive.load(s)[0] for s in numbers]
    settlements = [archive.load_settlement(s) for s in archive.settlement_slots()]
    for rec in settlements:
        if rec.kind != SETTLEMENT_KIND:
            raise AuditInputError(f"{archive.settlement_path(rec.slot)}: unknown settlement kind {rec.kind!r} "
                                  f"(known: {SETTLEMENT_KIND})")
    journal = StatementJournal(archive.root)
    if chain is not None:
        return _audit(chain, manifest, batches, journal if journal.exists() else None,
                      settlements=settlements)
    opener = open_rpc_chain(chain_url) if chain_url is not None else open_archive_chain(archive)
    with opener as opened:
        return _audit(opened, manifest, batches, journal if journal.exists() else None,
                      settlements=settlements)


def _audit(
    chain: Chain, manifest: dict[str, Any], batches: Sequence[SlotBatch], journal: StatementJournal | None = None,
    *, settlements: Sequence[SettlementRecord] = (),
) -> Discrepancy | None:
    registry = contract_at("Registry", manifest["registry"])
    token = contract_at("EnergyToken", manifest["token"])
    slots = contract_at("MarketSlots", manifest["slots"])
    try:
        validators = [str(v) for v in chain.call(registry, "validator_list")]
    except Exception as exc:  # no contract there: empty return data, or a revert (any engine's error type)
        raise AuditInputError(f"no Registry answers at {registry.address} on this chain ({exc})") from exc
    accounts: list[str] = [*chain.accounts, *validators, registry.address, token.address, slots.address,
                           *(str(x) for x in manifest.get("accounts", []))]
    records: dict[int, Sequence[Any]] = {}  # each slot's MarketSlots record, read once by this audit

    def record_of(s: int) -> Sequence[Any]:
        if s not in records:
            records[s] = chain.call(slots, "slots", s)
        return records[s]

    registry_then, input_findings = _registry_reads(chain, registry, slots, batches, settlements, record_of=record_of)
    with WorkerPool() as pool:  # the slots' signatures recovered in chunks on every core (large slots only)
        for batch in batches:
            then, k = registry_then[batch.slot]
            found = _check_slot(chain, slots, batch, validators=then, threshold=k, pool=pool,
                                record=record_of(batch.slot))
            if found is not None:
                return found
            accounts += [e.account for e in batch.results]
    domain = domain_of(chain, slots)
    for rec in settlements:
        then, k = registry_then[rec.slot]
        finding = check_settlement(chain, slots, domain, rec, validators=then, threshold=k,
                                   record=record_of(rec.slot))
        if finding is None:
            finding = input_findings.get(rec.slot)
        if finding is not None:
            return Discrepancy(rec.slot, *finding)
        accounts += [e.account for e in rec.postings]
    found = _check_enumerated(chain, slots, {b.slot for b in batches} | {r.slot for r in settlements})
    if found is not None:
        return found
    if journal is not None:
        try:
            accounts += journal.accounts()
            found = _check_settled_slots(chain, slots, batches, journal.read()[1], record_of)
            if found is not None:
                return found
            finding = check_statements(chain, token, journal.root)
        except StatementsError as exc:
            raise AuditInputError(str(exc)) from exc
        if finding is not None:
            return Discrepancy(None, *finding)
    return _check_token(chain, token, accounts, manifest)


def _check_enumerated(chain: Chain, slots: Contract, archived: set[int]) -> Discrepancy | None:
    """Every slot the chain opened (``MarketSlots``' ``SlotOpened`` events) that is SETTLED, or endorsed and
    CLEARED or DISPUTED, has its archive file (``slots/<slot>.json`` or ``settlements/<slot>.json``): a
    deleted file, or a settled slot removed together with its journal line, is found from the chain."""
    opened = sorted({int(e["slot"]) for e in chain.logs(slots, "SlotOpened")})
    for s in opened:
        if s in archived:
            continue
        record = chain.call(slots, "slots", s)
        state, endorsed = int(record[SLOT_STATE]), bytes(record[SLOT_RESULT_ROOT]) != bytes(32)
        if state == SETTLED or (endorsed and state in (CLEARED, DISPUTED)):
            return Discrepancy(s, "archive file", f"slots/{s}.json or settlements/{s}.json (the chain shows the "
                               f"slot {'SETTLED' if state == SETTLED else 'endorsed'})", "none")
    return None


def _check_settled_slots(
    chain: Chain, slots: Contract, batches: Sequence[SlotBatch], journaled: Sequence[JournalBatch],
    record_of: Callable[[int], Sequence[Any]] | None = None,
) -> Discrepancy | None:
    """Journaled batches that settle a slot's endorsed result (``slot`` set): each names an archived slot,
    no slot twice, and its ``auction`` postings equal the stored (already verified) result entries plus the
    slot's rewards (``floor(ME x_A)`` to its auctioneer, ``floor(ME x_M)`` to its miner, batch mode). When
    any batch names a slot, every archived slot whose entries move money must be settled by one."""
    by_slot = {b.slot: b for b in batches}
    seen: set[int] = set()
    fund: list[str] = []  # MarketSlots.fund(), read once
    for line in journaled:
        if line.slot is None:
            continue
        s = line.slot
        batch = by_slot.get(s)
        if batch is None:
            return Discrepancy(s, f"auction postings (batch {line.label})", "an archived endorsed slot", "none")
        if s in seen:
            return Discrepancy(s, f"auction postings (batch {line.label})", "one settlement batch per slot",
                               "a second one")
        seen.add(s)
        record = chain.call(slots, "slots", s) if record_of is None else record_of(s)
        rewards: dict[str, int] = {}
        if int(record[1]) == MODE_BATCH:
            shares = RewardShares(int(record[7]), int(record[8]))
            reward_a, reward_m = shares.rewards_micro(exchange_of(batch.results))
            rewards[str(record[2])] = reward_a
            rewards[str(record[3])] = rewards.get(str(record[3]), 0) + reward_m
        entries: dict[str, int] = {}
        for e in batch.results:  # the fund's row moves the contract's fund account; the ME row nothing
            if e.account == ME_LEAF:
                continue
            if e.account == FUND_LEAF and not fund:
                fund.append(str(chain.call(slots, "fund")))
            account = fund[0] if e.account == FUND_LEAF else e.account
            entries[account] = entries.get(account, 0) + e.amount_micro
        finding = check_auction_postings(line, entries, rewards)
        if finding is not None:
            return Discrepancy(s, *finding)
        marked = bytes(record[SLOT_OFF_CHAIN_REF])
        state = int(record[SLOT_STATE])
        moves = any(p.amount_micro for p in line.postings)
        if moves and (state != SETTLED or marked != line.ref):  # else settle_batch could move it again
            found = ("settled by MarketSlots.settle_batch" if state == SETTLED and marked == bytes(32)
                     else f"state {state}, reference {hex0x(marked)}")
            return Discrepancy(s, f"auction postings (batch {line.label})",
                               f"the slot marked settled off contract with reference {hex0x(line.ref)}", found)
    if seen:
        for batch in batches:
            if batch.slot not in seen and any(e.amount_micro for e in batch.results):
                return Discrepancy(batch.slot, "auction postings", "a journaled batch settling the endorsed result",
                                   "none")
    return None


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` sub-command to an ``add_subparsers()`` object; return its parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify", help="audit an archived ledger: recompute every slot and check roots, signatures, money"
    )
    parser.add_argument("data_dir", help="DATA_DIR with ledger.json, slots/<slot>.json and chain/")
    parser.add_argument("--chain-url", metavar="URL",
                        help="audit against this Ethereum JSON-RPC node instead of DATA_DIR/chain/ (read only)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Carry out ``transactive ledger verify``: 0 clean, 1 first discrepancy, 2 unreadable input."""
    try:
        found = verify_archive(args.data_dir, chain_url=args.chain_url)
    except AuditInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if found is not None:
        print(f"discrepancy: {found}", file=sys.stderr)
        return EXIT_DISCREPANCY
    archive = SlotArchive(args.data_dir)
    n, settled = len(archive.slots()), len(archive.settlement_slots())
    journal = StatementJournal(args.data_dir)
    also = (f", {len(journal.read()[1])} statement batch(es), every account's tokens and starting balances "
            "(mint history)") if journal.exists() else ""
    print(f"clean: {n} slot(s), {settled} settlement slot(s), every settled or endorsed slot on chain archived, "
          f"roots, endorsements (the Registry at each slot's block), balances{also} and token supply check out")
    return EXIT_CLEAN
