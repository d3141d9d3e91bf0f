"""Off-chain statements settled as token transfers on chain (``EnergyToken.settle``), and their audit.

A market's off-chain settlement (e.g. a slot of :func:`transactive.settlement.stages.settle_slot`) is a
set of signed amounts in integer micro-tokens that sums to zero (> 0: the account receives). The consortium
operator (a Registry admin) posts it in one transaction, ``EnergyToken.settle(ref, postings)``: credits
first, then debits, checked, balanced, once per ``ref``.

Journal (our choice; the seeds are silent), next to the archive's ``ledger.json``:

* ``DATA_DIR/statements/batches.jsonl`` -- one line per posted batch:
  ``{"ref": "0x..", "label": str, "postings": [[stage, account, amount_micro], ...]}``; ``ref`` is
  :func:`batch_ref` of the line's label and postings (so a batch edited afterwards no longer matches its
  on-chain reference);
* ``DATA_DIR/statements.json`` -- ``{"format": "transactive.ledger-statements/1", "token": addr,
  "startingMicro": {addr: int}, "statementMicro": {addr: int}}``: every tracked account's token balance
  before the first batch and the sum of its off-chain statements (computed from the statements, not from the
  postings).

:func:`check_statements` (run by ``transactive ledger verify`` when the journal exists) reports the first of:
a batch whose postings do not sum to zero (``batch <label>: balance``), whose reference does not match its
content or was never settled on chain (``batch <label>: ref``); an account whose postings do not sum to its
statement (``postings <addr>``); an account whose on-chain balance is not ``starting + statement`` to the
micro-token (``balance <addr>``); a starting balance the chain's mint history does not explain (minted -
burned before the token's first ``Settled`` batch, ``starting <addr>``); statements that do not sum to zero
(``statements``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from transactive.ledger.chain.base import Chain, Contract

STATEMENTS_FORMAT = "transactive.ledger-statements/1"
MAX_POSTINGS = 256  # EnergyToken.MAX_POSTINGS

__all__ = [
    "MAX_POSTINGS",
    "STATEMENTS_FORMAT",
    "JournalBatch",
    "Posting",
    "StatementJournal",
    "StatementsError",
    "batch_ref",
    "check_auction_postings",
    "check_statements",
    "post_batch",
]


class StatementsError(ValueError):
    """A batch that cannot be posted (does not balance, too many postings) or an unreadable journal."""


@dataclass(frozen=True)
class Posting:
    """One signed amount of a batch: ``amount_micro`` > 0 credits ``account``, < 0 debits it; ``stage`` says
    what it settles (e.g. ``"auction"``)."""

    stage: str
    account: str
    amount_micro: int


def batch_ref(label: str, postings: Sequence[Posting], *, slot: int | None = None) -> bytes:
    """keccak256 of the canonical JSON ``[label, [[stage, account (lower case), amount], ...]]``, with the
    market slot appended (``[label, rows, slot]``) for a batch that settles a slot's endorsed result."""
    body: list[Any] = [label, [[p.stage, p.account.lower(), int(p.amount_micro)] for p in postings]]
    if slot is not None:
        body.append(int(slot))
    return keccak(text=json.dumps(body, separators=(",", ":")))


def post_batch(
    chain: Chain,
    token: Contract,
    label: str,
    postings: Sequence[Posting],
    *,
    sender: str | None = None,
    slot: int | None = None,
) -> bytes:
    """Post ``postings`` (non-zero amounts only are sent) with ``EnergyToken.settle``; returns the reference
    (``slot``: the market slot whose endorsed result the batch's ``auction`` postings settle, part of the
    reference).

    :class:`StatementsError` if they do not sum to zero or exceed :data:`MAX_POSTINGS` rows.
    """
    rows = [p for p in postings if p.amount_micro != 0]
    if sum(p.amount_micro for p in rows) != 0:
        raise StatementsError(f"batch {label}: postings sum to {sum(p.amount_micro for p in rows)}, not 0")
    if len(rows) > MAX_POSTINGS:
        raise StatementsError(f"batch {label}: {len(rows)} postings, at most {MAX_POSTINGS}")
    ref = batch_ref(label, rows, slot=slot)
    if rows:
        chain.transact(token, "settle", ref, [(p.account, p.amount_micro) for p in rows], sender=sender)
    return ref


@dataclass(frozen=True)
class JournalBatch:
    """One journaled batch: its label, on-chain reference, postings and (for a batch that settles a market
    slot's endorsed result in its ``auction`` postings) the slot."""

    label: str
    ref: bytes
    postings: list[Posting]
    slot: int | None = None


class StatementJournal:
    """Writes and reads the journal files of ``DATA_DIR`` (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir)

    @property
    def batches_path(self) -> Path:
        return self.root / "statements" / "batches.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.root / "statements.json"

    def exists(self) -> bool:
        return self.summary_path.is_file()

    def append(self, label: str, ref: bytes, postings: Sequence[Posting], *, slot: int | None = None) -> None:
        """Record a posted batch (only its non-zero postings, as posted; ``slot`` as posted)."""
        rows = [[p.stage, p.account, p.amount_micro] for p in postings if p.amount_micro != 0]
        line: dict[str, Any] = {"ref": "0x" + ref.hex(), "label": label, "postings": rows}
        if slot is not None:
            line["slot"] = int(slot)
        self.batches_path.parent.mkdir(parents=True, exist_ok=True)
        with self.batches_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def write(self, token: str, starting_micro: Mapping[str, int], statement_micro: Mapping[str, int]) -> None:
        """Write ``statements.json``: every tracked account's starting balance and statement sum."""
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {"format": STATEMENTS_FORMAT, "token": token,
               "startingMicro": {to_checksum_address(a): int(v) for a, v in starting_micro.items()},
               "statementMicro": {to_checksum_address(a): int(v) for a, v in statement_micro.items()}}
        self.summary_path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")

    def read(self) -> tuple[dict[str, Any], list[JournalBatch]]:
        """``statements.json`` and the batches; :class:`StatementsError` if unreadable."""
        try:
            doc = json.loads(self.summary_path.read_text(encoding="utf-8"))
            lines = self.batches_path.read_text(encoding="utf-8").splitlines() if self.batches_path.is_file() else []
            batches = []
            for line in lines:
                raw = json.loads(line)
                postings = [Posting(str(s), str(a), int(v)) for s, a, v in raw["postings"]]
                slot = raw.get("slot")
                if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int) or slot < 0):
                    raise ValueError(f"batch {raw['label']!r}: slot must be an integer >= 0")
                batches.append(JournalBatch(str(raw["label"]), bytes.fromhex(str(raw["ref"]).removeprefix("0x")),
                                            postings, slot))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StatementsError(f"cannot read the statement journal in {self.root}: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != STATEMENTS_FORMAT:
            raise StatementsError(f"{self.summary_path} is not a {STATEMENTS_FORMAT} document")
        for key in ("startingMicro", "statementMicro"):
            if not isinstance(doc.get(key), dict) or not all(isinstance(v, int) for v in doc[key].values()):
                raise StatementsError(f"{self.summary_path}: {key!r} must map addresses to integers")
        return doc, batches

    def accounts(self) -> list[str]:
        """Every tracked account (for the token-supply check)."""
        doc, _ = self.read()
        return list(doc["startingMicro"])


def check_statements(chain: Chain, token: Contract, data_dir: str | Path) -> tuple[str, str, str] | None:
    """Audit the journal in ``data_dir`` against the chain (see the module docstring); the first finding as
    ``(what, expected, found)``, or None when every batch, posting and balance checks out."""
    doc, batches = StatementJournal(data_dir).read()
    starting: dict[str, int] = {a.lower(): v for a, v in doc["startingMicro"].items()}
    statement: dict[str, int] = {a.lower(): v for a, v in doc["statementMicro"].items()}
    posted: dict[str, int] = {}
    for batch in batches:
        label, ref, postings = batch.label, batch.ref, batch.postings
        total = sum(p.amount_micro for p in postings)
        if total != 0:
            return f"batch {label}: balance", "postings sum to 0", f"sum {total}"
        expected_ref = batch_ref(label, postings, slot=batch.slot)
        if expected_ref != ref:
            return f"batch {label}: ref", f"0x{expected_ref.hex()} (from its postings)", f"0x{ref.hex()}"
        if postings and not chain.call(token, "settled", ref):
            return f"batch {label}: ref", "settled on chain", "not settled"
        for p in postings:
            posted[p.account.lower()] = posted.get(p.account.lower(), 0) + p.amount_micro
    for account in sorted(set(posted) | set(statement)):
        if posted.get(account, 0) != statement.get(account, 0):
            return f"postings {account}", f"statement sum {statement.get(account, 0)}", f"{posted.get(account, 0)}"
    for account in sorted(set(starting) | set(statement)):
        expected = starting.get(account, 0) + statement.get(account, 0)
        found = int(chain.call(token, "balanceOf", to_checksum_address(account)))
        if found != expected:
            return (f"balance {to_checksum_address(account)}",
                    f"{expected} (starting {starting.get(account, 0)} + statements {statement.get(account, 0)})",
                    str(found))
    found_start = _check_starting(chain, token, starting)
    if found_start is not None:
        return found_start
    if sum(statement.values()) != 0:
        return "statements", "sum to 0", f"sum {sum(statement.values())}"
    return None


def _check_starting(chain: Chain, token: Contract, starting: Mapping[str, int]) -> tuple[str, str, str] | None:
    """Every starting balance is explained by the chain's mint history: the tokens minted to the account
    minus those burned from it (``Transfer`` events from / to the zero address) in the blocks before the
    token's first ``Settled`` batch (any batch, journaled or not; all blocks when none). A settled batch
    dropped from the journal with its postings folded into the starting balances is found here."""
    settled = chain.logs(token, "Settled")
    first = min((int(e["blockNumber"]) for e in settled), default=None)
    minted: dict[str, int] = {}
    for e in chain.logs(token, "Transfer"):
        if first is not None and int(e["blockNumber"]) >= first:
            continue
        sender, receiver, value = str(e["sender"]).lower(), str(e["receiver"]).lower(), int(e["value"])
        if int(sender, 16) == 0:
            minted[receiver] = minted.get(receiver, 0) + value
        elif int(receiver, 16) == 0:
            minted[sender] = minted.get(sender, 0) - value
    where = "all blocks" if first is None else f"before block {first}, the first settled batch"
    for account in sorted(starting):
        if starting[account] != minted.get(account, 0):
            return (f"starting {to_checksum_address(account)}",
                    f"{minted.get(account, 0)} (minted - burned, {where})", str(starting[account]))
    return None


def check_auction_postings(
    batch: JournalBatch, entries_micro: Mapping[str, int], rewards_micro: Mapping[str, int]
) -> tuple[str, str, str] | None:
    """A batch that settles a slot's endorsed result (``batch.slot`` set): its ``auction`` postings, summed
    per account, must equal the endorsed result entries' amounts (``entries_micro``: account -> micro-tokens)
    plus the Proof-of-Clearance rewards (``rewards_micro``: the slot's auctioneer and miner -> their
    ``floor(ME x)``), account by account. The first difference as ``(what, expected, found)``, or None.

    Example:
        >>> a, b = "0x" + "11" * 20, "0x" + "22" * 20
        >>> ok = JournalBatch("slot 1", b"", [Posting("auction", a, 5), Posting("auction", b, -5)], 1)
        >>> check_auction_postings(ok, {a: 5, b: -5}, {}) is None
        True
        >>> check_auction_postings(ok, {a: 4, b: -5}, {b: 1})[0] == f"auction postings {to_checksum_address(a)}"
        True
    """
    expected: dict[str, int] = {}
    for source in (entries_micro, rewards_micro):
        for account, amount in source.items():
            expected[account.lower()] = expected.get(account.lower(), 0) + int(amount)
    found: dict[str, int] = {}
    for p in batch.postings:
        if p.stage == "auction":
            found[p.account.lower()] = found.get(p.account.lower(), 0) + p.amount_micro
    for account in sorted(set(expected) | set(found)):
        if expected.get(account, 0) != found.get(account, 0):
            return (f"auction postings {to_checksum_address(account)}",
                    f"{expected.get(account, 0)} (endorsed result entry + rewards of slot {batch.slot})",
                    f"{found.get(account, 0)} (batch {batch.label})")
    return None
