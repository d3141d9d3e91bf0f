"""SQL of the multi-settlement desk (schema version 3): member addresses, bilateral contracts, the listing board
and stored slot settlements. A mixin of :class:`~transactive.store.sql.SqlStore` (same engines, same rules:
every write commits before it returns; checks and writes that must agree run in one transaction, the row
they depend on locked ``FOR UPDATE`` on PostgreSQL and every writer serialised on SQLite).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from transactive.store import _tables as t
from transactive.store._plumbing import SqlPlumbing
from transactive.store.records import (
    ContractRecord,
    ListingOrderRecord,
    ListingRecord,
    MemberAddress,
    MultiSettlementRecord,
    Outcome,
)

PlaceOutcome = Literal["created", "duplicate_id", "closed", "exceeds", "no_listing"]
NOT_REVIEWED = "not reviewed before bidding closed"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


class MultiSqlMixin(SqlPlumbing):
    """The version-3 tables' queries; :class:`SqlStore` provides the plumbing below."""

    # ------------------------------------------------------------------------------------ addresses
    @staticmethod
    def _address(row: sa.Row[Any]) -> MemberAddress:
        return MemberAddress(row.community, row.member, row.address, row.registered_at)

    def put_member_address(self, record: MemberAddress) -> tuple[Outcome, MemberAddress]:
        """``created``; ``duplicate`` (the same address again); ``conflict`` with the record in the way: the
        member's other address, or another member's record of the same address. Addresses are permanent."""
        for _ in range(2):
            try:
                with self._write() as conn:
                    row = conn.execute(sa.select(t.member_addresses).where(
                        sa.or_(t.member_addresses.c.member == record.member,
                               t.member_addresses.c.address == record.address))).first()
                    if row is not None:
                        stored = self._address(row)
                        same = stored.member == record.member and stored.address == record.address
                        return (Outcome.DUPLICATE if same else Outcome.CONFLICT), stored
                    conn.execute(t.member_addresses.insert().values(
                        member=record.member, community=record.community, address=record.address,
                        registered_at=record.registered_at))
                    return Outcome.CREATED, record
            except IntegrityError:  # a concurrent registration won the race: classify again
                continue
        raise RuntimeError("address registration kept conflicting")  # pragma: no cover

    def member_addresses(self, community: str) -> list[MemberAddress]:
        """Ordered by member."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.member_addresses).where(t.member_addresses.c.community == community)
                                .order_by(t.member_addresses.c.member)).all()
        return [self._address(r) for r in rows]

    # ------------------------------------------------------------------------------------ bilateral contracts
    @staticmethod
    def _contract(row: sa.Row[Any]) -> ContractRecord:
        return ContractRecord(row.community, row.id, row.seller, row.buyer, row.proposer, row.state, row.first_slot,
                              row.last_slot, json.loads(row.document), row.seller_signature, row.buyer_signature,
                              row.created_at, row.updated_at)

    def create_contract(self, record: ContractRecord) -> bool:
        """False (and nothing written) when the community already has a contract with that id."""
        with self._write() as conn:
            return self._insert_ignore(conn, t.bilateral_contracts, {
                "community": record.community, "id": record.id, "seller": record.seller, "buyer": record.buyer,
                "proposer": record.proposer, "state": record.state, "first_slot": record.first_slot,
                "last_slot": record.last_slot, "document": _dumps(dict(record.terms)),
                "seller_signature": record.seller_signature, "buyer_signature": record.buyer_signature,
                "created_at": record.created_at, "updated_at": record.updated_at})

    def get_contract(self, community: str, contract_id: str) -> ContractRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.bilateral_contracts).where(
                t.bilateral_contracts.c.community == community, t.bilateral_contracts.c.id == contract_id)).first()
        return None if row is None else self._contract(row)

    def list_contracts(self, community: str, member: str | None = None) -> list[ContractRecord]:
        """The community's contracts (only those ``member`` is party to, when given), ordered by id."""
        c = t.bilateral_contracts.c
        query = sa.select(t.bilateral_contracts).where(c.community == community)
        if member is not None:
            query = query.where(sa.or_(c.seller == member, c.buyer == member))
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.id)).all()
        return [self._contract(r) for r in rows]

    def countersign_contract(self, community: str, contract_id: str, side: Literal["seller", "buyer"],
                             signature: str, at: str) -> bool:
        """Add the missing ``side`` signature: ``proposed`` -> ``signed``; False when it is not missing."""
        c = t.bilateral_contracts.c
        column = c.seller_signature if side == "seller" else c.buyer_signature
        with self._write() as conn:
            done = conn.execute(t.bilateral_contracts.update().where(
                c.community == community, c.id == contract_id, c.state == "proposed", column.is_(None))
                .values({column.name: signature, "state": "signed", "updated_at": at}))
            return bool(done.rowcount)

    def signed_contracts_around(self, community: str, slot_start: str) -> list[ContractRecord]:
        """Signed contracts whose schedule spans ``slot_start`` (first <= slot <= last), ordered by id."""
        c = t.bilateral_contracts.c
        with self._read() as conn:
            rows = conn.execute(sa.select(t.bilateral_contracts).where(
                c.community == community, c.state == "signed", c.first_slot <= slot_start,
                c.last_slot >= slot_start).order_by(c.id)).all()
        return [self._contract(r) for r in rows]

    # ------------------------------------------------------------------------------------ listings
    @staticmethod
    def _listing(row: sa.Row[Any]) -> ListingRecord:
        return ListingRecord(row.community, row.id, row.seller, row.slot_start, row.energy_wh, row.price_per_kwh,
                             row.state, row.created_at)

    @staticmethod
    def _listing_order(row: sa.Row[Any]) -> ListingOrderRecord:
        return ListingOrderRecord(row.community, row.id, row.listing_id, row.buyer, row.energy_wh, row.received_at,
                                  row.decision, tuple(json.loads(row.reason)), row.decided_by, row.decided_at,
                                  row.seq)

    def create_listing(self, record: ListingRecord) -> bool:
        """False (and nothing written) when the community already has a listing with that id."""
        with self._write() as conn:
            return self._insert_ignore(conn, t.listings, {
                "community": record.community, "id": record.id, "seller": record.seller,
                "slot_start": record.slot_start, "energy_wh": record.energy_wh,
                "price_per_kwh": record.price_per_kwh, "state": record.state, "created_at": record.created_at})

    def get_listing(self, community: str, listing_id: str) -> ListingRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.listings).where(t.listings.c.community == community,
                                                           t.listings.c.id == listing_id)).first()
        return None if row is None else self._listing(row)

    def list_listings(self, community: str, slot_start: str | None = None) -> list[ListingRecord]:
        """Ordered by slot, then id."""
        query = sa.select(t.listings).where(t.listings.c.community == community)
        if slot_start is not None:
            query = query.where(t.listings.c.slot_start == slot_start)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.listings.c.slot_start, t.listings.c.id)).all()
        return [self._listing(r) for r in rows]

    @staticmethod
    def _lock_listing(conn: Connection, community: str, listing_id: str) -> sa.Row[Any] | None:
        return conn.execute(sa.select(t.listings).where(
            t.listings.c.community == community, t.listings.c.id == listing_id).with_for_update()).first()

    def place_listing_order(self, order: ListingOrderRecord) -> tuple[PlaceOutcome, ListingOrderRecord, int]:
        """Store a pending order if the listing is ``FOR_SALE`` with at least its energy remaining (pending and
        accepted orders count); answers the outcome, the stored (or given) order and the Wh remaining before it.
        ``duplicate_id``: the stored order with that id is returned."""
        o = t.listing_orders.c
        try:
            with self._write() as conn:
                listing = self._lock_listing(conn, order.community, order.listing_id)
                if listing is None:
                    return "no_listing", order, 0
                row = conn.execute(sa.select(t.listing_orders).where(o.community == order.community,
                                                                     o.id == order.id)).first()
                if row is not None:
                    return "duplicate_id", self._listing_order(row), 0
                if listing.state != "FOR_SALE":
                    return "closed", order, 0
                taken = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(o.energy_wh), 0)).where(
                    o.community == order.community, o.listing_id == order.listing_id,
                    sa.or_(o.decision.is_(None), o.decision == "accepted"))).scalar_one()
                remaining = int(listing.energy_wh) - int(taken)
                if order.energy_wh > remaining:
                    return "exceeds", order, remaining
                seq = conn.execute(t.listing_orders.insert().returning(o.seq).values(
                    community=order.community, id=order.id, listing_id=order.listing_id, buyer=order.buyer,
                    energy_wh=order.energy_wh, decision=None, reason="[]", received_at=order.received_at,
                )).scalar_one()
                return "created", ListingOrderRecord(order.community, order.id, order.listing_id, order.buyer,
                                                     order.energy_wh, order.received_at, seq=int(seq)), remaining
        except IntegrityError:  # the same id inserted concurrently
            stored = self.get_listing_order(order.community, order.id)
            if stored is None:  # pragma: no cover - an integrity error is a competing row
                raise
            return "duplicate_id", stored, 0

    def get_listing_order(self, community: str, order_id: str) -> ListingOrderRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.listing_orders).where(t.listing_orders.c.community == community,
                                                                 t.listing_orders.c.id == order_id)).first()
        return None if row is None else self._listing_order(row)

    def listing_orders(self, community: str, slot_start: str | None = None) -> list[ListingOrderRecord]:
        """Orders in arrival order (of one slot's listings, when given)."""
        o = t.listing_orders.c
        query = sa.select(t.listing_orders).where(o.community == community)
        if slot_start is not None:
            ids = sa.select(t.listings.c.id).where(t.listings.c.community == community,
                                                   t.listings.c.slot_start == slot_start)
            query = query.where(o.listing_id.in_(ids))
        with self._read() as conn:
            rows = conn.execute(query.order_by(o.seq)).all()
        return [self._listing_order(r) for r in rows]

    def decide_listing_order(self, community: str, order_id: str, accepted: bool, reason: tuple[str, ...], *,
                             by: str, at: str) -> bool:
        """Record the DSO's decision on a pending order while its listing is ``FOR_SALE``; False otherwise."""
        o = t.listing_orders.c
        with self._write() as conn:
            row = conn.execute(sa.select(t.listing_orders).where(o.community == community, o.id == order_id)).first()
            if row is None or row.decision is not None:
                return False
            listing = self._lock_listing(conn, community, row.listing_id)
            if listing is None or listing.state != "FOR_SALE":
                return False
            done = conn.execute(t.listing_orders.update().where(
                o.community == community, o.id == order_id, o.decision.is_(None)).values(
                    decision="accepted" if accepted else "rejected", reason=_dumps(list(reason)), decided_by=by,
                    decided_at=at))
            return bool(done.rowcount)

    def close_listings(self, community: str, slot_start: str) -> int:
        """Bidding closes for the slot: its ``FOR_SALE`` listings go to ``RESERVE_NOT_MET`` (from this commit on
        no order is placed or decided on them). Answers how many changed."""
        with self._write() as conn:
            done = conn.execute(t.listings.update().where(
                t.listings.c.community == community, t.listings.c.slot_start == slot_start,
                t.listings.c.state == "FOR_SALE").values(state="RESERVE_NOT_MET"))
            return int(done.rowcount)

    # ------------------------------------------------------------------------------------ settlements
    def finish_multi_settlement(self, record: MultiSettlementRecord, at: str) -> bool:
        """Store the slot's settlement, reject its still-pending orders (``NOT_REVIEWED``) and move its listings
        to ``CLOSE``, atomically; False (nothing written) when the slot is settled already."""
        with self._write() as conn:
            if not self._insert_ignore(conn, t.multi_settlements, {
                    "community": record.community, "slot_start": record.slot_start,
                    "document": _dumps(dict(record.document)), "computed_at": record.computed_at}):
                return False
            ids = sa.select(t.listings.c.id).where(t.listings.c.community == record.community,
                                                   t.listings.c.slot_start == record.slot_start)
            o = t.listing_orders.c
            conn.execute(t.listing_orders.update().where(
                o.community == record.community, o.listing_id.in_(ids), o.decision.is_(None)).values(
                    decision="rejected", reason=_dumps([NOT_REVIEWED]), decided_at=at))
            conn.execute(t.listings.update().where(t.listings.c.community == record.community,
                                                   t.listings.c.slot_start == record.slot_start)
                         .values(state="CLOSE"))
            return True

    def get_multi_settlement(self, community: str, slot_start: str) -> MultiSettlementRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.multi_settlements).where(
                t.multi_settlements.c.community == community,
                t.multi_settlements.c.slot_start == slot_start)).first()
        return None if row is None else MultiSettlementRecord(row.community, row.slot_start,
                                                              json.loads(row.document), row.computed_at)


__all__ = ["NOT_REVIEWED", "MultiSqlMixin", "PlaceOutcome"]
