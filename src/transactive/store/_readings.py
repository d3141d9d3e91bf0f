"""SQL of the meter readings, the members' meter keys and the readings' disputes; a mixin of
:class:`~transactive.store.sql.SqlStore`.

A member's own reading wins over one reported for it by another member (the DSO, an admin): that one is
stored with its reporter in ``meter_reading_reporters`` and replaced when the member reports a different
value; a member's own reading is never replaced (a different one is a conflict). A reading signed by the
member's meter counts as the member's own, whoever relays it; its signature is kept in
``meter_reading_signatures`` (written in the same transaction). A correction never overwrites a reading: it
is a dispute (``reading_disputes``) whose resolved value :meth:`meter_readings` reads instead. A burst of
readings (:meth:`put_meter_readings`) is one write: :func:`reading_outcome` reading by reading, in order.

A slot's readings close as its settlement reads them (:meth:`close_meter_readings`): from that commit on no
reading of the slot is stored (``closed``) and no dispute of it opens or changes, so every stored reading and
resolved correction is in the settlement's input. All of them lock the slot's row of ``meter_reading_slots``
(SQLite: the one writer; PostgreSQL: ``SELECT ... FOR UPDATE``, or the insert of a new row), so a write of
readings or disputes commits wholly before the close (and the settlement's read after it) or sees it closed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing
from transactive.store.records import MeterKey, MeterReading, Outcome, ReadingDispute


class ReadingSqlMixin(SqlPlumbing):
    """Meter readings, meter keys and disputes; :class:`SqlStore` provides the plumbing."""

    def put_meter_reading(self, reading: MeterReading, reported_by: str | None = None
                          ) -> tuple[Outcome, MeterReading]:
        """Store one reading: :meth:`put_meter_readings` of it alone."""
        return self.put_meter_readings([(reading, reported_by)])[0]

    def put_meter_readings(self, readings: Sequence[tuple[MeterReading, str | None]]
                           ) -> list[tuple[Outcome, MeterReading]]:
        """Store a burst of ``(reading, reported_by)`` in one write transaction, each by :func:`reading_outcome`
        as if stored one by one in order (a later reading of the same member and slot sees the earlier one).
        Stops at the first ``conflict``, or at the first reading that would be stored in a slot whose readings are
        closed (:meth:`close_meter_readings`; answered ``closed`` with the reading itself; the same value again
        is still a ``duplicate``): the answer ends with it, the readings before it are stored, none after."""
        with self._write() as conn:
            closed = self._lock_reading_slots(conn, {(r.community, r.slot_start) for r, _ in readings})
            before = _stored_states(conn, {(r.member, r.slot_start) for r, _ in readings})
            after = dict(before)
            out: list[tuple[Outcome, MeterReading]] = []
            for reading, reported_by in readings:
                key = (reading.member, reading.slot_start)
                outcome, answer, state = reading_outcome(after.get(key), reading, reported_by)
                if outcome is Outcome.CREATED and (reading.community, reading.slot_start) in closed:
                    out.append((Outcome.CLOSED, reading))
                    break
                out.append((outcome, answer))
                if outcome is Outcome.CONFLICT:
                    break
                after[key] = state
            _write_states(conn, before, after)
        return out

    def _lock_reading_slots(self, conn: Connection, slots: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Lock the rows of ``slots`` (community, slot start) in ``meter_reading_slots`` (inserted ``open`` when
        missing), in key order; answers the closed ones."""
        s = t.meter_reading_slots
        keys = sorted(slots)
        if not keys:
            return set()
        conn.execute(self._ignoring_insert(s), [{"community": c, "slot_start": start, "state": "open"}
                                                for c, start in keys])
        closed: set[tuple[str, str]] = set()
        for community in sorted({c for c, _ in keys}):
            starts = [start for c, start in keys if c == community]
            for i in range(0, len(starts), 500):
                rows = conn.execute(sa.select(s.c.slot_start, s.c.state).where(
                    s.c.community == community, s.c.slot_start.in_(starts[i:i + 500]))
                    .order_by(s.c.slot_start).with_for_update()).all()
                closed.update((community, row.slot_start) for row in rows if row.state == "closed")
        return closed

    def meter_readings_closed(self, community: str, slot_start: str) -> bool:
        """Whether the slot's readings are closed (:meth:`close_meter_readings`)."""
        s = t.meter_reading_slots
        with self._read() as conn:
            state = conn.execute(sa.select(s.c.state).where(s.c.community == community,
                                                            s.c.slot_start == slot_start)).scalar()
        return state == "closed"

    def close_meter_readings(self, community: str, slot_start: str, *, unless_missing: Collection[str] = ()
                             ) -> tuple[bool, list[MeterReading]]:
        """Close the slot's readings, then read them (:meth:`meter_readings`): from the close's commit on no
        reading of the slot is stored nor dispute changed, so the read after it is final (and takes no write
        lock). When a member of ``unless_missing`` has no reading yet, the slot stays open (nothing written).
        Answers ``(closed, readings)`` (closed: also when it was already)."""
        s = t.meter_reading_slots
        with self._write() as conn:
            closed = bool(self._lock_reading_slots(conn, {(community, slot_start)}))  # a write in progress first
            if not closed and not _missing(conn, community, slot_start, unless_missing):
                conn.execute(s.update().where(s.c.community == community, s.c.slot_start == slot_start)
                             .values(state="closed"))
                closed = True
        return closed, self.meter_readings(community, slot_start)

    def missing_meter_readings(self, community: str, slot_start: str, members: Collection[str]) -> set[str]:
        """The members of ``members`` without a reading of the slot (yet): a read, nothing closed (the check
        :meth:`close_meter_readings` makes of ``unless_missing``)."""
        with self._read() as conn:
            return _missing(conn, community, slot_start, members)

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
        resolved one already, or the slot's readings are closed."""
        d = t.reading_disputes
        with self._write() as conn:
            if self._lock_reading_slots(conn, {(dispute.community, dispute.slot_start)}):
                return False
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
        (compare-and-set: two approvers at once both land, one after the other) and the slot's readings are not
        closed."""
        d = t.reading_disputes
        values = self._dispute_values(dispute)
        with self._write() as conn:
            if self._lock_reading_slots(conn, {(dispute.community, dispute.slot_start)}):
                return False
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


@dataclass(frozen=True)
class StoredReading:
    """A member's stored reading of a slot as the rules see it: the row (without meter and signature), the
    meter's ``(meter, signature)`` when signed, and who reported it when not the member itself."""

    reading: MeterReading
    signed: tuple[str, str] | None = None
    reporter: str | None = None


def reading_outcome(stored: StoredReading | None, reading: MeterReading, reported_by: str | None
                    ) -> tuple[Outcome, MeterReading, StoredReading]:
    """The one rule of storing ``reading`` (``reported_by``: who reports it, the member itself when None; a
    meter-signed reading counts as the member's own) over ``stored``: the outcome, the reading answered and the
    state after. ``created`` (stored anew, or the member's own reading replacing another's, or a signed one
    replacing the same value unsigned); ``duplicate`` (the same value again, signed if the stored one is);
    ``conflict`` with the stored reading in the way (the state unchanged)."""
    own = reported_by is None or reported_by == reading.member or reading.signature is not None
    row = MeterReading(reading.community, reading.member, reading.slot_start, reading.energy_kwh,
                       reading.received_at)
    signature = None if reading.signature is None or reading.meter is None else (reading.meter, reading.signature)
    if stored is None:
        return Outcome.CREATED, reading, StoredReading(row, signature, None if own else reported_by)
    same = stored.reading.energy_kwh == reading.energy_kwh and stored.reading.community == reading.community
    if same and (stored.signed is not None or reading.signature is None):
        return Outcome.DUPLICATE, stored.reading, stored
    replaceable = stored.reporter is not None or (same and stored.signed is None)  # another's, or same unsigned
    if not own or not replaceable or stored.reading.community != reading.community:
        return Outcome.CONFLICT, stored.reading, stored
    return Outcome.CREATED, reading, StoredReading(row, signature or stored.signed, None)


def _stored_states(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], StoredReading]:
    """The stored readings of ``keys`` (member, slot start), read in ``conn`` (3 queries per 500 x 500)."""
    readings, sigs, reporters = t.meter_readings, t.meter_reading_signatures, t.meter_reading_reporters
    slots = sorted({slot for _, slot in keys})
    members = sorted({member for member, _ in keys})
    rows: dict[tuple[str, str], MeterReading] = {}
    signed: dict[tuple[str, str], tuple[str, str]] = {}
    reported: dict[tuple[str, str], str] = {}
    for i in range(0, len(members), 500):
        for j in range(0, len(slots), 500):
            where = (members[i:i + 500], slots[j:j + 500])
            for r in conn.execute(sa.select(readings).where(readings.c.member.in_(where[0]),
                                                            readings.c.slot_start.in_(where[1]))):
                rows[r.member, r.slot_start] = MeterReading(r.community, r.member, r.slot_start, r.energy_kwh,
                                                            r.received_at)
            for r in conn.execute(sa.select(sigs).where(sigs.c.member.in_(where[0]),
                                                        sigs.c.slot_start.in_(where[1]))):
                signed[r.member, r.slot_start] = (r.meter, r.signature)
            for r in conn.execute(sa.select(reporters).where(reporters.c.member.in_(where[0]),
                                                             reporters.c.slot_start.in_(where[1]))):
                reported[r.member, r.slot_start] = r.reporter
    return {key: StoredReading(row, signed.get(key), reported.get(key)) for key, row in rows.items() if key in keys}


def _write_states(conn: Connection, before: Mapping[tuple[str, str], StoredReading],
                  after: Mapping[tuple[str, str], StoredReading]) -> None:
    """Write what changed from ``before`` to ``after``: new readings (with reporters, signatures) as bulk
    inserts, replaced ones as updates."""
    readings, sigs, reporters = t.meter_readings, t.meter_reading_signatures, t.meter_reading_reporters
    new = [state for key, state in after.items() if key not in before]
    changed = [(before[key], state) for key, state in after.items() if key in before and before[key] != state]
    if new:
        conn.execute(readings.insert(), [_row(s.reading) for s in new])
    for old, state in changed:
        r = state.reading
        conn.execute(readings.update().where(readings.c.member == r.member, readings.c.slot_start == r.slot_start)
                     .values(energy_kwh=r.energy_kwh, received_at=r.received_at))
        if old.reporter is not None and state.reporter is None:
            conn.execute(reporters.delete().where(reporters.c.member == r.member,
                                                  reporters.c.slot_start == r.slot_start))
        if old.signed is not None and old.signed != state.signed:
            conn.execute(sigs.delete().where(sigs.c.member == r.member, sigs.c.slot_start == r.slot_start))
    fresh = new + [state for old, state in changed if old.signed != state.signed]
    _insert(conn, sigs, [{"member": s.reading.member, "slot_start": s.reading.slot_start, "meter": s.signed[0],
                          "signature": s.signed[1]} for s in fresh if s.signed is not None])
    _insert(conn, reporters, [{"member": s.reading.member, "slot_start": s.reading.slot_start,
                               "reporter": s.reporter} for s in new if s.reporter is not None])


def _row(reading: MeterReading) -> dict[str, Any]:
    return {"community": reading.community, "member": reading.member, "slot_start": reading.slot_start,
            "energy_kwh": reading.energy_kwh, "received_at": reading.received_at}


def _insert(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    listed = list(rows)
    if listed:
        conn.execute(table.insert(), listed)


def _missing(conn: Connection, community: str, slot_start: str, members: Collection[str]) -> set[str]:
    """The members of ``members`` without a stored reading of the slot: up to 500 looked up by key, more by one
    read of the slot's members (100,000 lookups by key cost SQLite about 3x that read)."""
    r = t.meter_readings
    awaited = set(members)
    if not awaited:
        return set()
    query = sa.select(r.c.member).where(r.c.community == community, r.c.slot_start == slot_start)
    if len(awaited) <= 500:
        query = query.where(r.c.member.in_(sorted(awaited)))
    return awaited - set(conn.execute(query).scalars())
