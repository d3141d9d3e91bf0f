"""What the ledger shows, by role, read from the store (no chain access): a slot's anchoring and settlement
(roots, on-chain slot numbers, states, transaction hashes; never an order), a member's own statement lines, the
DSO's income per slot (grid charges, penalties, imbalance; never a member line or a bid), and the community
market fund's row of every anchored clearing (``docs/settlement.md``)."""

from __future__ import annotations

from typing import Any

from transactive.ledger.messages.commitments import FUND_LEAF
from transactive.market.ledger.config import CLEARING, MODE_BATCH, SETTLEMENT
from transactive.store import Store


def ledger_view(store: Store, community: str, slot_start: str) -> dict[str, Any]:
    """The slot's ledger state: roots, on-chain slot numbers, tx hashes, states (no orders, no bids)."""
    out: dict[str, Any] = {"community": community, "slot_start": slot_start}
    for kind in (CLEARING, SETTLEMENT):
        rec = store.get_ledger_slot(community, slot_start, kind)
        if rec is None:
            out[kind] = None
            continue
        d = rec.document
        out[kind] = {"state": rec.state, "chain_slot": str(rec.chain_slot), "order_root": d.get("orderRoot"),
                     "result_root": d.get("resultRoot"), "txs": d.get("txs", {}), "miner": d.get("miner"),
                     "note": d.get("note"), **({"mode": "batch" if d.get("mode") == MODE_BATCH else "claims"}
                                               if kind == SETTLEMENT else {})}
    return out


def statements(store: Store, community: str, member: str) -> list[dict[str, Any]]:
    """A member's own settlement lines, one per settled slot it traded in."""
    out = []
    account = store.chain_account(member)
    for rec in store.ledger_slots(community, SETTLEMENT, "settled"):
        for line in rec.document["lines"]:
            if line["member"] == member:
                out.append({"slot_start": rec.slot_start, "account": None if account is None else account.address,
                            "price_per_kwh": rec.document["input"]["price_per_kwh"], **line,
                            "settle_tx": rec.document["txs"].get("settle_batch"),
                            "result_root": rec.document.get("resultRoot")})
    return out


def dso_income(store: Store, community: str) -> list[dict[str, Any]]:
    """Per settled slot: the DSO's grid charges (tariffs), penalties, imbalance and net amount."""
    return [{"slot_start": r.slot_start, **r.document["dso"], "settle_tx": r.document["txs"].get("settle_batch"),
             "result_root": r.document.get("resultRoot")}
            for r in store.ledger_slots(community, SETTLEMENT, "settled")]


def fund_history(store: Store, community: str) -> list[dict[str, Any]]:
    """Per anchored clearing with a fund row: what the community market fund received (> 0: a surplus, e.g.
    a VCG surplus or pay-as-bid's spread) or paid (< 0: a VCG deficit, the rewards, DPDA's excess bought at the
    clearing price), micro-tokens, and the Wh it took (DPDA's excess, sold on in the grid stage); oldest first.

    The rows are the endorsed result entries (``FUND_LEAF``), so this is what ``MarketSlots`` moves or moved."""
    out = []
    for rec in store.ledger_slots(community, CLEARING):
        for entry in rec.document.get("results", ()):
            if str(entry["account"]).lower() == FUND_LEAF.lower() and (entry["amountMicro"] or entry["energyWh"]):
                out.append({"slot_start": rec.slot_start, "state": rec.state, "fund_micro": int(entry["amountMicro"]),
                            "energy_wh": int(entry["energyWh"]), "result_root": rec.document.get("resultRoot")})
    return sorted(out, key=lambda row: str(row["slot_start"]))

