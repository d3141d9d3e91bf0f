"""SQL storage on SQLAlchemy Core 2.x: SQLite (default: a file in the data directory) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed transaction is on disk (fsynced) when
``commit`` returns; write transactions start with ``BEGIN IMMEDIATE`` so that two processes never deadlock.
PostgreSQL is reached by URL with psycopg 3 (``postgresql://...`` is rewritten to ``postgresql+psycopg://``);
its default ``synchronous_commit=on`` gives the same guarantee.

Schema: :mod:`transactive.store._tables`, created by ``metadata.create_all`` and recorded in
``schema_version``; a database with a newer schema than this code is refused.

Example:
    >>> store = SqlStore.open("sqlite://")  # in memory, for a quick look
    >>> store.schema_version()
    11
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from transactive.canonical_json import canonical, canonical_document
from transactive.files import private_dir, private_file
from transactive.store import _tables as t
from transactive.store._dead_letters import DeadLetterSqlMixin
from transactive.store._intents_sql import IntentSqlMixin
from transactive.store._keys import ChainAccountSqlMixin
from transactive.store._multi_sql import MultiSqlMixin
from transactive.store._negawatt_sql import NegawattSqlMixin
from transactive.store._profile_sql import ProfileSqlMixin
from transactive.store._readings import ReadingSqlMixin
from transactive.store.leases import lease_key
from transactive.store.records import (
    Community,
    LedgerSlot,
    Member,
    OrderRecord,
    Outcome,
    ResultRecord,
    Role,
    SideName,
    Slot,
    SlotState,
)

SQLITE_FILE = "transactive.sqlite3"
RETRYABLE_SQLSTATES = ("40P01", "40001")  # deadlock_detected, serialization_failure: the transaction is rolled back


class StoreError(RuntimeError):
    """The database cannot be used (e.g. its schema is newer than this code)."""


def _dumps(value: Any) -> str:
    return canonical(value)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sqlite_url(data_dir: str | Path) -> str:
    """The URL of the default SQLite database in ``data_dir`` (folder 0700 and database file 0600, created if
    missing: the database holds the members' custodial keys)."""
    path = private_dir(Path(data_dir))
    private_file(path / SQLITE_FILE)
    return f"sqlite:///{(path / SQLITE_FILE).resolve()}"


def _normalise_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own is unreliable)
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("transactive_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class SqlStore(MultiSqlMixin, ProfileSqlMixin, DeadLetterSqlMixin, ReadingSqlMixin, ChainAccountSqlMixin,
               IntentSqlMixin, NegawattSqlMixin):
    """The :class:`~transactive.store.protocol.Store` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = threading.Lock()  # one writer per process; the engines serialise processes
        self._migrate()

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Open (and create or migrate) the database at ``url`` (``sqlite:///path`` or ``postgresql://...``)."""
        url = _normalise_url(url)
        if url.startswith("sqlite"):
            return cls(_sqlite_engine(url))
        return cls(sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True))

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> SqlStore:
        """The default: a SQLite file in ``data_dir``."""
        return cls.open(sqlite_url(data_dir))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------------ plumbing
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.connect() as raw:
            conn = raw.execution_options(transactive_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _migrate(self) -> None:
        with self._write() as conn:
            if self.dialect == "postgresql":  # a fleet's processes starting at once: one creates the tables
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lease_key("schema")})
            t.metadata.create_all(conn)
            found = conn.execute(sa.select(sa.func.max(t.schema_version.c.version))).scalar()
            if found is None:
                conn.execute(t.schema_version.insert().values(version=t.SCHEMA_VERSION, applied_at=_now_iso()))
            elif found > t.SCHEMA_VERSION:
                raise StoreError(f"database schema version {found} is newer than this code ({t.SCHEMA_VERSION})")
            elif found < t.SCHEMA_VERSION:  # the changes so far add tables (create_all made them), and:
                if found < 7 and self.dialect == "postgresql":  # 7: a sealed key is longer than the hex one
                    conn.exec_driver_sql("ALTER TABLE chain_accounts ALTER COLUMN private_key TYPE TEXT")
                if found < 11:  # 11: an index on an older table (create_all makes a table's indexes only with it)
                    t.ix_meter_readings_slot.create(conn, checkfirst=True)
                conn.execute(t.schema_version.insert().values(version=t.SCHEMA_VERSION, applied_at=_now_iso()))
        self.seal_plaintext_keys()  # a store of an older version kept custodial keys in plaintext

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(t.schema_version.c.version))).scalar_one())

    def _ignoring_insert(self, table: sa.Table) -> Any:
        """``INSERT INTO table ... ON CONFLICT DO NOTHING`` in this store's dialect (values bound per execution)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()

    def _insert_ignore(self, conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted."""
        key = next(iter(table.primary_key.columns))
        return conn.execute(self._ignoring_insert(table).values(**values).returning(key)).first() is not None

    def _insert_ignore_many(self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`_insert_ignore` of every row, as one executemany of one statement (rows that conflict with a
        stored row or an earlier one of ``rows`` are skipped)."""
        if rows:
            conn.execute(self._ignoring_insert(table), [dict(r) for r in rows])

    # ------------------------------------------------------------------------------------ communities
    @staticmethod
    def _community(row: sa.Row[Any]) -> Community:
        return Community(row.name, row.mechanism, json.loads(row.params), row.slot_minutes, row.created_at)

    def create_community(self, community: Community) -> bool:
        with self._write() as conn:
            return self._insert_ignore(conn, t.communities, {
                "name": community.name, "mechanism": community.mechanism, "params": _dumps(dict(community.params)),
                "slot_minutes": community.slot_minutes, "created_at": community.created_at,
            })

    def get_community(self, name: str) -> Community | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.communities).where(t.communities.c.name == name)).first()
        return None if row is None else self._community(row)

    def list_communities(self) -> list[Community]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.communities).order_by(t.communities.c.name)).all()
        return [self._community(r) for r in rows]

    # ------------------------------------------------------------------------------------ members
    @staticmethod
    def _member(row: sa.Row[Any]) -> Member:
        role: Role = row.role
        return Member(row.id, row.community, role, row.api_key_hash, row.bus)

    def add_member(self, member: Member) -> bool:
        try:
            with self._write() as conn:
                return self._insert_ignore(conn, t.members, {
                    "id": member.id, "community": member.community, "role": member.role,
                    "api_key_hash": member.api_key_hash, "bus": member.bus,
                })
        except IntegrityError:  # the same key hash twice: astronomically unlikely for generated keys
            return False

    def get_member(self, member_id: str) -> Member | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.members).where(t.members.c.id == member_id)).first()
        return None if row is None else self._member(row)

    def member_by_key_hash(self, api_key_hash: str) -> Member | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.members).where(t.members.c.api_key_hash == api_key_hash)).first()
        return None if row is None else self._member(row)

    def list_members(self, community: str, role: str | None = None) -> list[Member]:
        query = sa.select(t.members).where(t.members.c.community == community)
        if role is not None:
            query = query.where(t.members.c.role == role)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.members.c.id)).all()
        return [self._member(r) for r in rows]

    # ------------------------------------------------------------------------------------ orders
    @staticmethod
    def _order(row: sa.Row[Any]) -> OrderRecord:
        side: SideName = row.side
        return OrderRecord(row.id, row.community, row.slot_start, row.member, side, json.loads(row.entry),
                           row.idempotency_key, row.received_at, row.seq)

    def _put_orders_once(self, orders: Sequence[OrderRecord]) -> list[tuple[Outcome, OrderRecord]]:
        """Classify and insert a batch with a constant number of statements (not one query per order)."""
        out: list[tuple[Outcome, OrderRecord]] = []
        starts = sorted({o.slot_start for o in orders})
        with self._write() as conn:
            by_key: dict[tuple[str, str], OrderRecord] = {}
            by_slot: dict[tuple[str, str, str], OrderRecord] = {}
            wanted_keys = {(o.member, o.idempotency_key) for o in orders}
            wanted_slots = {(o.community, o.slot_start, o.member) for o in orders}
            # earlier orders under the same keys (index on the key), and earlier orders in the same slots (the
            # unique (community, slot_start, member) index): index probes per batch, never a table scan
            rows = [*conn.execute(sa.select(t.orders).where(
                        t.orders.c.idempotency_key.in_(sorted({k for _, k in wanted_keys})))),
                    *conn.execute(sa.select(t.orders).where(
                        t.orders.c.community.in_(sorted({c for c, _, _ in wanted_slots})),
                        t.orders.c.slot_start.in_(starts),
                        t.orders.c.member.in_(sorted({m for _, _, m in wanted_slots}))))]
            for row in rows:
                if (row.member, row.idempotency_key) in wanted_keys:
                    by_key[(row.member, row.idempotency_key)] = self._order(row)
                if (row.community, row.slot_start, row.member) in wanted_slots:
                    by_slot[(row.community, row.slot_start, row.member)] = self._order(row)
            open_slot: dict[tuple[str, str], bool] = {
                (r.community, r.start): r.state == SlotState.OPEN.value
                # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers): a concurrent
                # close_slot waits for this batch, so the clearing that follows sees every order stored here
                # in key order, as the slot rows created below: two processes' batches lock shared slots in one
                # order (no deadlock between a fleet's processes; put_orders retries the victim of one anyway)
                for r in conn.execute(sa.select(t.slots.c.community, t.slots.c.start, t.slots.c.state)
                                      .where(t.slots.c.community.in_(sorted({o.community for o in orders})),
                                             t.slots.c.start.in_(starts))
                                      .order_by(t.slots.c.community, t.slots.c.start).with_for_update()).all()}
            minutes: dict[str, int] = {}
            for community, start in sorted({(o.community, o.slot_start) for o in orders
                                            if (o.member, o.idempotency_key) not in by_key
                                            and (o.community, o.slot_start, o.member) not in by_slot}
                                           - set(open_slot)):
                if community not in minutes:
                    minutes[community] = conn.execute(sa.select(t.communities.c.slot_minutes).where(
                        t.communities.c.name == community)).scalar_one()
                self._insert_ignore(conn, t.slots, {"community": community, "start": start,
                                                    "duration_minutes": minutes[community],
                                                    "state": SlotState.OPEN.value, "note": ""})
                open_slot[(community, start)] = True
            fresh: list[OrderRecord] = []
            for order in orders:
                key = (order.member, order.idempotency_key)
                where = (order.community, order.slot_start, order.member)
                if key in by_key:
                    out.append((Outcome.DUPLICATE, by_key[key]))
                    continue
                if where in by_slot:
                    out.append((Outcome.CONFLICT, by_slot[where]))
                    continue
                slot_key = (order.community, order.slot_start)
                if not open_slot[slot_key]:
                    out.append((Outcome.CLOSED, order))
                    continue
                by_key[key] = by_slot[where] = order
                fresh.append(order)
                out.append((Outcome.CREATED, order))
            if fresh:
                # a plain executemany, then the new seqs by the unique id index: INSERT ... RETURNING in
                # parameter order makes SQLAlchemy run one statement per row on SQLite (3x the CPU per batch)
                conn.execute(t.orders.insert(), [
                    {"id": o.id, "community": o.community, "slot_start": o.slot_start, "member": o.member,
                     "side": o.side, "entry": _dumps(dict(o.entry)), "idempotency_key": o.idempotency_key,
                     "received_at": o.received_at} for o in fresh])
                seqs = {row.id: row.seq for row in conn.execute(sa.select(t.orders.c.id, t.orders.c.seq).where(
                    t.orders.c.id.in_([o.id for o in fresh])))}
                out = [(outcome, OrderRecord(o.id, o.community, o.slot_start, o.member, o.side, o.entry,
                                             o.idempotency_key, o.received_at, int(seqs[o.id])))
                       if outcome is Outcome.CREATED else (outcome, o) for outcome, o in out]
        return out

    def put_orders(self, orders: Sequence[OrderRecord]) -> list[tuple[Outcome, OrderRecord]]:
        if not orders:
            return []
        for _attempt in range(3):
            try:
                return self._put_orders_once(orders)
            except IntegrityError:
                # another process inserted a competing row between our check and insert: classify again
                continue
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                    raise
                continue  # PostgreSQL chose this batch as a deadlock's victim (rolled back): run it again
        return self._put_orders_once(orders)

    def order_by_key(self, member: str, idempotency_key: str) -> OrderRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.orders).where(t.orders.c.member == member,
                                                         t.orders.c.idempotency_key == idempotency_key)).first()
        return None if row is None else self._order(row)

    def orders_in_slot(self, community: str, slot_start: str) -> list[OrderRecord]:
        o = t.orders
        with self._read() as conn:
            rows = conn.execute(sa.select(o.c.id, o.c.member, o.c.side, o.c.entry, o.c.idempotency_key,
                                          o.c.received_at, o.c.seq)
                                .where(o.c.community == community, o.c.slot_start == slot_start)
                                .order_by(o.c.seq)).all()
        # the entries parsed as one JSON array (one decoder call, not one per order: 100,000 orders a slot)
        entries = json.loads("[" + ",".join(row[3] for row in rows) + "]")
        return [OrderRecord(oid, community, slot_start, member, side, entry, key, received, seq)
                for (oid, member, side, _, key, received, seq), entry in zip(rows, entries, strict=True)]

    def order_members(self, community: str, slot_start: str) -> set[str]:
        with self._read() as conn:
            return set(conn.execute(sa.select(t.orders.c.member).where(
                t.orders.c.community == community, t.orders.c.slot_start == slot_start)).scalars())

    def orders_of_member(self, member: str, slot_start: str | None = None) -> list[OrderRecord]:
        query = sa.select(t.orders).where(t.orders.c.member == member)
        if slot_start is not None:
            query = query.where(t.orders.c.slot_start == slot_start)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.orders.c.seq)).all()
        return [self._order(r) for r in rows]

    # ------------------------------------------------------------------------------------ slots, results
    @staticmethod
    def _slot(row: sa.Row[Any]) -> Slot:
        return Slot(row.community, row.start, row.duration_minutes, SlotState(row.state), row.note)

    def get_slot(self, community: str, slot_start: str) -> Slot | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.slots).where(t.slots.c.community == community,
                                                        t.slots.c.start == slot_start)).first()
        return None if row is None else self._slot(row)

    def slots(self, community: str, state: SlotState | None = None) -> list[Slot]:
        query = sa.select(t.slots).where(t.slots.c.community == community)
        if state is not None:
            query = query.where(t.slots.c.state == state.value)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.slots.c.start)).all()
        return [self._slot(r) for r in rows]

    def close_slot(self, community: str, slot_start: str, duration_minutes: int) -> bool:
        with self._write() as conn:
            self._insert_ignore(conn, t.slots, {
                "community": community, "start": slot_start, "duration_minutes": duration_minutes,
                "state": SlotState.OPEN.value, "note": ""})
            done = conn.execute(t.slots.update().where(t.slots.c.community == community,
                                                       t.slots.c.start == slot_start,
                                                       t.slots.c.state == SlotState.OPEN.value)
                                .values(state=SlotState.CLOSED.value))
            return bool(done.rowcount)

    def finish_slot(self, slot: Slot, result: ResultRecord | None) -> bool:
        with self._write() as conn:
            self._insert_ignore(conn, t.slots, {
                "community": slot.community, "start": slot.start, "duration_minutes": slot.duration_minutes,
                "state": SlotState.OPEN.value, "note": ""})
            done = conn.execute(t.slots.update().where(t.slots.c.community == slot.community,
                                                       t.slots.c.start == slot.start,
                                                       t.slots.c.state.in_([SlotState.OPEN.value,
                                                                            SlotState.CLOSED.value]))
                                .values(state=slot.state.value, note=slot.note))
            if not done.rowcount:  # UPDATE rowcount is reliable on both engines
                return False
            if result is not None:
                conn.execute(t.results.insert().values(
                    community=result.community, slot_start=result.slot_start,
                    document=json.dumps(result.document, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
                    computed_at=result.computed_at))
            return True

    def get_result(self, community: str, slot_start: str) -> ResultRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.results).where(t.results.c.community == community,
                                                          t.results.c.slot_start == slot_start)).first()
        if row is None:
            return None
        return ResultRecord(row.community, row.slot_start, json.loads(row.document), row.computed_at)

    # ------------------------------------------------------------------------------------ ledger
    def ledger_meta(self, key: str) -> Any:
        with self._read() as conn:
            value = conn.execute(sa.select(t.ledger_meta.c.value).where(t.ledger_meta.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def put_ledger_meta(self, key: str, value: Any) -> Any:
        with self._write() as conn:
            self._insert_ignore(conn, t.ledger_meta, {"key": key, "value": _dumps(value)})
            stored = conn.execute(sa.select(t.ledger_meta.c.value).where(t.ledger_meta.c.key == key)).scalar_one()
        return json.loads(stored)

    @staticmethod
    def _ledger_slot(row: sa.Row[Any]) -> LedgerSlot:
        return LedgerSlot(row.community, row.slot_start, row.kind, int(row.chain_slot), row.state,
                          json.loads(row.document), row.updated_at)

    def get_ledger_slot(self, community: str, slot_start: str, kind: str, *,
                        without: str | None = None) -> LedgerSlot | None:
        slots = t.ledger_slots
        columns: list[Any] = list(slots.c)
        if without is not None and not without.isidentifier():
            raise ValueError(f"without: not a plain key: {without!r}")
        if without is not None and self.dialect == "sqlite":  # SQLite drops the key (e.g. the whole signed batch)
            # before Python parses the rest (JSON1 keeps every other value's text as stored)
            dropped = sa.func.json_remove(slots.c.document, f"$.{without}").label("document")
            columns = [dropped if c.name == "document" else c for c in columns]
        with self._read() as conn:
            row = conn.execute(sa.select(*columns).where(
                slots.c.community == community, slots.c.slot_start == slot_start, slots.c.kind == kind)).first()
        if row is None:
            return None
        record = self._ledger_slot(row)
        if without is not None and without in record.document:  # PostgreSQL: jsonb would re-type numbers (1e300)
            record = replace(record, document={k: v for k, v in record.document.items() if k != without})
        return record

    def ledger_slots(self, community: str, kind: str, state: str | None = None) -> list[LedgerSlot]:
        query = sa.select(t.ledger_slots).where(t.ledger_slots.c.community == community,
                                                t.ledger_slots.c.kind == kind)
        if state is not None:
            query = query.where(t.ledger_slots.c.state == state)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.ledger_slots.c.slot_start)).all()
        return [self._ledger_slot(r) for r in rows]

    def slots_to_anchor(self, community: str, since: str) -> list[str]:
        s, rec = t.slots, t.ledger_slots
        joined = s.outerjoin(rec, sa.and_(rec.c.community == s.c.community, rec.c.slot_start == s.c.start,
                                          rec.c.kind == "clearing"))
        query = (sa.select(s.c.start).select_from(joined)
                 .where(s.c.community == community, s.c.start >= since, s.c.state == SlotState.CLEARED.value,
                        sa.or_(rec.c.state.is_(None), rec.c.state == "batched"))
                 .order_by(s.c.start))
        with self._read() as conn:
            return [str(v) for v in conn.execute(query).scalars()]

    def slots_to_settle(self, community: str, since: str) -> list[str]:
        clearing, settlement = t.ledger_slots.alias("clearing"), t.ledger_slots.alias("settlement")
        joined = clearing.outerjoin(settlement, sa.and_(settlement.c.community == clearing.c.community,
                                                        settlement.c.slot_start == clearing.c.slot_start,
                                                        settlement.c.kind == "settlement"))
        query = (sa.select(clearing.c.slot_start).select_from(joined)
                 .where(clearing.c.community == community, clearing.c.slot_start >= since,
                        clearing.c.kind == "clearing", clearing.c.state == "anchored",
                        sa.or_(settlement.c.state.is_(None),  # a blocked one waits for an admin
                               settlement.c.state.notin_(("settled", "blocked"))))
                 .order_by(clearing.c.slot_start))
        with self._read() as conn:
            return [str(v) for v in conn.execute(query).scalars()]

    def put_ledger_slot(self, record: LedgerSlot, expected_state: str | None) -> bool:
        values = {"chain_slot": str(record.chain_slot), "state": record.state,
                  # the batch or settlement input inside is encoded once per round, not at each of its steps
                  "document": canonical_document(record.document, ("batch", "input")), "updated_at": record.updated_at}
        with self._write() as conn:
            if expected_state is None:
                return self._insert_ignore(conn, t.ledger_slots, {
                    "community": record.community, "slot_start": record.slot_start, "kind": record.kind, **values})
            done = conn.execute(t.ledger_slots.update().where(
                t.ledger_slots.c.community == record.community, t.ledger_slots.c.slot_start == record.slot_start,
                t.ledger_slots.c.kind == record.kind, t.ledger_slots.c.state == expected_state).values(**values))
            return bool(done.rowcount)
