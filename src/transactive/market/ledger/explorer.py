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
from transactive.store import LedgerSlot

if TYPE_CHECKING:
    from transactive.market.ledger.desk import LedgerDesk

HEALTH_WINDOW = 48  # anchored slots looked at for the validators' health
MAX_SLOTS = 200

__all__ = ["HEALTH_WINDOW", "MAX_SLOTS", "slot_list", "validator_health", "verify_ledger_slot"]


def _bytes(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:]) if value else bytes(32)


def endorsers(desk: LedgerDesk, rec: LedgerSlot) -> list[str]:
    """The addresses that signed the slot's stored endorsements (EIP-712 ``(slot, orderRoot, resultRoot)``);
    a signature that does not recover is left out."""
    from transactive.crypto.eip712 import endorsement_digest
    from transactive.crypto.signing import SignatureError, recover_address

    doc = rec.document
    if not doc.get("endorsements") or not doc.get("resultRoot") or not doc.get("orderRoot"):
        return []
    digest = endorsement_digest(desk.domain, rec.chain_slot, _bytes(doc["orderRoot"]), _bytes(doc["resultRoot"]))
    out = []
    for sig in doc["endorsements"]:
        try:
            out.append(recover_address(digest, _bytes(sig)))
        except SignatureError:
            continue
    return out


def _record_json(desk: LedgerDesk, rec: LedgerSlot | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    doc = rec.document
    batch = doc.get("batch")
    orders = len(batch.get("orders", [])) if isinstance(batch, Mapping) else None
    return {"state": rec.state, "chain_slot": str(rec.chain_slot), "order_root": doc.get("orderRoot"),
            "result_root": doc.get("resultRoot"), "orders": orders, "endorsed_by": endorsers(desk, rec),
            "dissenters": [str(d) for d in doc.get("dissenters", [])], "miner": doc.get("miner"),
            "txs": dict(doc.get("txs", {})), "note": doc.get("note"), "updated_at": rec.updated_at}


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


def verify_ledger_slot(desk: LedgerDesk, community: str, slot_start: str) -> dict[str, Any]:
    """Re-run the audit on one slot: the clearing (orders' signatures, order root, the results recomputed by
    the mechanism, result root, endorsements, balance) and, once settled, the settlement (postings recomputed
    from the published input, roots, endorsements). Reads the store and the chain; changes nothing."""
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
            doc = clearing.document
            batch = replace(SlotBatch.from_json(doc["batch"]),
                            results=tuple(ResultEntry.from_json(r) for r in doc.get("results", [])),
                            endorsements=tuple(_bytes(x) for x in doc.get("endorsements", [])))
            out[CLEARING] = _outcome(verify_slot(desk.chain, desk.registry, desk.slots, batch))
        if settlement is None or settlement.state != "settled":
            out[SETTLEMENT] = _not_checked("not settled" if settlement is None
                                           else f"not settled (state {settlement.state})")
        else:
            doc = settlement.document
            postings = tuple(ResultEntry(str(p["account"]), int(p["energy_wh"]), int(p["amount_micro"]))
                             for p in doc.get("postings", []))
            root = bytes(desk.chain.call(desk.slots, "slots", settlement.chain_slot)[6])
            rec = SettlementRecord(settlement.chain_slot, SETTLEMENT_KIND, doc["input"], _bytes(doc.get("orderRoot")),
                                   root, postings, tuple(_bytes(x) for x in doc.get("endorsements", [])))
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
    recent: list[LedgerSlot] = []
    for community in communities:
        anchored = [r for r in desk.store.ledger_slots(community, CLEARING) if r.document.get("resultRoot")]
        recent += anchored[-HEALTH_WINDOW:]
    signed = {(r.community, r.slot_start): {a.lower() for a in endorsers(desk, r)} for r in recent}
    rows = []
    for k, v in enumerate(desk.validators):
        mine = [r for r in recent if v.address.lower() in signed[(r.community, r.slot_start)]]
        dissented = [r for r in recent
                     if v.address.lower() in {str(d).lower() for d in r.document.get("dissenters", [])}]
        last = max(mine, key=lambda r: r.slot_start, default=None)
        rows.append({"name": f"validator {k + 1}", "address": v.address, "registered": v.address.lower() in on_chain,
                     "gas_wei": balances[v.address], "slots_seen": len(recent), "endorsed": len(mine),
                     "dissented": len(dissented), "last_endorsed": None if last is None else last.slot_start})
    return {"threshold": threshold, "validators": rows}
