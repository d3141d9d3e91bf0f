"""SQL of the members' chain accounts, their custodial keys **sealed** (AES-256-GCM,
:mod:`transactive.store.sealing`); a mixin of :class:`~transactive.store.sql.SqlStore`.

``chain_accounts.private_key`` holds ``aes256gcm:...`` (schema version 7; a ``TEXT`` column) -- never the key:
:meth:`put_chain_account` seals it with the key-encryption key and every read opens it, so
:class:`~transactive.store.records.ChainAccount` carries the plaintext key in memory only. A store of an older
version holds plaintext hex keys: :meth:`seal_plaintext_keys` (run when the store opens) seals them in place and,
on SQLite, wipes the old bytes from the file (``secure_delete``, ``VACUUM``, a truncating WAL checkpoint). On
PostgreSQL the old row versions stay in the table until a ``VACUUM FULL chain_accounts`` (docs/service.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing
from transactive.store.records import ChainAccount
from transactive.store.sealing import SEALED_PREFIX, KeySealer, is_sealed, load_sealer

log = logging.getLogger(__name__)


class ChainAccountSqlMixin(SqlPlumbing):
    """Chain accounts with sealed custodial keys; :class:`SqlStore` provides the plumbing."""

    engine: Engine
    _sealer: KeySealer | None = None

    def _insert_ignore_many(self, conn: Connection, table: sa.Table,
                            rows: Sequence[Mapping[str, Any]]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _key_sealer(self, *, create: bool) -> KeySealer:
        """The key-encryption key, loaded once (``create``: make the default key file if none is configured)."""
        if self._sealer is None:
            self._sealer = load_sealer(create=create)
        return self._sealer

    def _chain_account(self, row: sa.Row[Any]) -> ChainAccount:
        stored: str | None = row.private_key
        if stored is None:
            return ChainAccount(row.member, row.address, None, bool(row.enrolled))
        if not is_sealed(stored):  # pragma: no cover - sealed when the store opened
            raise RuntimeError(f"the custodial key of {row.member!r} is not sealed")
        cache = self.__dict__.setdefault("_opened_keys", {})  # (member, sealed) -> hex key: each opened once
        key_hex = cache.get((row.member, stored))
        if key_hex is None:
            key_hex = cache[(row.member, stored)] = self._key_sealer(create=False).open(row.member, stored).hex()
        return ChainAccount(row.member, row.address, key_hex, bool(row.enrolled))

    def put_chain_account(self, account: ChainAccount) -> bool:
        sealed = None
        if account.private_key_hex is not None:
            sealed = self._key_sealer(create=True).seal(account.member, bytes.fromhex(account.private_key_hex))
        try:
            with self._write() as conn:
                return self._insert_ignore(conn, t.chain_accounts, {
                    "member": account.member, "address": account.address, "private_key": sealed,
                    "enrolled": account.enrolled})
        except IntegrityError:  # the address is taken by another member
            return False

    def chain_account(self, member: str) -> ChainAccount | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.chain_accounts).where(t.chain_accounts.c.member == member)).first()
        return None if row is None else self._chain_account(row)

    def chain_accounts(self, community: str | None = None) -> list[ChainAccount]:
        query = sa.select(t.chain_accounts)
        if community is not None:
            query = query.join(t.members, t.members.c.id == t.chain_accounts.c.member).where(
                t.members.c.community == community)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.chain_accounts.c.member)).all()
        return [self._chain_account(r) for r in rows]

    def chain_account_addresses(self, community: str) -> dict[str, str]:
        """Member id -> chain address of the community's chain accounts (no custodial key opened)."""
        a, m = t.chain_accounts, t.members
        with self._read() as conn:
            rows = conn.execute(sa.select(a.c.member, a.c.address).join(m, m.c.id == a.c.member)
                                .where(m.c.community == community).order_by(a.c.member)).all()
        return {str(member): str(address) for member, address in rows}

    def put_chain_accounts(self, accounts: Sequence[ChainAccount]) -> None:
        """:meth:`put_chain_account` of each account in one transaction (batch enrolment), each key sealed; an
        account whose member already has one, or whose address another member has, is skipped (as each
        ``INSERT ... ON CONFLICT DO NOTHING`` of one executemany)."""
        rows = []
        for account in accounts:
            sealed = None
            if account.private_key_hex is not None:
                sealed = self._key_sealer(create=True).seal(account.member, bytes.fromhex(account.private_key_hex))
            rows.append({"member": account.member, "address": account.address, "private_key": sealed,
                         "enrolled": account.enrolled})
        with self._write() as conn:  # one executemany (one compiled statement), not one INSERT per account
            self._insert_ignore_many(conn, t.chain_accounts, rows)

    def mark_enrolled(self, member: str | Sequence[str]) -> None:
        members = [member] if isinstance(member, str) else list(member)
        with self._write() as conn:
            for i in range(0, len(members), 500):  # bounded IN lists
                conn.execute(t.chain_accounts.update().where(t.chain_accounts.c.member.in_(members[i:i + 500]))
                             .values(enrolled=True))

    def seal_plaintext_keys(self) -> int:
        """Seal every plaintext custodial key of an older store in place (the migration); how many. Nothing to do
        (and no key-encryption key needed) when there is none."""
        accounts = t.chain_accounts
        plain = sa.and_(accounts.c.private_key.is_not(None), sa.not_(accounts.c.private_key.startswith(SEALED_PREFIX)))
        with self._read() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(accounts).where(plain)).scalar_one() == 0:
                return 0
        sealer = self._key_sealer(create=True)
        sqlite = self.engine.dialect.name == "sqlite"
        with self._write() as conn:
            if sqlite:  # overwrite the freed cells: the old plaintext does not stay in the file
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            rows = conn.execute(sa.select(accounts.c.member, accounts.c.private_key).where(plain)).all()
            for member, text in rows:
                conn.execute(accounts.update().where(accounts.c.member == member).values(
                    private_key=sealer.seal(member, bytes.fromhex(str(text).removeprefix("0x")))))
        if sqlite:  # rebuild the file and empty the WAL, which still hold the old pages
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        log.warning("sealed %d plaintext custodial key(s) with the key-encryption key from %s", len(rows),
                    sealer.source)
        return len(rows)
