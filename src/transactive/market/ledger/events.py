"""A settled demand-response event's token transfers on chain (``EnergyToken.settle``, once per event).

The event's postings (:func:`transactive.settlement.negawatt.settle`: ``aggregator:<id>``, ``member:<id>``,
``balancing``; integer micro-tokens summing to zero) become one balanced batch posted by the service's admin
account (a Registry admin) with :func:`transactive.ledger.audit.statements.post_batch`: ``member:<id>`` and
``aggregator:<id>`` are the members' custodial accounts, ``balancing`` is the community's DSO account (the
service's choice: the DSO is the balancing party that replaces the energy not delivered). The batch reference
is ``keccak`` of its label ``negawatt <community>/<event>`` and postings, and the token refuses a reference
twice, so a batch is never posted twice; the reference and transaction are kept in the store's
``ledger_meta`` under ``negawatt/<community>/<event>``. Validators do not recompute an event (its inputs are
the aggregator's offers and the verified deliveries, stored off chain); the postings are covered by the token
supply check of ``transactive ledger verify``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from transactive.settlement.negawatt import NegawattEvent

if TYPE_CHECKING:
    from transactive.ledger.audit.statements import Posting
    from transactive.market.ledger.desk import LedgerDesk

log = logging.getLogger(__name__)
STAGE = "demand_response"

__all__ = ["event_posted", "event_postings", "post_event"]


def _key(community: str, event_id: str) -> str:
    return f"negawatt/{community}/{event_id}"


def event_posted(desk: LedgerDesk, community: str, event_id: str) -> bool:
    """Whether the event's tokens were moved (recorded in the store)."""
    return desk.store.ledger_meta(_key(community, event_id)) is not None


def event_postings(desk: LedgerDesk, community: str, event: NegawattEvent) -> list[Posting]:
    """The event's postings per chain account (several postings of one account are summed)."""
    from transactive.ledger.audit.statements import Posting

    assert event.settlement is not None
    amounts: dict[str, int] = {}
    for p in event.settlement["postings"]:
        account, amount = str(p["account"]), int(p["amount_micro"])
        if account.startswith(("member:", "aggregator:")):
            member = desk.store.get_member(account.split(":", 1)[1])
            assert member is not None
            found = desk.enrol(member)
            assert found is not None
            address = found.address
        else:  # balancing
            address = desk.dso_address(community)
        amounts[address] = amounts.get(address, 0) + amount
    return [Posting(STAGE, a, m) for a, m in amounts.items() if m != 0]


def post_event(desk: LedgerDesk, community: str, event: NegawattEvent) -> dict[str, Any] | None:
    """Post a settled event's tokens once (idempotent, restart-safe); the stored record, None if not settled."""
    from transactive.ledger.audit.statements import MAX_POSTINGS, batch_ref

    if event.settlement is None:
        return None
    key = _key(community, event.spec.id)
    with desk.lock:
        stored = desk.store.ledger_meta(key)
        if stored is not None:
            return dict(stored)
        rows = event_postings(desk, community, event)
        if sum(p.amount_micro for p in rows) != 0 or len(rows) > MAX_POSTINGS:  # pragma: no cover - negawatt.settle
            raise ValueError(f"negawatt {key}: the postings do not balance or exceed {MAX_POSTINGS} rows")
        label = f"negawatt {community}/{event.spec.id}"
        ref = batch_ref(label, rows)
        tx = None
        if rows and not desk.chain.call(desk.token, "settled", ref):  # (a crash after sending: settled already)
            receipt = desk.chain.transact(desk.token, "settle", ref, [(p.account, p.amount_micro) for p in rows],
                                          sender=desk.admin)
            tx = "0x" + bytes(receipt.tx_hash).hex()
        record = {"ref": "0x" + ref.hex(), "label": label, "tx": tx,
                  "postings": [{"account": p.account, "amount_micro": p.amount_micro} for p in rows]}
        log.info("negawatt %s: %d postings moved on chain", key, len(rows))
        return dict(desk.store.put_ledger_meta(key, record))
