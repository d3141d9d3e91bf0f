"""SQL of the meter readings; a mixin of :class:`~transactive.store.sql.SqlStore`.

A member's own reading wins over one reported for it by another member (the DSO, an admin): that one is
stored with its reporter in ``meter_reading_reporters`` and replaced when the member reports a different
value; a member's own reading is never replaced (a different one is a conflict).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from transactive.store import _tables as t
from transactive.store.records import MeterReading, Outcome


class ReadingSqlMixin:
    """Meter readings; :class:`SqlStore` provides the plumbing."""

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    def put_meter_reading(self, reading: MeterReading, reported_by: str | None = None
                          ) -> tuple[Outcome, MeterReading]:
        """Store ``reading`` (``reported_by``: who reports it, the member itself when None). ``created``;
        ``duplicate`` (the same value again); ``conflict`` with the stored reading in the way; the member's
        own reading replacing another's different one is ``created``."""
        own = reported_by is None or reported_by == reading.member
        readings, reporters = t.meter_readings, t.meter_reading_reporters
        key = (readings.c.member == reading.member, readings.c.slot_start == reading.slot_start)
        with self._write() as conn:
            row = conn.execute(sa.select(readings).where(*key)).first()
            if row is not None:
                stored = MeterReading(row.community, row.member, row.slot_start, row.energy_kwh, row.received_at)
                same = stored.energy_kwh == reading.energy_kwh and stored.community == reading.community
                if same:
                    return Outcome.DUPLICATE, stored
                reporter = conn.execute(sa.select(reporters.c.reporter).where(
                    reporters.c.member == reading.member, reporters.c.slot_start == reading.slot_start)).scalar()
                if not own or reporter is None or stored.community != reading.community:
                    return Outcome.CONFLICT, stored
                conn.execute(readings.update().where(*key).values(energy_kwh=reading.energy_kwh,
                                                                  received_at=reading.received_at))
                conn.execute(reporters.delete().where(reporters.c.member == reading.member,
                                                      reporters.c.slot_start == reading.slot_start))
                return Outcome.CREATED, reading
            conn.execute(readings.insert().values(
                community=reading.community, member=reading.member, slot_start=reading.slot_start,
                energy_kwh=reading.energy_kwh, received_at=reading.received_at))
            if not own:
                conn.execute(reporters.insert().values(member=reading.member, slot_start=reading.slot_start,
                                                       reporter=reported_by))
            return Outcome.CREATED, reading

    def meter_readings(self, community: str, slot_start: str) -> list[MeterReading]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.meter_readings).where(
                t.meter_readings.c.community == community, t.meter_readings.c.slot_start == slot_start)
                .order_by(t.meter_readings.c.member)).all()
        return [MeterReading(r.community, r.member, r.slot_start, r.energy_kwh, r.received_at) for r in rows]
