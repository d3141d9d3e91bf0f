"""``transactive ledger verify DATA_DIR``: the audit of the archive against the chain
(:mod:`transactive.ledger.audit.audit`), then what the service's API shows from its SQL store against both
(:mod:`transactive.ledger.audit.store_check`).

The store is ``DATA_DIR/transactive.sqlite3``, or ``--db-url`` (as ``transactive serve --db-url``: PostgreSQL or
SQLite), opened read-only (:mod:`transactive.store.readonly`). A data directory without a SQL store (a
``transactive day`` directory, an archive copied alone) is audited as before and the store check says it is
skipped; ``--no-store`` skips it on purpose. The store is read here, in the command layer (the store sits beside
the ledger), and handed down as plain records: the on-chain slot numbers computed from community and start
(:func:`~transactive.market.ledger.batch.chain_slot_number`), the orders at the ledger's resolution
(:func:`~transactive.market.ledger.batch.quantised_entry`), the stored ledger documents as the API reads them,
and the statement lines the desk computes from a settlement input.

Exit codes: 0 clean, 1 a discrepancy in the archive or any finding in the store (each printed on standard
error), 2 unreadable input (the archive, the chain, or a store that is not a readable transactive database).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transactive.crypto.eip712 import Domain
from transactive.settlement.input import SettlementInput

if TYPE_CHECKING:
    from transactive.ledger.audit.store_check import StoreSlot, StoreSnapshot
    from transactive.store.readonly import ReadOnlyStore

EXIT_UNREADABLE = 2


def register(sub: Any) -> argparse.ArgumentParser:
    """The audit's ``verify`` sub-command with the store options."""
    from transactive.ledger.audit import audit

    parser = audit.register(sub)
    parser.description = ("Audit DATA_DIR's archive against the chain, then what the service's API shows from its SQL "
                          "store (orders, results, meter readings, statements, chain addresses) against both, "
                          "read-only. Exit 0 clean, 1 a discrepancy or finding, 2 unreadable input.")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db-url", "--database-url", dest="db_url", metavar="URL",
                       help="the service's database (as `serve --db-url`, e.g. postgresql://user@host/transactive) "
                       "instead of DATA_DIR/transactive.sqlite3; read-only")
    store.add_argument("--no-store", action="store_true",
                       help="audit the archive and the chain only, not what the API shows from the SQL store")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """The archive's audit, then the store's check: 0 clean, 1 a discrepancy or finding, 2 unreadable."""
    from transactive.ledger.audit import audit
    from transactive.ledger.audit.audit import AuditInputError
    from transactive.ledger.audit.store_check import check_store
    from transactive.store.readonly import StoreUnreadable, open_read_only
    from transactive.store.sql import SQLITE_FILE

    code: int = audit.run(args)
    if code == EXIT_UNREADABLE:
        return code
    if args.no_store:
        print("store: not checked (--no-store)")
        return code
    if args.db_url is None and not (Path(args.data_dir) / SQLITE_FILE).exists():
        print(f"store: none in {args.data_dir} (no {SQLITE_FILE}, no --db-url; e.g. a `transactive day` "
              "directory): the store check is skipped")
        return code
    try:
        store = open_read_only(args.data_dir, args.db_url)
        with store.snapshot():
            snapshot = read_snapshot(store)
        findings = check_store(args.data_dir, snapshot, expected_lines, chain_url=args.chain_url)
    except (StoreUnreadable, AuditInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    for finding in findings:
        print(f"discrepancy: {finding}", file=sys.stderr)
    anchored = sum(1 for s in snapshot.slots if s.clearing is not None and s.clearing.state == "anchored")
    settled = sum(1 for s in snapshot.slots if s.settlement is not None and s.settlement.state == "settled")
    if findings:
        print(f"store: {len(findings)} finding(s) in {store.name}", file=sys.stderr)
        return 1
    print(f"store clean: {store.name}: {len(snapshot.accounts)} chain address(es), {anchored} anchored and {settled} "
          "settled slot(s): orders, results, meter readings, statements and ledger records as archived and on chain")
    return code


def expected_lines(doc: SettlementInput, domain: Domain) -> Sequence[Mapping[str, Any]]:
    """The statement lines the desk stores for a settled input (``LedgerSettlement._run_settlement``'s calls),
    as JSON (what the store holds)."""
    from transactive.market.ledger.sequence import sequence_lines
    from transactive.settlement.sequence import settle_sequence
    from transactive.settlement.slot_settlement import settle_input, statement_lines

    lines = sequence_lines(settle_sequence(doc, domain)) if doc.is_sequence else statement_lines(settle_input(doc)[0])
    rows: list[Mapping[str, Any]] = json.loads(json.dumps(lines))
    return rows


def read_snapshot(store: ReadOnlyStore) -> StoreSnapshot:
    """Every record the check needs, from a :class:`~transactive.store.readonly.ReadOnlyStore` inside its
    snapshot, as :class:`~transactive.ledger.audit.store_check.StoreSnapshot`; a stored document that cannot be
    read is :class:`~transactive.store.readonly.StoreUnreadable` naming it."""
    from transactive.errors import FieldError
    from transactive.ledger.audit.store_check import StoreAccount, StoreSnapshot
    from transactive.store.readonly import StoreUnreadable

    accounts = tuple(StoreAccount(a.member, a.community, a.role, a.address, a.enrolled)
                     for a in store.chain_addresses())
    slots = []
    for community in store.list_communities():
        try:
            slots += _community_slots(store, community.name)
        except (FieldError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise StoreUnreadable(f"cannot read the store {store.name}: community {community.name}: {exc}") from exc
    return StoreSnapshot(accounts, tuple(slots))


def _community_slots(store: ReadOnlyStore, community: str) -> list[StoreSlot]:
    from transactive.ledger.audit.store_check import StoreLedgerRecord, StoreOrder, StoreSlot
    from transactive.ledger.messages.commitments import ResultEntry
    from transactive.market.ledger.batch import chain_slot_number, quantised_entry
    from transactive.market.ledger.config import CLEARING, SETTLEMENT
    from transactive.market.ledger.documents import AnchorDocument, SettlementDocument, read_rows
    from transactive.result import ResultDocument

    records: dict[str, dict[str, StoreLedgerRecord]] = {}
    for kind in (CLEARING, SETTLEMENT):
        for rec in store.ledger_slots(community, kind):
            where = f"slot {rec.slot_start} {kind} record"
            try:
                if kind == CLEARING:
                    a = AnchorDocument.from_json(rec.document)
                    record = StoreLedgerRecord(rec.chain_slot, rec.state, a.order_root, a.result_root, tuple(
                        ResultEntry(r.account, r.energy_wh, r.amount_micro) for r in a.results))
                else:
                    d = SettlementDocument.from_json(rec.document)
                    record = StoreLedgerRecord(rec.chain_slot, rec.state, d.order_root, d.result_root,
                                               input=d.input, lines=tuple(read_rows(d.lines)),
                                               postings=tuple(read_rows(d.postings)),
                                               dso=None if d.dso is None else read_rows([d.dso])[0])
            except (ValueError, KeyError, TypeError) as exc:  # FieldError is a ValueError
                raise ValueError(f"{where}: {exc}") from exc
            records.setdefault(rec.slot_start, {})[kind] = record
    out = []
    for start, kinds in sorted(records.items()):
        orders = tuple(StoreOrder(o.member, o.seq or 0, 0 if o.side == "sellers" else 1,
                                  tuple(quantised_entry(o.entry))) for o in store.orders_in_slot(community, start))
        stored = store.get_result(community, start)
        out.append(StoreSlot(
            community, start, chain_slot_number(community, start, CLEARING), chain_slot_number(community, start,
                                                                                               SETTLEMENT),
            kinds.get(CLEARING), kinds.get(SETTLEMENT), orders,
            None if stored is None else ResultDocument.from_json(stored.document),
            {r.member: r.energy_kwh for r in store.meter_readings(community, start)}))
    return out
