"""SQL of the write-ahead transaction intents (schema version 9, :mod:`transactive.ledger.chain.intents`); a mixin
of :class:`~transactive.store.sql.SqlStore`, which is the chain engines' :class:`~transactive.ledger.chain.intents.
TxJournal`. Each write is its own committed transaction (durable when it returns: the intent is on disk before the
transaction is sent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from transactive.ledger.chain.intents import INTENT_STATES, IntentState, TxIntent
from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _intent(row: sa.Row[Any]) -> TxIntent:
    state: IntentState = row.state if row.state in INTENT_STATES else "open"
    return TxIntent(int(row.chain_id), row.tx_hash, row.sender, int(row.nonce), row.raw_tx, row.step, row.slot, state,
                    None if row.block_number is None else int(row.block_number), row.created_at, row.updated_at)


class IntentSqlMixin(SqlPlumbing):
    """Transaction intents; :class:`SqlStore` provides the plumbing."""

    def put_tx_intent(self, intent: TxIntent) -> None:
        """Record ``intent`` as ``open`` (committed before it returns)."""
        now = _now()
        with self._write() as conn:
            conn.execute(t.tx_intents.insert().values(
                chain_id=intent.chain_id, tx_hash=intent.tx_hash, sender=intent.sender, nonce=intent.nonce,
                raw_tx=intent.raw_tx, step=intent.step[:80], slot=intent.slot, state="open", block_number=None,
                created_at=now, updated_at=now))

    def close_tx_intent(self, tx_hash: str, state: IntentState, block_number: int | None) -> None:
        """Record the outcome of the open intent ``tx_hash``."""
        if state not in INTENT_STATES or state == "open":
            raise ValueError(f"state: expected one of {INTENT_STATES[1:]}, got {state!r}")
        table = t.tx_intents
        with self._write() as conn:
            conn.execute(table.update().where(table.c.tx_hash == tx_hash, table.c.state == "open")
                         .values(state=state, block_number=block_number, updated_at=_now()))

    def open_tx_intents(self, chain_id: int) -> list[TxIntent]:
        """The open intents of chain ``chain_id``, oldest first."""
        table = t.tx_intents
        with self._read() as conn:
            rows = conn.execute(sa.select(table).where(table.c.state == "open", table.c.chain_id == chain_id)
                                .order_by(table.c.id))
            return [_intent(r) for r in rows]

    def tx_intents(self, slot: str) -> list[TxIntent]:
        """Every intent acting on the on-chain slot ``slot`` (decimal), oldest first."""
        table = t.tx_intents
        with self._read() as conn:
            return [_intent(r) for r in conn.execute(sa.select(table).where(table.c.slot == slot)
                                                     .order_by(table.c.id))]
