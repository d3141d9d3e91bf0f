"""The store opened read-only, for an audit (``transactive ledger verify``): nothing is created, migrated,
sealed or written, and every read of :meth:`ReadOnlyStore.snapshot` sees one consistent state.

* SQLite: the file is opened with a ``mode=ro`` URI (``PRAGMA query_only`` besides); when no ``-wal`` file is
  beside it (no process has it open in WAL mode, no crash left committed pages there) also ``immutable=1``, so
  that SQLite does not even create its ``-wal`` and ``-shm`` files in the audited folder. The file's bytes and
  mtime are unchanged afterwards.
* PostgreSQL: every session has ``default_transaction_read_only=on`` and the snapshot is one ``REPEATABLE
  READ``, ``READ ONLY`` transaction.

A file that is not a SQLite database, a database without the service's tables or with a newer schema than this
code: :class:`StoreUnreadable` (the command exits 2).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "transactive.sqlite3").write_bytes(b"not a database")
    >>> try:
    ...     with open_read_only(folder).snapshot():
    ...         pass
    ... except StoreUnreadable as exc:
    ...     print("not a database" in str(exc))
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from transactive.store import _tables as t
from transactive.store.sql import SQLITE_FILE, SqlStore, StoreError, _normalise_url

__all__ = ["ReadOnlyStore", "StoreUnreadable", "StoredAddress", "open_read_only"]


class StoreUnreadable(StoreError):
    """The store cannot be read (not a database, not the service's schema, unreachable)."""


@dataclass(frozen=True)
class StoredAddress:
    """A member's chain account as the store shows it, without its (sealed) key: the auditor needs no
    key-encryption key."""

    member: str
    community: str | None
    role: str
    address: str
    enrolled: bool


def _sqlite_read_only_engine(path: Path) -> Engine:
    immutable = "&immutable=1" if not Path(f"{path}-wal").exists() else ""
    engine = sa.create_engine(f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro{immutable}&uri=true",
                              connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN emitted below: one snapshot per transaction
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _postgres_read_only_engine(url: str) -> Engine:
    return sa.create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"},
                            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})


class ReadOnlyStore(SqlStore):
    """A :class:`~transactive.store.sql.SqlStore` whose reads all run in the one read-only transaction of
    :meth:`snapshot` (outside it: :class:`StoreError`); any write is a :class:`StoreError`."""

    def __init__(self, engine: Engine, name: str) -> None:  # no migration, no sealing: never writes
        self.engine = engine
        self.name = name
        self._conn: Connection | None = None

    @contextmanager
    def snapshot(self) -> Iterator[ReadOnlyStore]:
        """One read-only transaction for every read inside; checks the schema first."""
        try:
            with self.engine.connect() as conn, conn.begin():
                self._conn = conn
                try:
                    self._check_schema(conn)
                    yield self
                finally:
                    self._conn = None
        except SQLAlchemyError as exc:
            raise StoreUnreadable(f"cannot read the store {self.name}: {_reason(exc)}") from exc
        finally:
            self.engine.dispose()

    def _check_schema(self, conn: Connection) -> None:
        try:
            found = conn.execute(sa.select(sa.func.max(t.schema_version.c.version))).scalar()
        except SQLAlchemyError as exc:
            raise StoreUnreadable(f"cannot read the store {self.name}: not a transactive store "
                                  f"({_reason(exc)})") from exc
        if found is None or found > t.SCHEMA_VERSION:
            raise StoreUnreadable(f"cannot read the store {self.name}: schema version {found} (this code reads "
                                  f"up to {t.SCHEMA_VERSION})")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._conn is None:
            raise StoreError("a read-only store is read inside snapshot()")
        yield self._conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        raise StoreError("the store is open read-only")
        yield  # pragma: no cover

    def chain_addresses(self) -> list[StoredAddress]:
        """Every member's chain account (member order) with its member's community and role; keys not read."""
        a, m = t.chain_accounts, t.members
        with self._read() as conn:
            rows = conn.execute(sa.select(a.c.member, a.c.address, a.c.enrolled, m.c.community, m.c.role)
                                .select_from(a.join(m, m.c.id == a.c.member)).order_by(a.c.member)).all()
        return [StoredAddress(r.member, r.community, r.role, r.address, bool(r.enrolled)) for r in rows]


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]


def open_read_only(data_dir: str | Path | None = None, url: str | None = None) -> ReadOnlyStore:
    """The store at ``url`` (``postgresql://...`` or ``sqlite:///path``), else ``DATA_DIR/transactive.sqlite3``,
    read-only (see the module docstring); :class:`StoreUnreadable` if a SQLite file named is missing."""
    if url:
        normal = _normalise_url(url)
        if normal.startswith("sqlite"):
            path = Path(normal.split("///", 1)[-1]) if "///" in normal else None
            if path is None or not path.is_file():
                raise StoreUnreadable(f"cannot read the store {url}: no such SQLite file")
            return ReadOnlyStore(_sqlite_read_only_engine(path), str(path))
        safe = sa.make_url(normal).render_as_string(hide_password=True)
        try:
            return ReadOnlyStore(_postgres_read_only_engine(normal), safe)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreUnreadable(f"cannot open the store {safe}: {exc}") from exc
    if data_dir is None:
        raise ValueError("give a data directory or a database URL")
    path = Path(data_dir) / SQLITE_FILE
    if not path.is_file():
        raise StoreUnreadable(f"cannot read the store {path}: no such file")
    return ReadOnlyStore(_sqlite_read_only_engine(path), str(path))
