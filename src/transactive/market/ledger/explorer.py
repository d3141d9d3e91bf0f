"""The ledger explorer (issue 11): what a validator, a member of the consortium or the administrator reads of
the ledger, from the store and the chain, and the audit of one slot on request.

* :func:`slot_list`: a community's slots on the ledger, newest first: per slot the clearing (anchoring) and the
  settlement with their states, on-chain slot numbers, order and result roots, number of orders, the
  validators who endorsed the result (recovered from the stored signatures), those who dissented (recomputed
  another root), the miner and the transaction hashes. Never an order or a bid.
* :func:`verify_ledger_slot`: the audit's recomputation of one slot (``transactive ledger verify``'s checks,
  :func:`transactive.ledger.audit.audit.verify_slot` and ``verify_settlement``), read only.
* :func:`validator_health`: per validator: registered on chain, its gas balance, and over the community's
  last :data:`HEALTH_WINDOW` anchored slots how many it endorsed and dissented from, and its last endorsement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from transactive.errors import MarketError
from transactive.market.ledger.config import CLEARING, SETTLEMENT
from transactive.market.ledger.documents import AnchorDocument, DocumentError, SettlementDocument, SlotDocument
from transactive.store import LedgerSlot

if TYPE_CHECKING:
    from transactive.ledger.messages.commitments import ResultEntry
    from transactive.market.ledger.desk import LedgerDesk

HEALTH_WINDOW = 48  # anchored slots looked at for the validators' health
MAX_SLOTS = 200

__all__ = ["HEALTH_WINDOW", "MAX_SLOTS", "slot_list", "validator_health", "verify_ledger_slot"]


def _bytes(value: str | None) -> bytes:
    return bytes.fromhex(value[2:]) if value else bytes(32)


def document_of(rec: LedgerSlot) -> SlotDocument:
    """The slot's stored document, typed: an :class:`AnchorDocument` for the clearing, a
    :class:`SettlementDocument` for the settlement (:class:`DocumentError` naming the field if unreadable)."""
    if rec.kind == CLEARING:
        return AnchorDocument.from_json(rec.document)
    return SettlementDocument.from_json(rec.document)


def endorsers(desk: LedgerDesk, rec: LedgerSlot, doc: SlotDocument | None = None) -> list[str]:
    """The addresses that signed the slot's stored endorsements (EIP-712 ``(slot, orderRoot, resultRoot)``);
    a signature that does not recover is left out. ``doc``: the record's typed document when already read."""
    from transactive.crypto.eip712 import endorsement_digest
    from transactive.crypto.signing import SignatureError, recover_address

    doc = document_of(rec) if doc is None else doc
    if not doc.endorsements or not doc.result_root or not doc.order_root:
        return []
    digest = endorsement_digest(desk.domain, rec.chain_slot, _bytes(doc.order_root), _bytes(doc.result_root))
    out = []
    for sig in doc.endorsements:
        try:
            out.append(recover_address(digest, _bytes(sig)))
        except (SignatureError, ValueError):  # not a signature, or not even hex
            continue
    return out


def _record_json(desk: LedgerDesk, rec: LedgerSlot | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    doc = document_of(rec)
    batch = doc.batch if isinstance(doc, AnchorDocument) else None
    orders = batch.get("orders") if batch is not None else None
    return {"state": rec.state, "chain_slot": str(rec.chain_slot), "order_root": doc.order_root,
            "result_root": doc.result_root, "orders": len(orders) if isinstance(orders, Sequence) else None,
            "endorsed_by": endorsers(desk, rec, doc), "dissenters": list(doc.dissenters), "miner": doc.miner,
            "txs": dict(doc.txs), "note": doc.note, "updated_at": rec.updated_at}


def slot_list(desk: LedgerDesk, community: str, limit: int = 48) -> list[dict[str, Any]]:
    """The community's ledger slots, newest first (at most ``limit``), clearing and settlement side by side."""
    clearing = {r.slot_start: r for r in desk.store.ledger_slots(community, CLEARING)}
    settlement = {r.slot_start: r for r in desk.store.ledger_slots(community, SETTLEMENT)}
    starts = sorted(set(clearing) | set(settlement), reverse=True)[:max(1, min(limit, MAX_SLOTS))]
    return [{"slot_start": s, CLEARING: _record_json(desk, clearing.get(s)),
             SETTLEMENT: _record_json(desk, settlement.get(s))} for s in starts]


def _outcome(found: Any) -> dict[str, Any]:
    if found is None:
        return {"checked": True, "ok": True, "message": "everything checks out"}
    return {"checked": True, "ok": False, "what": found.what, "expected": found.expected, "found": found.found,
            "message": f"{found.what}: expected {found.expected}, found {found.found}"}


def _not_checked(why: str) -> dict[str, Any]:
    return {"checked": False, "ok": None, "message": why}


def _unreadable(exc: DocumentError) -> dict[str, Any]:
    """The outcome for a stored document the audit cannot read: checked, not ok, naming the field."""
    return {"checked": True, "ok": False, "what": exc.field, "expected": "a readable stored document",
            "found": exc.message, "message": f"the stored document: {exc.field}: {exc.message}"}


def _posting(row: Mapping[str, Any], where: str) -> ResultEntry:
    """A stored settlement posting (``account``, ``energy_wh``, ``amount_micro``) as a result entry."""
    from transactive.ledger.messages.commitments import ResultEntry

    account = row.get("account")
    if not isinstance(account, str):
        raise DocumentError(f"{where}.account", "must be an address")
    values = []
    for key in ("energy_wh", "amount_micro"):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DocumentError(f"{where}.{key}", "must be an integer")
        values.append(value)
    return ResultEntry(account, values[0], values[1])


def verify_ledger_slot(desk: LedgerDesk, community: str, slot_start: str) -> dict[str, Any]:
    """Re-run the audit on one slot: the clearing (orders' signatures, order root, the results recomputed by
    the mechanism, result root, endorsements, balance) and, once settled, the settlement (postings recomputed
    from the published input, roots, endorsements). Reads the store and the chain; changes nothing. A stored
    document that cannot be read (:class:`DocumentError`) is a finding of its side (``what``: the field)."""
    from transactive.ledger.audit.archive import SETTLEMENT_KIND, SettlementRecord
    from transactive.ledger.audit.audit import verify_settlement, verify_slot
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.ledger.messages.commitments import ResultEntry

    clearing = desk.store.get_ledger_slot(community, slot_start, CLEARING)
    settlement = desk.store.get_ledger_slot(community, slot_start, SETTLEMENT)
    if clearing is None and settlement is None:
        raise MarketError("slot_start", "this slot is not on the ledger", "not_found")
    out: dict[str, Any] = {"community": community, "slot_start": slot_start}
    with desk.lock:
        if clearing is None or clearing.state not in ("anchored", "settled"):
            out[CLEARING] = _not_checked("not anchored" if clearing is None
                                         else f"not anchored (state {clearing.state})")
        else:
            try:
                anchor = AnchorDocument.from_json(clearing.document)
                if anchor.batch is None:
                    raise DocumentError("batch", "no signed batch stored")
                batch = replace(SlotBatch.from_json(anchor.batch),
                                results=tuple(ResultEntry(r.account, r.energy_wh, r.amount_micro)
                                              for r in anchor.results),
                                endorsements=anchor.endorsement_bytes())
            except DocumentError as exc:
                out[CLEARING] = _unreadable(exc)
            else:
                out[CLEARING] = _outcome(verify_slot(desk.chain, desk.registry, desk.slots, batch))
        if settlement is None or settlement.state != "settled":
            out[SETTLEMENT] = _not_checked("not settled" if settlement is None
                                           else f"not settled (state {settlement.state})")
        else:
            try:
                settled = SettlementDocument.from_json(settlement.document)
                postings = tuple(_posting(p, f"postings[{i}]") for i, p in enumerate(settled.postings))
            except DocumentError as exc:
                out[SETTLEMENT] = _unreadable(exc)
            else:
                root = bytes(desk.chain.call(desk.slots, "slots", settlement.chain_slot)[6])
                rec = SettlementRecord(settlement.chain_slot, SETTLEMENT_KIND, settled.input,
                                       _bytes(settled.order_root), root, postings, settled.endorsement_bytes())
                out[SETTLEMENT] = _outcome(verify_settlement(desk.chain, desk.registry, desk.slots, rec))
    checked = [out[k] for k in (CLEARING, SETTLEMENT) if out[k]["checked"]]
    out["ok"] = bool(checked) and all(c["ok"] for c in checked)
    return out


def validator_health(desk: LedgerDesk, communities: Sequence[str]) -> dict[str, Any]:
    """The validators: address, registered in the Registry, gas balance (wei), and over each community's last
    :data:`HEALTH_WINDOW` anchored clearings how many they endorsed, dissented from, and the last endorsed."""
    with desk.lock:
        on_chain = {str(v).lower() for v in desk.chain.call(desk.registry, "validator_list")}
        threshold = int(desk.chain.call(desk.registry, "threshold"))
        balances = {v.address: int(desk.chain.balance(v.address)) for v in desk.validators}
    recent: list[tuple[LedgerSlot, AnchorDocument]] = []
    for community in communities:
        typed = [(r, AnchorDocument.from_json(r.document)) for r in desk.store.ledger_slots(community, CLEARING)]
        recent += [(r, d) for r, d in typed if d.result_root][-HEALTH_WINDOW:]
    signed = {(r.community, r.slot_start): {a.lower() for a in endorsers(desk, r, d)} for r, d in recent}
    dissenting = {(r.community, r.slot_start): {x.lower() for x in d.dissenters} for r, d in recent}
    rows = []
    for k, v in enumerate(desk.validators):
        mine = [r for r, _ in recent if v.address.lower() in signed[(r.community, r.slot_start)]]
        dissented = [r for r, _ in recent if v.address.lower() in dissenting[(r.community, r.slot_start)]]
        last = max(mine, key=lambda r: r.slot_start, default=None)
        rows.append({"name": f"validator {k + 1}", "address": v.address, "registered": v.address.lower() in on_chain,
                     "gas_wei": balances[v.address], "slots_seen": len(recent), "endorsed": len(mine),
                     "dissented": len(dissented), "last_endorsed": None if last is None else last.slot_start})
    return {"threshold": threshold, "validators": rows}
