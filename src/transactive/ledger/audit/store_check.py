"""What the service's API shows, checked against the archive and the chain (``transactive ledger verify`` on a
service data directory; issue 9, finding 7).

The API answers from the SQL store; the audit (:mod:`transactive.ledger.audit.audit`) checks the archive against
the chain. This module closes the gap: every store row a user is shown for an anchored or settled slot must be
what the archive holds (and through it what the chain committed). The store layer sits beside the ledger, so the
command reads the store (read-only, :mod:`transactive.store.readonly`) and hands the rows down as the plain records
below (:class:`StoreSnapshot`); nothing here writes.

Checks, per community, per slot the store shows as anchored (``ledger_slots`` kind ``clearing``, state
``anchored``) or settled (kind ``settlement``, state ``settled``); every mismatch is one :class:`StoreFinding`
naming the community, slot, member and field:

* **chain addresses** (``GET /communities/{c}/account``): every member's address in ``chain_accounts`` is a member
  of the Registry on chain (``is_member``) with its role's bit, and is the address the archived settlement inputs
  name for that member (``accounts``, committed on chain by the input's root);
* **orders** (``GET .../orders``): the slot's stored orders at the ledger's resolution (Wh, micro-tokens/kWh per
  block, :func:`transactive.market.ledger.batch.quantised_entry`) are exactly the signed orders of the archived
  batch ``slots/<n>.json`` (nonce ``seq << 8 | block``, trader = the member's address, side), none missing,
  none extra;
* **results** (``GET .../slots/{s}/result``): each stored result row is the endorsed entry of the member's address
  in the archived batch (energy in Wh exactly, + sold / − bought; the payment within 1 micro-token, the clearing's
  float payment rounded against the validators' integer one), no endorsed member entry without its row, and the
  clearing price (:func:`~transactive.settlement.slot_settlement.clearing_price`) the settlement input's;
* the stored clearing record's order root, result root and result entries (``GET .../slots/{s}/ledger``,
  ``GET .../fund``) against the archive's batch and the chain's ``MarketSlots`` record;
* **readings** (``GET .../meter-readings``): for every party of an archived settlement input, the stored reading
  (as settlement reads it: a resolved dispute's value) is the input's ``readings_kwh`` (exactly), and missing
  exactly when the input lists it in ``missing_readings``;
* **statements** (``GET .../statements``, ``GET .../dso/income``): the stored settlement record's input is the
  archived one (same root), its statement lines are the lines recomputed from the archived input
  (``expected_lines``, the desk's own functions, given by the command), its postings the archived postings and
  its DSO amount the DSO's posting;
* every archived slot (``slots/``, ``settlements/``) has its record in the store (in any state: the desk archives
  a slot just before it marks it anchored or settled, and a service stopped in between finishes it when it runs
  again).

A slot that is neither anchored nor settled in the store (cleared before the ledger started, batched, refused,
blocked) has nothing archived to compare with and is not checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import hex0x
from transactive.ledger.audit.archive import SettlementRecord
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.audit.slot_archive import SlotArchive, open_archive_chain, open_rpc_chain
from transactive.ledger.chain.base import Chain, Contract, contract_at
from transactive.ledger.chain.constants import ROLE_BITS, SLOT_FIELDS, SLOT_RESULT_ROOT
from transactive.ledger.clearance.protocol import domain_of
from transactive.ledger.messages.commitments import ResultEntry
from transactive.result import ResultDocument
from transactive.settlement.input import SettlementInput, input_digest
from transactive.settlement.slot_settlement import clearing_price
from transactive.units import energy_to_wh, money_to_micro

__all__ = ["PAYMENT_TOLERANCE_MICRO", "StoreAccount", "StoreFinding", "StoreLedgerRecord", "StoreOrder",
           "StoreSlot", "StoreSnapshot", "check_store", "check_store_against"]

PAYMENT_TOLERANCE_MICRO = 1
"""A stored result row's payment (tokens, float) rounded to micro-tokens may differ from the endorsed entry's
integer amount by this much (the clearing rounds once, the validators' recomputation in integers)."""

SLOT_ORDER_ROOT = SLOT_FIELDS.index("order_root")
ExpectedLines = Callable[[SettlementInput, Domain], Sequence[Mapping[str, Any]]]
"""The statement lines the service stores for a settlement input (the desk's own functions)."""


@dataclass(frozen=True)
class StoreFinding:
    """One thing the store shows that the archive or the chain contradicts."""

    community: str
    slot_start: str | None
    member: str | None
    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        where = " ".join(x for x in (self.community, self.slot_start or "", f"member {self.member}"
                                     if self.member else "") if x)
        return f"store {where}: {self.what}: expected {self.expected}, the store shows {self.found}"


@dataclass(frozen=True)
class StoreAccount:
    """A member's chain account as the store shows it."""

    member: str
    community: str | None
    role: str
    address: str
    enrolled: bool


@dataclass(frozen=True)
class StoreOrder:
    """A stored order at the ledger's resolution: ``side`` 0 sell / 1 buy, ``blocks`` ``(Wh, micro-tokens/kWh)``
    in block order; ``seq`` the store's arrival sequence (the signed nonce is ``seq << 8 | block``)."""

    member: str
    seq: int
    side: int
    blocks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class StoreLedgerRecord:
    """A stored ledger record (``ledger_slots``) as the API reads it: the clearing's roots and endorsed entries,
    or the settlement's input, statement lines, postings and DSO breakdown."""

    chain_slot: int
    state: str
    order_root: str | None
    result_root: str | None
    results: tuple[ResultEntry, ...] = ()
    input: SettlementInput | None = None
    lines: tuple[Mapping[str, Any], ...] = ()
    postings: tuple[Mapping[str, Any], ...] = ()
    dso: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StoreSlot:
    """One slot of a community as the store shows it; ``clearing_number`` / ``settlement_number`` its on-chain
    slot numbers computed from the community and start (not read from the store)."""

    community: str
    slot_start: str
    clearing_number: int
    settlement_number: int
    clearing: StoreLedgerRecord | None
    settlement: StoreLedgerRecord | None
    orders: tuple[StoreOrder, ...]
    result: ResultDocument | None
    readings_kwh: Mapping[str, float]


@dataclass(frozen=True)
class StoreSnapshot:
    """Everything the check reads from the store, read in one read-only transaction."""

    accounts: tuple[StoreAccount, ...]
    slots: tuple[StoreSlot, ...]


def check_store(data_dir: str | Path, snapshot: StoreSnapshot, expected_lines: ExpectedLines, *,
                chain_url: str | None = None) -> list[StoreFinding]:
    """Check ``snapshot`` against the archive in ``data_dir`` and its chain (``DATA_DIR/chain/`` read-only, or
    ``chain_url``); every finding, in community, slot order. :class:`AuditInputError` if unreadable."""
    archive = SlotArchive(data_dir)
    manifest = archive.manifest()
    opener: AbstractContextManager[Chain] = (open_rpc_chain(chain_url) if chain_url is not None
                                             else open_archive_chain(archive))
    with opener as chain:
        return check_store_against(chain, archive, manifest, snapshot, expected_lines)


def check_store_against(chain: Chain, archive: SlotArchive, manifest: Mapping[str, Any], snapshot: StoreSnapshot,
                        expected_lines: ExpectedLines) -> list[StoreFinding]:
    """:func:`check_store` on an open chain."""
    registry = contract_at("Registry", manifest["registry"])
    slots = contract_at("MarketSlots", manifest["slots"])
    domain = domain_of(chain, slots)
    batches = {n: archive.load(n)[0] for n in archive.slots()}
    settlements = {n: archive.load_settlement(n) for n in archive.settlement_slots()}
    address_of = {a.member: a.address for a in snapshot.accounts}
    member_of = {a.address.lower(): a.member for a in snapshot.accounts}
    found = list(_check_accounts(chain, registry, snapshot, settlements))
    shown: set[int] = set()
    for s in snapshot.slots:
        if s.clearing is not None and s.clearing.state == "anchored":
            shown.add(s.clearing_number)
            found += _check_clearing(chain, slots, s, batches.get(s.clearing_number), address_of=address_of,
                                     member_of=member_of)
        if s.settlement is not None and s.settlement.state == "settled":
            shown.add(s.settlement_number)
            rec = settlements.get(s.settlement_number)
            found += _check_settlement(s, rec, domain, expected_lines, member_of)
            if rec is not None and s.result is not None and rec.input.is_sequence and rec.input.traded:
                price = clearing_price(s.result)
                if price != rec.input.price_per_kwh:
                    found.append(StoreFinding(s.community, s.slot_start, None, "result price_per_kwh",
                                              f"{rec.input.price_per_kwh} (the settlement input's clearing price)",
                                              f"{price}"))
    recorded = {n for s in snapshot.slots for n, rec in ((s.clearing_number, s.clearing),
                                                         (s.settlement_number, s.settlement)) if rec is not None}
    community_of = {s.clearing_number >> 64: s.community for s in snapshot.slots}  # the community's number
    for n in sorted((set(batches) | set(settlements)) - shown - recorded):  # a record in another state: resumable
        found.append(StoreFinding(community_of.get(n >> 64, "?"), _slot_start_of(n), None,
                                  f"ledger record of on-chain slot {n}",
                                  f"the {'settlement' if n in settlements else 'clearing'} the archive holds "
                                  f"({'settlements' if n in settlements else 'slots'}/{n}.json)", "none"))
    return found


def _slot_start_of(number: int) -> str:
    """The slot start encoded in an on-chain slot number (``(community << 64) | (minutes << 1) | kind``)."""
    minutes = (number >> 1) & ((1 << 63) - 1)
    return datetime.fromtimestamp(minutes * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_accounts(chain: Chain, registry: Contract, snapshot: StoreSnapshot,
                    settlements: Mapping[int, SettlementRecord]) -> Iterator[StoreFinding]:
    """Chain addresses: the Registry knows each enrolled address with its role; the archived inputs agree."""
    stored = {a.member: a for a in snapshot.accounts}
    for a in snapshot.accounts:
        if not a.enrolled:
            continue
        bit = ROLE_BITS.get(a.role)
        known = bool(chain.call(registry, "is_member", a.address))
        if not known or (bit is not None and not chain.call(registry, "has_role", a.address, bit)):
            yield StoreFinding(a.community or "-", None, a.member, "chain address",
                               f"an address the Registry has as a member{f' with the {a.role} role' if bit else ''}",
                               a.address)
    by_number = {s.settlement_number: s for s in snapshot.slots}
    for n, rec in sorted(settlements.items()):
        s = by_number.get(n)
        community, start = (s.community, s.slot_start) if s is not None else ("?", _slot_start_of(n))
        for member, address in sorted(rec.input.accounts.items()):
            have = stored.get(member)
            if have is None or have.address.lower() != address.lower():
                yield StoreFinding(community, start, member, "chain address",
                                   f"{address} (settlements/{n}.json accounts)",
                                   "none" if have is None else have.address)


def _check_clearing(chain: Chain, slots: Contract, s: StoreSlot, batch: SlotBatch | None, *,
                    address_of: Mapping[str, str], member_of: Mapping[str, str]) -> list[StoreFinding]:
    n = s.clearing_number
    assert s.clearing is not None

    def finding(member: str | None, what: str, expected: object, found: object) -> StoreFinding:
        return StoreFinding(s.community, s.slot_start, member, what, str(expected), str(found))

    if batch is None:
        return [finding(None, "archive file", f"slots/{n}.json for the slot the store shows anchored", "none")]
    out: list[StoreFinding] = []
    if s.clearing.chain_slot != n:
        out.append(finding(None, "ledger chain_slot", n, s.clearing.chain_slot))
    record = chain.call(slots, "slots", n)
    roots = (("order_root", hex0x(bytes(record[SLOT_ORDER_ROOT])), s.clearing.order_root),
             ("result_root", hex0x(bytes(record[SLOT_RESULT_ROOT])), s.clearing.result_root))
    for what, on_chain, shown in roots:
        if (shown or "").lower() != on_chain.lower():
            out.append(finding(None, f"ledger {what}", f"{on_chain} (MarketSlots)", shown))
    archived = {e.account.lower(): e for e in batch.results}
    for e in s.clearing.results:
        a = archived.get(e.account.lower())
        if a is None or (a.energy_wh, a.amount_micro) != (e.energy_wh, e.amount_micro):
            out.append(finding(member_of.get(e.account.lower()), f"ledger result entry {e.account}",
                               "none" if a is None else f"({a.energy_wh} Wh, {a.amount_micro} micro)",
                               f"({e.energy_wh} Wh, {e.amount_micro} micro)"))
    if len(s.clearing.results) != len(batch.results):
        out.append(finding(None, "ledger result entries", f"{len(batch.results)} (slots/{n}.json)",
                           len(s.clearing.results)))
    out += _check_orders(s, batch, address_of, member_of, finding)
    out += _check_result(s, batch, address_of, member_of, finding)
    return out


Finder = Callable[[str | None, str, object, object], StoreFinding]


def _check_orders(s: StoreSlot, batch: SlotBatch, address_of: Mapping[str, str], member_of: Mapping[str, str],
                  finding: Finder) -> Iterator[StoreFinding]:
    signed = {o.message.nonce: o.message for o in batch.orders}
    seen: set[int] = set()
    for order in s.orders:
        address = address_of.get(order.member, "none")
        for j, (wh, micro) in enumerate(order.blocks):
            nonce = (order.seq << 8) | j
            seen.add(nonce)
            m = signed.get(nonce)
            what = f"order seq {order.seq} block {j}"
            if m is None:
                yield finding(order.member, what, f"a signed order with nonce {nonce} in slots/{batch.slot}.json",
                              "an order the signed batch does not have")
                continue
            for field, want, have in (("trader", m.trader.lower(), address.lower()), ("side", m.side, order.side),
                                      ("energy_wh", m.energy_wh, wh), ("price_micro_per_kwh",
                                                                       m.price_micro_per_kwh, micro)):
                if want != have:
                    yield finding(order.member, f"{what} {field}", f"{m.trader if field == 'trader' else want} "
                                  "(the signed order)", address if field == "trader" else have)
    for nonce, m in sorted(signed.items()):
        if nonce not in seen:
            yield finding(member_of.get(m.trader.lower()), f"order seq {nonce >> 8} block {nonce & 0xFF}",
                          f"the signed order ({m.energy_wh} Wh at {m.price_micro_per_kwh} micro/kWh)", "none")


def _check_result(s: StoreSlot, batch: SlotBatch, address_of: Mapping[str, str], member_of: Mapping[str, str],
                  finding: Finder) -> Iterator[StoreFinding]:
    if s.result is None:
        yield finding(None, "result", f"the endorsed result of slots/{batch.slot}.json", "none")
        return
    entries = {e.account.lower(): e for e in batch.results}
    shown: set[str] = {(batch.dso or "").lower()}  # the DSO's row: the clearing's grid charges, no result row
    for sign, rows in ((1, s.result.sellers), (-1, s.result.buyers)):
        for row in rows:
            address = address_of.get(row.id, "").lower()
            shown.add(address)
            e = entries.get(address)
            want_wh, want_micro = (0, 0) if e is None else (e.energy_wh, e.amount_micro)
            if not (math.isfinite(row.energy_kwh) and math.isfinite(row.payment)):
                yield finding(row.id, "result row", "finite energy_kwh and payment", f"{row}")
                continue
            wh, micro = sign * energy_to_wh(row.energy_kwh), sign * money_to_micro(row.payment)
            if wh != want_wh:
                yield finding(row.id, "result energy_kwh", f"{abs(want_wh) / 1000} kWh (the endorsed entry, "
                              f"{want_wh} Wh)", f"{row.energy_kwh} kWh")
            if abs(micro - want_micro) > PAYMENT_TOLERANCE_MICRO:
                yield finding(row.id, "result payment", f"{abs(want_micro) / 1e6} tokens (the endorsed entry, "
                              f"{want_micro} micro)", f"{row.payment} tokens")
    for address, e in sorted(entries.items()):
        member = member_of.get(address)
        if member is not None and address not in shown and (e.energy_wh, e.amount_micro) != (0, 0):
            yield finding(member, "result row", f"the endorsed entry ({e.energy_wh} Wh, {e.amount_micro} micro)",
                          "none")


def _check_settlement(s: StoreSlot, rec: SettlementRecord | None, domain: Domain, expected_lines: ExpectedLines,
                      member_of: Mapping[str, str]) -> list[StoreFinding]:
    n = s.settlement_number
    stored = s.settlement
    assert stored is not None

    def finding(member: str | None, what: str, expected: object, found: object) -> StoreFinding:
        return StoreFinding(s.community, s.slot_start, member, what, str(expected), str(found))

    if rec is None:
        return [finding(None, "archive file", f"settlements/{n}.json for the slot the store shows settled", "none")]
    out: list[StoreFinding] = []
    if stored.chain_slot != n:
        out.append(finding(None, "ledger chain_slot", n, stored.chain_slot))
    doc = rec.input
    if stored.input is None or input_digest(stored.input) != rec.order_root:
        out.append(finding(None, "settlement input", f"the archived input (root {hex0x(rec.order_root)})",
                           "none" if stored.input is None else f"root {hex0x(input_digest(stored.input))}"))
    if (stored.result_root or "").lower() != hex0x(rec.result_root).lower():
        out.append(finding(None, "ledger result_root (settlement)", hex0x(rec.result_root), stored.result_root))
    out += _check_readings(s, doc, finding)
    want_lines = {str(ln.get("member")): dict(ln) for ln in expected_lines(doc, domain)}
    have_lines = {str(ln.get("member")): dict(ln) for ln in stored.lines}
    for member in sorted(set(want_lines) | set(have_lines)):
        want, have = want_lines.get(member), have_lines.get(member)
        if want == have:
            continue
        if want is None or have is None:
            out.append(finding(member, "statement line", "none" if want is None else "a line", "none"
                               if have is None else "a line"))
            continue
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                out.append(finding(member, f"statement {key}", want.get(key), have.get(key)))
    archived = {p.account.lower(): p for p in rec.postings}
    posted = {str(p.get("account", "")).lower(): p for p in stored.postings}
    for account in sorted(set(archived) | set(posted)):
        a, p = archived.get(account), posted.get(account)
        want_pair = None if a is None else (a.energy_wh, a.amount_micro)
        have_pair = None if p is None else (p.get("energy_wh"), p.get("amount_micro"))
        if want_pair != have_pair:
            who = member_of.get(account) or (None if p is None else str(p.get("member")))
            out.append(finding(who, f"posting {account}", want_pair, have_pair))
    dso = archived.get(doc.dso.lower())
    have_dso = None if stored.dso is None else stored.dso.get("amount_micro")
    if dso is not None and have_dso != dso.amount_micro:
        out.append(finding(member_of.get(doc.dso.lower()), "dso amount_micro",
                           f"{dso.amount_micro} (the DSO's posting)", have_dso))
    return out


def _check_readings(s: StoreSlot, doc: SettlementInput, finding: Finder) -> Iterator[StoreFinding]:
    """The stored readings of the input's parties: the input's values, missing where the input says so."""
    readings = doc.readings_kwh if doc.is_sequence else doc.metered_kwh
    parties = doc.parties if doc.is_sequence else tuple(sorted({*readings, *doc.missing_readings}))
    for member in parties:
        want, have = readings.get(member), s.readings_kwh.get(member)
        if member in doc.missing_readings:
            want = None
        if want != have:
            yield finding(member, "meter reading energy_kwh",
                          "none (missing when settled)" if want is None else f"{want} kWh (the settlement input)",
                          "none" if have is None else f"{have} kWh")
