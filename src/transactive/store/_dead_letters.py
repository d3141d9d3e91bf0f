"""SQL of the dead-letter table and of the delivery attempts (schema version 6); a mixin of
:class:`~transactive.store.sql.SqlStore`. See ``docs/mqtt.md``, "Messages that cannot be processed"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing
from transactive.store.records import DeadLetter

DEAD_LETTER_PAYLOAD_CHARS = 2000


class DeadLetterSqlMixin(SqlPlumbing):
    """Dead letters and delivery attempts; :class:`SqlStore` provides the plumbing."""

    def put_dead_letter(self, source: str, topic: str, reason: str, payload: bytes) -> DeadLetter:
        """Record a message that will not be processed (committed before it returns)."""
        record = DeadLetter(source, topic[:1000], reason[:1000],
                            payload[:DEAD_LETTER_PAYLOAD_CHARS * 4].decode("utf-8", "replace")
                            [:DEAD_LETTER_PAYLOAD_CHARS], len(payload), datetime.now(UTC).isoformat())
        with self._write() as conn:
            row_id = conn.execute(t.dead_letters.insert().values(
                source=record.source, topic=record.topic, reason=record.reason, payload=record.payload,
                payload_bytes=record.payload_bytes, received_at=record.received_at)).inserted_primary_key
        return DeadLetter(record.source, record.topic, record.reason, record.payload, record.payload_bytes,
                          record.received_at, None if row_id is None else int(row_id[0]))

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.dead_letters).order_by(t.dead_letters.c.id.desc()).limit(limit))
            return [DeadLetter(r.source, r.topic, r.reason, r.payload, r.payload_bytes, r.received_at, r.id)
                    for r in rows]

    def count_deliveries(self, digests: Sequence[str]) -> list[int]:
        """Count one more attempt at each message (by digest), in one transaction; the attempts so far, this one
        included, in order."""
        now = datetime.now(UTC).isoformat()
        table = t.delivery_attempts
        for _ in range(2):
            try:
                with self._write() as conn:
                    counts: list[int] = []
                    for digest in digests:
                        found = conn.execute(sa.select(table.c.attempts).where(table.c.digest == digest)
                                             .with_for_update()).scalar()
                        if found is None:
                            conn.execute(table.insert().values(digest=digest, attempts=1, updated_at=now))
                            counts.append(1)
                        else:
                            conn.execute(table.update().where(table.c.digest == digest)
                                         .values(attempts=found + 1, updated_at=now))
                            counts.append(int(found) + 1)
                    return counts
            except IntegrityError:  # another process counted a first attempt between our read and insert
                continue
        raise RuntimeError("delivery attempts: conflicting inserts")  # pragma: no cover - two races in a row
