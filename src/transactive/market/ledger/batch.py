"""Pure pieces of the service's ledger: on-chain slot numbers, order entries at the ledger's resolution,
custodial signing of a slot's orders, and which claims to make (see :mod:`transactive.market.ledger.desk`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import WorkerPool
from transactive.ledger.messages.commitments import ResultEntry
from transactive.ledger.messages.orders import OrderMessage, SignedOrder, sign_orders
from transactive.market.ledger.config import CLEARING
from transactive.units import energy_to_wh, money_to_micro

__all__ = ["SIGN_CHUNK", "SignRow", "chain_slot_number", "claims_to_make", "quantised_entry", "sign_rows"]


def chain_slot_number(community: str, slot_start: str, kind: str) -> int:
    """The on-chain slot number of a community's slot (see the module docstring)."""
    number = int.from_bytes(hashlib.sha256(community.encode()).digest()[:6], "big")
    minutes = int(datetime.fromisoformat(slot_start).timestamp()) // 60
    return (number << 64) | (minutes << 1) | (0 if kind == CLEARING else 1)


def quantised_entry(entry: Mapping[str, Any]) -> list[tuple[int, int]]:
    blocks = entry.get("blocks")
    if isinstance(blocks, list):
        pairs = [(float(b["energy_kwh"]), float(b.get("price_per_kwh", 0.0))) for b in blocks]
    else:
        pairs = [(float(entry["energy_kwh"]), float(entry.get("price_per_kwh", 0.0)))]
    return [(energy_to_wh(e), money_to_micro(p)) for e, p in pairs]


SignRow = tuple[str, str, int, int, int, int, int, int, str, bytes]
SIGN_CHUNK = 2048
"""Orders per :func:`sign_rows` call when a slot's batch is signed in chunks on threads while the next chunk's
rows are built (:meth:`~transactive.market.ledger.anchoring.LedgerAnchoring.build_batch`)."""


def sign_rows(rows: Sequence[SignRow], *, pool: WorkerPool | None = None) -> list[SignedOrder]:
    """Sign orders with custodial keys: ``(key hex, trader, slot, side, Wh, micro/kWh, nonce, chain id,
    contract, attributesHash)`` rows (module level, so that a worker process can run it); the one signature
    covers the order and the trader's attributes (zero hash without). Signed by
    :func:`~transactive.ledger.messages.orders.sign_orders`: each key's address derived once per process, the
    signatures made by libsecp256k1 directly on ``pool`` or on threads of this process (every core)."""
    domains: dict[tuple[int, str], Domain] = {}
    keys: dict[str, bytes] = {}
    private_keys, messages, row_domains = [], [], []
    for key, trader, slot, side, wh, micro, nonce, chain_id, contract, attributes_hash in rows:
        private_key = keys.get(key)
        if private_key is None:
            private_key = keys[key] = bytes.fromhex(key)
        domain = domains.get((chain_id, contract))
        if domain is None:
            domain = domains[(chain_id, contract)] = Domain(chain_id=chain_id, verifying_contract=contract)
        private_keys.append(private_key)
        messages.append(OrderMessage(trader, slot, side, wh, micro, nonce, attributes_hash))
        row_domains.append(domain)
    return sign_orders(private_keys, messages, row_domains, pool=pool)


def claims_to_make(entries: Sequence[ResultEntry], sample: int | None = None
                   ) -> tuple[list[ResultEntry], list[ResultEntry]]:
    """The debit and credit leaves to claim, debits first (they fill the pool the credits are paid from).
    ``sample`` (benchmarks): the first ``sample`` debits and at most ``sample`` credits that they pay for."""
    debits = [e for e in entries if e.amount_micro < 0]
    credits = [e for e in entries if e.amount_micro > 0]
    if sample is None:
        return debits, credits
    debits = debits[:sample]
    budget = -sum(e.amount_micro for e in debits)
    chosen: list[ResultEntry] = []
    for e in credits:
        if e.amount_micro <= budget and len(chosen) < sample:
            chosen.append(e)
            budget -= e.amount_micro
    return debits, chosen
