"""Settlement slots in the audit archive: ``DATA_DIR/settlements/<slot>.json`` and their check.

A service settles each anchored slot as a second endorsed on-chain slot whose order root commits to a
settlement input document and whose result root commits to the postings the validators recompute from it
(:mod:`transactive.market.ledger.settlement`). When the slot is SETTLED the desk archives one
``transactive.settlement-archive/1`` file per settlement slot (written atomically, see
:func:`transactive.files.write_atomic`)::

    {"format": "transactive.settlement-archive/1", "slot": int, "kind": "settlement-input",
     "input": {...}, "orderRoot": "0x..", "resultRoot": "0x..",
     "postings": [{"account", "energyWh", "amountMicro"}, ...], "endorsements": ["0x..", ...]}

The postings are recomputed by the one pure rule every validator runs,
:func:`transactive.settlement.sequence.settlement_postings` (the settlement rules sit below the ledger, so
the audit imports them directly). An archived kind other than ``settlement-input`` makes the archive
unreadable for the audit (exit 2); it is never skipped silently.

Checks of one settlement slot (:func:`check_settlement`), the first failure is returned as
``(what, expected, found)``:

1. the postings recomputed from the archived input, their result root against the root endorsed on chain;
   on a mismatch the first account whose recomputed posting differs from the archived one is named
   (``postings root, account <a>``);
2. the archived postings, entry by entry, against the recomputation (``posting <a>``, ``posting count``);
3. the input's root (SHA-256 of its canonical JSON, :func:`input_root`) against the order root committed on
   chain, and the committed count against the number of postings (``input root``, ``posting count``);
4. the postings balance: the amounts sum to zero, micro-token exact (``balance``);
5. every archived endorsement a current validator's signature over ``(slot, inputRoot, postingsRoot)``, no
   validator twice, at least the Registry's threshold (``endorsement i``, ``endorsements``);
6. the on-chain slot is SETTLED (``state``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import hex0x
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.chain.constants import SETTLED
from transactive.ledger.clearance.endorsement import valid_endorsements
from transactive.ledger.messages.commitments import ResultEntry, result_tree
from transactive.settlement.input import InputError, SettlementInput, input_digest
from transactive.settlement.sequence import settlement_postings

SETTLEMENT_ARCHIVE_FORMAT = "transactive.settlement-archive/1"
SETTLEMENT_KIND = "settlement-input"


__all__ = ["SETTLEMENT_ARCHIVE_FORMAT", "SETTLEMENT_KIND", "SettlementRecord", "check_settlement",
           "input_root"]


def input_root(doc: SettlementInput | Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of an input document (sorted keys, no spaces): the settlement slot's
    order root (:func:`transactive.settlement.slot_settlement.input_digest`, the one definition)."""
    return input_digest(doc)


def _bytes32(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{field!r} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ValueError(f"{field!r} is not hex") from exc
    return raw


@dataclass(frozen=True)
class SettlementRecord:
    """One archived settlement slot (see the module docstring for the file)."""

    slot: int
    kind: str
    input: SettlementInput
    order_root: bytes
    result_root: bytes
    postings: tuple[ResultEntry, ...]
    endorsements: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"format": SETTLEMENT_ARCHIVE_FORMAT, "slot": self.slot, "kind": self.kind,
                "input": self.input.to_json(),
                "orderRoot": hex0x(self.order_root), "resultRoot": hex0x(self.result_root),
                "postings": [p.to_json() for p in self.postings],
                "endorsements": [hex0x(s) for s in self.endorsements]}

    @classmethod
    def from_json(cls, data: Any) -> SettlementRecord:
        """Parse a file's document (``ValueError`` naming the field)."""
        if not isinstance(data, dict) or data.get("format") != SETTLEMENT_ARCHIVE_FORMAT:
            raise ValueError(f"not a {SETTLEMENT_ARCHIVE_FORMAT} document")
        slot, kind, doc = data.get("slot"), data.get("kind"), data.get("input")
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            raise ValueError("'slot' must be a non-negative integer")
        if not isinstance(kind, str):
            raise ValueError("'kind' must be a string")
        if not isinstance(doc, dict):
            raise ValueError("'input' must be an object")
        try:
            typed = SettlementInput.from_json(doc)
        except InputError as exc:
            raise ValueError(f"'input.{exc.field}': {exc.message}") from exc
        postings, endorsements = data.get("postings"), data.get("endorsements")
        if not isinstance(postings, list) or not isinstance(endorsements, list):
            raise ValueError("'postings' and 'endorsements' must be lists")
        try:
            entries = tuple(ResultEntry.from_json(p) for p in postings)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"'postings': {exc}") from exc
        return cls(slot, kind, typed, _bytes32(data.get("orderRoot"), "orderRoot"),
                   _bytes32(data.get("resultRoot"), "resultRoot"), entries,
                   tuple(_bytes32(s, f"endorsements[{i}]") for i, s in enumerate(endorsements)))


def recompute_entries(doc: SettlementInput, domain: Domain) -> list[ResultEntry]:
    """A settlement input's postings as result entries (signed Wh and micro-tokens, + receives / - pays):
    :func:`~transactive.settlement.sequence.settlement_postings`, the validators' recomputation."""
    return [ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in settlement_postings(doc, domain)]


def _entry(e: ResultEntry | None) -> str:
    return "no entry" if e is None else f"(energyWh {e.energy_wh}, amountMicro {e.amount_micro})"


def check_settlement(
    chain: Chain, slots: Contract, domain: Domain, rec: SettlementRecord, *,
    validators: Sequence[str], threshold: int, record: Sequence[Any] | None = None,
) -> tuple[str, str, str] | None:
    """The first discrepancy of one archived settlement slot as ``(what, expected, found)``, or None (the
    checks of the module docstring, in that order). ``record``: the slot's ``MarketSlots.slots`` record when
    already read."""
    s = rec.slot
    record = chain.call(slots, "slots", s) if record is None else record
    state, order_root, order_count, chain_root = int(record[0]), bytes(record[4]), int(record[5]), bytes(record[6])
    try:
        recomputed = recompute_entries(rec.input, domain)
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        return ("recomputation", "postings recomputed from the archived input", f"{type(exc).__name__}: {exc}")
    stored = {e.account: e for e in rec.postings}
    fresh = {e.account: e for e in recomputed}
    recomputed_root = result_tree(s, recomputed).root
    if recomputed_root != chain_root:
        differing = next((a for a in [*fresh, *stored] if fresh.get(a) != stored.get(a)), None)
        account = f", account {differing}" if differing is not None else ""
        detail = "" if differing is None else (
            f"; {differing}: recomputed {_entry(fresh.get(differing))}, archived {_entry(stored.get(differing))}")
        return (f"postings root{account}", f"{hex0x(chain_root)} (endorsed on chain)",
                f"{hex0x(recomputed_root)} (recomputed from the archived input){detail}")
    for e in recomputed:
        if stored.get(e.account) != e:
            return (f"posting {e.account}", f"{_entry(e)} (recomputed)", f"{_entry(stored.get(e.account))} (archived)")
    if len(rec.postings) != len(recomputed):
        return ("posting count", f"{len(recomputed)} (recomputed)", f"{len(rec.postings)} archived")
    root = input_root(rec.input)
    if root != order_root:
        return ("input root", f"{hex0x(order_root)} (committed on chain)",
                f"{hex0x(root)} (SHA-256 of the archived input)")
    if order_count != len(recomputed):
        return ("posting count", f"{order_count} (committed on chain)", f"{len(recomputed)} recomputed")
    total = sum(e.amount_micro for e in recomputed)
    if total != 0:
        return ("balance", "postings summing to 0 micro-tokens", f"{total}")
    seen: set[str] = set()
    for i, sig in enumerate(rec.endorsements):
        ok = valid_endorsements(domain, s, order_root, chain_root, signatures=[sig], validators=validators)
        if not ok:
            return (f"endorsement {i}", "a validator's signature of (slot, inputRoot, postingsRoot)",
                    "a signature of another message or by another key")
        signer = ok[0][0].lower()
        if signer in seen:
            return (f"endorsement {i}", "a distinct validator", f"a repeat of {ok[0][0]}")
        seen.add(signer)
    if len(seen) < threshold:
        return ("endorsements", f"at least {threshold} distinct validators", str(len(seen)))
    if state != SETTLED:
        return ("state", f"SETTLED ({SETTLED}) on chain", str(state))
    return None
