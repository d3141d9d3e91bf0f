"""The market layer's recomputation of a settlement slot's postings, registered with the ledger audit.

``transactive ledger verify`` (:mod:`transactive.cli._ledger`) passes :data:`SETTLEMENT_RECOMPUTERS` to
:func:`transactive.ledger.audit.verify_archive` (dependency inversion: the ledger layer defines the
:data:`~transactive.ledger.settlement_archive.Recompute` signature and never imports the market layer).
The same pure function is every validator's recomputation in :mod:`transactive.market.ledger_settle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transactive.ledger.commitments import ResultEntry
from transactive.ledger.eip712 import Domain
from transactive.ledger.settlement_archive import SETTLEMENT_KIND, Recompute
from transactive.market.slot_sequence import SEQUENCE_FORMAT, settle_sequence
from transactive.settlement.slot_settlement import AccountPosting, settle_input

__all__ = ["SETTLEMENT_RECOMPUTERS", "recompute_settlement", "settlement_postings"]


def settlement_postings(doc: Mapping[str, Any], domain: Domain) -> list[AccountPosting]:
    """The postings of a settlement input (format 2, ``transactive.settlement-input/2``: the whole seed-001
    sequence, :func:`~transactive.market.slot_sequence.settle_sequence`; format 1, of records an older service
    prepared: the auction against the meters, :func:`~transactive.settlement.slot_settlement.settle_input`)."""
    if doc.get("format") == SEQUENCE_FORMAT:
        return list(settle_sequence(doc, domain).postings)
    return settle_input(doc)[1]


def recompute_settlement(doc: Mapping[str, Any], domain: Domain) -> list[ResultEntry]:
    """:func:`settlement_postings` as result entries (signed Wh and micro-tokens, + receives / − pays)."""
    return [ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in settlement_postings(doc, domain)]


SETTLEMENT_RECOMPUTERS: Mapping[str, Recompute] = {SETTLEMENT_KIND: recompute_settlement}
"""The archive kinds the market layer recomputes (``settlement-input``)."""
