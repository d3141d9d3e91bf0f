"""SQL of the negawatt (demand-response) events, their offers and their metered deliveries (schema version 2):
one row per event (state and document compared-and-set), per member's offer (refused once the event left its
open state: the event's row is locked ``FOR UPDATE`` on PostgreSQL, every writer serialised on SQLite) and per
member's delivery. A mixin of :class:`~transactive.store.sql.SqlStore` (every write commits before it
returns)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from transactive.canonical_json import canonical
from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing
from transactive.store.records import NegawattDeliveryRecord, NegawattEventRecord, NegawattOfferRecord, Outcome


class NegawattSqlMixin(SqlPlumbing):
    """Negawatt events, offers and deliveries; :class:`SqlStore` provides the plumbing."""

    @staticmethod
    def _negawatt_event(row: sa.Row[Any]) -> NegawattEventRecord:
        return NegawattEventRecord(row.community, row.id, row.aggregator, row.state, json.loads(row.document),
                                   row.updated_at)

    def create_negawatt_event(self, event: NegawattEventRecord) -> bool:
        with self._write() as conn:
            return self._insert_ignore(conn, t.negawatt_events, {
                "community": event.community, "id": event.id, "aggregator": event.aggregator, "state": event.state,
                "document": canonical(dict(event.document)), "updated_at": event.updated_at})

    def get_negawatt_event(self, community: str, event_id: str) -> NegawattEventRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.negawatt_events).where(t.negawatt_events.c.community == community,
                                                                  t.negawatt_events.c.id == event_id)).first()
        return None if row is None else self._negawatt_event(row)

    def list_negawatt_events(self, community: str) -> list[NegawattEventRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.negawatt_events).where(t.negawatt_events.c.community == community)
                                .order_by(t.negawatt_events.c.id)).all()
        return [self._negawatt_event(r) for r in rows]

    def update_negawatt_event(self, event: NegawattEventRecord, expected_state: str) -> bool:
        with self._write() as conn:
            done = conn.execute(t.negawatt_events.update().where(
                t.negawatt_events.c.community == event.community, t.negawatt_events.c.id == event.id,
                t.negawatt_events.c.state == expected_state).values(
                    state=event.state, document=canonical(dict(event.document)), updated_at=event.updated_at))
            return bool(done.rowcount)

    @staticmethod
    def _negawatt_offer(row: sa.Row[Any]) -> NegawattOfferRecord:
        return NegawattOfferRecord(row.community, row.event_id, row.member, json.loads(row.entry), row.received_at,
                                   row.seq)

    def put_negawatt_offer(self, offer: NegawattOfferRecord, open_state: str) -> tuple[Outcome, NegawattOfferRecord]:
        with self._write() as conn:
            # FOR UPDATE: a concurrent state change (the clearing) waits for this offer, or this offer sees it
            state = conn.execute(sa.select(t.negawatt_events.c.state).where(
                t.negawatt_events.c.community == offer.community, t.negawatt_events.c.id == offer.event_id)
                .with_for_update()).scalar()
            if state != open_state:
                return Outcome.CLOSED, offer
            row = conn.execute(sa.select(t.negawatt_offers).where(
                t.negawatt_offers.c.community == offer.community, t.negawatt_offers.c.event_id == offer.event_id,
                t.negawatt_offers.c.member == offer.member)).first()
            if row is not None:
                return Outcome.CONFLICT, self._negawatt_offer(row)
            seq = conn.execute(t.negawatt_offers.insert().returning(t.negawatt_offers.c.seq).values(
                community=offer.community, event_id=offer.event_id, member=offer.member,
                entry=canonical(dict(offer.entry)), received_at=offer.received_at)).scalar_one()
            return Outcome.CREATED, NegawattOfferRecord(offer.community, offer.event_id, offer.member, offer.entry,
                                                        offer.received_at, int(seq))

    def negawatt_offers(self, community: str, event_id: str) -> list[NegawattOfferRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.negawatt_offers).where(
                t.negawatt_offers.c.community == community, t.negawatt_offers.c.event_id == event_id)
                .order_by(t.negawatt_offers.c.seq)).all()
        return [self._negawatt_offer(r) for r in rows]

    @staticmethod
    def _negawatt_delivery(row: sa.Row[Any]) -> NegawattDeliveryRecord:
        return NegawattDeliveryRecord(row.community, row.event_id, row.member, row.delivered_kwh,
                                      json.loads(row.detail), row.received_at)

    def put_negawatt_delivery(self, delivery: NegawattDeliveryRecord) -> tuple[Outcome, NegawattDeliveryRecord]:
        with self._write() as conn:
            row = conn.execute(sa.select(t.negawatt_deliveries).where(
                t.negawatt_deliveries.c.community == delivery.community,
                t.negawatt_deliveries.c.event_id == delivery.event_id,
                t.negawatt_deliveries.c.member == delivery.member)).first()
            if row is not None:
                stored = self._negawatt_delivery(row)
                same = stored.delivered_kwh == delivery.delivered_kwh
                return (Outcome.DUPLICATE if same else Outcome.CONFLICT), stored
            conn.execute(t.negawatt_deliveries.insert().values(
                community=delivery.community, event_id=delivery.event_id, member=delivery.member,
                delivered_kwh=delivery.delivered_kwh, detail=canonical(dict(delivery.detail)),
                received_at=delivery.received_at))
            return Outcome.CREATED, delivery

    def negawatt_deliveries(self, community: str, event_id: str) -> list[NegawattDeliveryRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(t.negawatt_deliveries).where(
                t.negawatt_deliveries.c.community == community, t.negawatt_deliveries.c.event_id == event_id)
                .order_by(t.negawatt_deliveries.c.member)).all()
        return [self._negawatt_delivery(r) for r in rows]
