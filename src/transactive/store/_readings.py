"""SQL of the meter readings, the members' meter keys and the readings' disputes; a mixin of
:class:`~transactive.store.sql.SqlStore`.

A member's own reading wins over one reported for it by another member (the DSO, an admin): that one is
stored with its reporter in ``meter_reading_reporters`` and replaced when the member reports a different
value; a member's own reading is never replaced (a different one is a conflict). A reading signed by the
member's meter counts as the member's own, whoever relays it; its signature is kept in
``meter_reading_signatures`` (written in the same transaction). A correction never overwrites a reading: it
is a dispute (``reading_disputes``) whose resolved value :meth:`meter_readings` reads instead.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from transactive.store import _tables as t
from transactive.store.records import MeterKey, MeterReading, Outcome, ReadingDispute


class ReadingSqlMixin:
    """Meter readings, meter keys and disputes; :class:`SqlStore` provides the plumbing."""

    def _write(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:  # pragma: no cover - provided by SqlStore
        raise NotImplementedError

    @staticmethod
    def _sign(conn: Connection, reading: MeterReading) -> None:
        if reading.signature is None or reading.meter is None:
            return
        sigs = t.meter_reading_signatures
        conn.execute(sigs.delete().where(sigs.c.member == reading.member, sigs.c.slot_start == reading.slot_start))
        conn.execute(sigs.insert().values(member=reading.member, slot_start=reading.slot_start, meter=reading.meter,
                                          signature=reading.signature))

    def put_meter_reading(self, reading: MeterReading, reported_by: str | None = None
                          ) -> tuple[Outcome, MeterReading]:
        """Store ``reading`` (``reported_by``: who reports it, the member itself when None; a meter-signed reading
        counts as the member's own). ``created``; ``duplicate`` (the same value again); ``conflict`` with the
        stored reading in the way; the member's own reading replacing another's different one is ``created``."""
        own = reported_by is None or reported_by == reading.member or reading.signature is not None
        readings, reporters = t.meter_readings, t.meter_reading_reporters
        key = (readings.c.member == reading.member, readings.c.slot_start == reading.slot_start)
        with self._write() as conn:
            row = conn.execute(sa.select(readings).where(*key)).first()
            if row is not None:
                stored = MeterReading(row.community, row.member, row.slot_start, row.energy_kwh, row.received_at)
                same = stored.energy_kwh == reading.energy_kwh and stored.community == reading.community
                signed = conn.execute(sa.select(t.meter_reading_signatures.c.meter).where(
                    t.meter_reading_signatures.c.member == reading.member,
                    t.meter_reading_signatures.c.slot_start == reading.slot_start)).scalar() is not None
                if same and (signed or reading.signature is None):
                    return Outcome.DUPLICATE, stored
                reporter = conn.execute(sa.select(reporters.c.reporter).where(
                    reporters.c.member == reading.member, reporters.c.slot_start == reading.slot_start)).scalar()
                replaceable = reporter is not None or (same and not signed)  # another's, or the same value unsigned
                if not own or not replaceable or stored.community != reading.community:
                    return Outcome.CONFLICT, stored
                conn.execute(readings.update().where(*key).values(energy_kwh=reading.energy_kwh,
                                                                  received_at=reading.received_at))
                conn.execute(reporters.delete().where(reporters.c.member == reading.member,
                                                      reporters.c.slot_start == reading.slot_start))
                self._sign(conn, reading)
                return Outcome.CREATED, reading
            conn.execute(readings.insert().values(
                community=reading.community, member=reading.member, slot_start=reading.slot_start,
                energy_kwh=reading.energy_kwh, received_at=reading.received_at))
            if not own:
                conn.execute(reporters.insert().values(member=reading.member, slot_start=reading.slot_start,
                                                       reporter=reported_by))
            self._sign(conn, reading)
            return Outcome.CREATED, reading

    def meter_readings(self, community: str, slot_start: str) -> list[MeterReading]:
        """The slot's readings in member order, as settlement reads them: with the meter's signature, and the
        value of a resolved dispute (``dispute``, the meter's own value in ``metered_kwh``)."""
        r, s = t.meter_readings, t.meter_reading_signatures
        joined = r.outerjoin(s, sa.and_(s.c.member == r.c.member, s.c.slot_start == r.c.slot_start))
        with self._read() as conn:
            rows = conn.execute(sa.select(r, s.c.meter, s.c.signature).select_from(joined).where(
                r.c.community == community, r.c.slot_start == slot_start).order_by(r.c.member)).all()
            resolved = {d.member: d for d in self._disputes(conn, community, slot_start) if d.state == "resolved"}
        out = []
        for row in rows:
            reading = MeterReading(row.community, row.member, row.slot_start, row.energy_kwh, row.received_at,
                                   row.meter, row.signature)
            d = resolved.get(row.member)
            if d is not None and d.metered_kwh == row.energy_kwh:  # (a reading replaced since: not this dispute's)
                reading = MeterReading(reading.community, reading.member, reading.slot_start, d.proposed_kwh,
                                       reading.received_at, reading.meter, reading.signature, d.id, row.energy_kwh)
            out.append(reading)
        return out

    # ------------------------------------------------------------------------------------ meter keys
    def put_meter_key(self, key: MeterKey) -> None:
        """Set (or replace) the member's meter key."""
        with self._write() as conn:
            conn.execute(t.meter_keys.delete().where(t.meter_keys.c.member == key.member))
            conn.execute(t.meter_keys.insert().values(member=key.member, community=key.community,
                                                      address=key.address, set_by=key.set_by, set_at=key.set_at))

    def meter_keys(self, community: str) -> dict[str, MeterKey]:
        """Member id -> its meter key, for the community's members that have one."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.meter_keys).where(t.meter_keys.c.community == community)).all()
        return {r.member: MeterKey(r.member, r.community, r.address, r.set_by, r.set_at) for r in rows}

    # ------------------------------------------------------------------------------------ disputes
    @staticmethod
    def _dispute(row: Any) -> ReadingDispute:
        return ReadingDispute(row.id, row.community, row.member, row.slot_start, row.metered_kwh, row.proposed_kwh,
                              row.reason, row.opened_by, row.opened_at, row.state, json.loads(row.approvals),
                              row.resolution, row.resolved_at, json.loads(row.signatures))

    def _disputes(self, conn: Connection, community: str, slot_start: str | None) -> list[ReadingDispute]:
        d = t.reading_disputes
        query = sa.select(d).where(d.c.community == community)
        if slot_start is not None:
            query = query.where(d.c.slot_start == slot_start)
        rows = conn.execute(query.order_by(d.c.slot_start, d.c.member, d.c.opened_at)).all()
        return [self._dispute(row) for row in rows]

    def put_dispute(self, dispute: ReadingDispute) -> bool:
        """Open a dispute; False (nothing written) when the member's reading of that slot has an open or
        resolved one already."""
        d = t.reading_disputes
        with self._write() as conn:
            busy = conn.execute(sa.select(d.c.id).where(
                d.c.member == dispute.member, d.c.slot_start == dispute.slot_start,
                d.c.state.in_(("open", "resolved")))).first()
            if busy is not None:
                return False
            conn.execute(d.insert().values(**self._dispute_values(dispute)))
            return True

    @staticmethod
    def _dispute_values(dispute: ReadingDispute) -> dict[str, Any]:
        return {"id": dispute.id, "community": dispute.community, "member": dispute.member,
                "slot_start": dispute.slot_start, "metered_kwh": dispute.metered_kwh,
                "proposed_kwh": dispute.proposed_kwh, "reason": dispute.reason, "opened_by": dispute.opened_by,
                "opened_at": dispute.opened_at, "state": dispute.state,
                "approvals": json.dumps(dict(dispute.approvals), sort_keys=True), "resolution": dispute.resolution,
                "resolved_at": dispute.resolved_at,
                "signatures": json.dumps({k: dict(v) for k, v in dispute.signatures.items()}, sort_keys=True)}

    def update_dispute(self, dispute: ReadingDispute, expected_approvals: dict[str, str]) -> bool:
        """Record an approval or a decision, only if the dispute is still open with ``expected_approvals``
        (compare-and-set: two approvers at once both land, one after the other)."""
        d = t.reading_disputes
        values = self._dispute_values(dispute)
        with self._write() as conn:
            done = conn.execute(d.update().where(
                d.c.id == dispute.id, d.c.state == "open",
                d.c.approvals == json.dumps(expected_approvals, sort_keys=True)).values(**values))
            return bool(done.rowcount)

    def disputes(self, community: str, slot_start: str | None = None) -> list[ReadingDispute]:
        with self._read() as conn:
            return self._disputes(conn, community, slot_start)

    def dispute(self, community: str, dispute_id: str) -> ReadingDispute | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.reading_disputes).where(
                t.reading_disputes.c.community == community, t.reading_disputes.c.id == dispute_id)).first()
        return None if row is None else self._dispute(row)
