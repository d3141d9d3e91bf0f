"""What the ledger shows, by role, read from the store (no chain access): a slot's anchoring and settlement
(roots, on-chain slot numbers, states, transaction hashes; never an order), a member's own statement lines, the
DSO's income per slot (grid charges, penalties, imbalance; never a member line or a bid), and the community
market fund's row of every anchored clearing (``docs/settlement.md``)."""

from __future__ import annotations

from typing import Any

from transactive.ledger.messages.commitments import FUND_LEAF
from transactive.market.ledger.config import CLEARING, MODE_BATCH, SETTLEMENT
from transactive.market.ledger.documents import AnchorDocument, SettlementDocument, SlotDocument, read_rows
from transactive.store import Store


def ledger_view(store: Store, community: str, slot_start: str) -> dict[str, Any]:
    """The slot's ledger state: roots, on-chain slot numbers, tx hashes, states (no orders, no bids)."""
    out: dict[str, Any] = {"community": community, "slot_start": slot_start}
    for kind in (CLEARING, SETTLEMENT):
        rec = store.get_ledger_slot(community, slot_start, kind)
        if rec is None:
            out[kind] = None
            continue
        d: SlotDocument = (SettlementDocument if kind == SETTLEMENT else AnchorDocument).from_json(rec.document)
        out[kind] = {"state": rec.state, "chain_slot": str(rec.chain_slot), "order_root": d.order_root,
                     "result_root": d.result_root, "txs": dict(d.txs), "miner": d.miner, "note": d.note,
                     **({"mode": "batch" if d.mode == MODE_BATCH else "claims"}
                        if isinstance(d, SettlementDocument) else {})}
    return out


def statements(store: Store, community: str, member: str) -> list[dict[str, Any]]:
    """A member's own settlement lines, one per settled slot it traded in."""
    out = []
    account = store.chain_account(member)
    for rec in store.ledger_slots(community, SETTLEMENT, "settled"):
        d = SettlementDocument.from_json(rec.document)
        for line in read_rows(d.lines_of(member)):
            out.append({"slot_start": rec.slot_start, "account": None if account is None else account.address,
                        "price_per_kwh": d.input.price_per_kwh, **line, "settle_tx": d.txs.get("settle_batch"),
                        "result_root": d.result_root})
    return out


def dso_income(store: Store, community: str) -> list[dict[str, Any]]:
    """Per settled slot: the DSO's grid charges (tariffs), penalties, imbalance and net amount."""
    out = []
    for r in store.ledger_slots(community, SETTLEMENT, "settled"):
        d = SettlementDocument.from_json(r.document)
        out.append({"slot_start": r.slot_start, **read_rows([d.dso or {}])[0], "settle_tx": d.txs.get("settle_batch"),
                    "result_root": d.result_root})
    return out


def fund_history(store: Store, community: str) -> list[dict[str, Any]]:
    """Per anchored clearing with a fund row: what the community market fund received (> 0: a surplus, e.g.
    a VCG surplus or pay-as-bid's spread) or paid (< 0: a VCG deficit, the rewards, DPDA's excess bought at the
    clearing price), micro-tokens, and the Wh it took (DPDA's excess, sold on in the grid stage); oldest first.

    The rows are the endorsed result entries (``FUND_LEAF``), so this is what ``MarketSlots`` moves or moved."""
    out = []
    for rec in store.ledger_slots(community, CLEARING):
        d = AnchorDocument.from_json(rec.document)
        entry = d.fund_row(FUND_LEAF)
        if entry is not None and (entry.amount_micro or entry.energy_wh):
            out.append({"slot_start": rec.slot_start, "state": rec.state, "fund_micro": entry.amount_micro,
                        "energy_wh": entry.energy_wh, "result_root": d.result_root})
    return sorted(out, key=lambda row: str(row["slot_start"]))

