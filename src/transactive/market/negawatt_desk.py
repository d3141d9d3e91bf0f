"""The negawatt desk: demand-response events over the store, with roles (the API and tests call it).

Rules (``docs/negawatt.md``): an **aggregator** announces, clears and settles its own events (an admin may
clear and settle any); **prosumers and other aggregators** offer (one offer per member and event, until
``offers_close``); a prosumer reports its own meter data for an event, the event's aggregator that of its
offerers, the **DSO** or an admin anyone's.
Clearing first moves the stored state FOR_SALE → RESERVE_NOT_MET (compare-and-set: from that commit on no
offer is stored), then reads the offers in arrival order, clears and stores CLEARED (or CLOSE when void).
A clearing interrupted after the first step is resumed by calling clear again.

Views by role: the event's aggregator, admins and validators see everything; the DSO sees the listing,
winners' quantities and payments, verification and postings, never an offer or a price asked; a prosumer
sees the listing, its own offer and its own rows only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from transactive.errors import MarketError
from transactive.market.operator import Operator
from transactive.settlement import negawatt as nw
from transactive.store import (
    Member,
    NegawattDeliveryRecord,
    NegawattEventRecord,
    NegawattOfferRecord,
    Outcome,
)

log = logging.getLogger(__name__)
MAX_METER_DAYS = 366
SETTLE_GRACE = timedelta(hours=1)  # the cycle settles an event without missing meter data after this
MAX_INTERVAL_KWH = 1e6


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise MarketError("(body)", "must be a JSON object")
    return body


def _intervals(value: object, field: str, n: int) -> list[float]:
    if not isinstance(value, list) or len(value) != n:
        raise MarketError(field, f"must be a list of {n} interval energies (kWh)")
    out: list[float] = []
    for k, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float) or not -1 < item <= MAX_INTERVAL_KWH \
                or not math.isfinite(item) or item < 0:
            raise MarketError(f"{field}[{k}]", f"must be a finite number from 0 to {MAX_INTERVAL_KWH:g}")
        out.append(float(item))
    return out


class NegawattDesk:
    """Demand-response events of the communities run by ``operator`` (its store, clock and members)."""

    def __init__(self, operator: Operator, settle_grace: timedelta = SETTLE_GRACE) -> None:
        self.op = operator
        self.store = operator.store
        self.settle_grace = settle_grace  # market time after the window's end before settling without meter data

    # ------------------------------------------------------------------------------------ loading
    def _record(self, community: str, event_id: str) -> NegawattEventRecord:
        record = self.store.get_negawatt_event(community, event_id)
        if record is None:
            raise MarketError("event", f"no negawatt event {event_id[:64]!r} in {community!r}", "not_found")
        return record

    def _event(self, record: NegawattEventRecord) -> nw.NegawattEvent:
        event = nw.from_document(record.document)
        if event.state in (nw.ListingState.FOR_SALE, nw.ListingState.RESERVE_NOT_MET):
            offers = tuple(nw.Offer(o.member, o.entry["side"], o.entry["energy_kwh"], o.entry["price_per_kwh"],
                                    o.received_at) for o in self.store.negawatt_offers(record.community, record.id))
            event = replace(event, offers=offers)
        return event

    def _save(self, community: str, event: nw.NegawattEvent, expected: nw.ListingState) -> None:
        record = NegawattEventRecord(community, event.spec.id, event.spec.aggregator, event.state.value,
                                     nw.to_document(event), _stamp(self.op.clock.now()))
        if not self.store.update_negawatt_event(record, expected.value):
            raise MarketError("state", "the event changed meanwhile; read it again", "conflict")

    def _owner_or_admin(self, member: Member, event: nw.NegawattEvent, what: str) -> None:
        if member.role != "admin" and member.id != event.spec.aggregator:
            raise MarketError("Authorization", f"only the event's aggregator (or an admin) may {what}", "forbidden")

    # ------------------------------------------------------------------------------------ actions
    def announce(self, member: Member, community: str, body: object) -> dict[str, Any]:
        """A new event of an aggregator; answers the full view."""
        self.op.require(member, ("aggregator",), "announcing a negawatt event")
        c = self.op.community_for(member, community)
        spec = nw.parse_spec(_object(body), member.id, self.op.clock.now())
        event = nw.announce(spec)
        record = NegawattEventRecord(c.name, spec.id, member.id, event.state.value, nw.to_document(event),
                                     _stamp(self.op.clock.now()))
        if not self.store.create_negawatt_event(record):
            raise MarketError("id", f"event {spec.id!r} exists", "conflict")
        return self.view(member, c.name, spec.id)

    def offer(self, member: Member, community: str, event_id: str, body: object) -> dict[str, Any]:
        """Store one offer (validated against the event and the clock)."""
        self.op.require(member, ("prosumer", "aggregator"), "offering a reduction")
        c = self.op.community_for(member, community)
        record = self._record(c.name, event_id)
        event = self._event(record)
        offer = nw.parse_offer(event, member.id, _object(body), self.op.clock.now())
        entry = {"side": offer.side, "energy_kwh": offer.energy_kwh, "price_per_kwh": offer.price_per_kwh}
        outcome, stored = self.store.put_negawatt_offer(
            NegawattOfferRecord(c.name, event_id, member.id, entry, offer.received_at), nw.ListingState.FOR_SALE.value)
        if outcome is Outcome.CONFLICT:
            raise MarketError("member", "you have already offered in this event (one offer per member)", "conflict")
        if outcome is Outcome.CLOSED:
            raise MarketError("offers_close", "the event no longer takes offers", "too_late")
        return {"event": event_id, "member": stored.member, **dict(stored.entry), "received_at": stored.received_at}

    def clear(self, member: Member, community: str, event_id: str) -> dict[str, Any]:
        """Close the bidding and clear (the event's aggregator or an admin; the cycle does it when offers close)."""
        c = self.op.community_for(member, community)
        self._owner_or_admin(member, self._event(self._record(c.name, event_id)), "clear the event")
        self._clear(c.name, event_id, self.op.clock.now())
        return self.view(member, c.name, event_id)

    def _clear(self, community: str, event_id: str, now: datetime) -> None:
        event = self._event(self._record(community, event_id))
        if event.state is nw.ListingState.FOR_SALE:
            if now < datetime.fromisoformat(event.spec.offers_close):
                raise MarketError("offers_close", f"offers are taken until {event.spec.offers_close}", "conflict")
            closing = replace(event, state=nw.ListingState.RESERVE_NOT_MET,
                              history=(*event.history, nw.ListingState.RESERVE_NOT_MET.value))
            self._save(community, closing, nw.ListingState.FOR_SALE)
            event = self._event(self._record(community, event_id))  # offers as committed before the close
        elif event.state is not nw.ListingState.RESERVE_NOT_MET:
            raise MarketError("state", f"the event is {event.state.value}; nothing to clear", "conflict")
        self._save(community, nw.clear(event, now), nw.ListingState.RESERVE_NOT_MET)

    def report_delivery(self, member: Member, community: str, event_id: str,
                        body: object) -> tuple[Outcome, dict[str, Any]]:
        """Meter data of one offering member: verified against its baseline and stored once."""
        self.op.require(member, ("prosumer", "aggregator", "dso", "admin"), "reporting meter data")
        c = self.op.community_for(member, community)
        raw = _object(body)
        for key in raw:
            if key not in ("member", "history_kwh", "eligible", "event_day_kwh"):
                raise MarketError(str(key), "unknown field")
        subject = raw.get("member", member.id)
        event = self._event(self._record(c.name, event_id))
        if member.role in ("prosumer", "aggregator") and member.id not in (subject, event.spec.aggregator):
            raise MarketError("member", "you may report only your own meter (the event's aggregator: its "
                              "offerers' too)", "forbidden")
        if event.state is not nw.ListingState.CLEARED or event.clearing is None:
            raise MarketError("state", f"the event is {event.state.value}; deliveries are taken once CLEARED",
                              "conflict")
        if not any(o.member == subject and o.side == "sell" for o in event.offers):
            raise MarketError("member", "no reduction offer of this member in the event")
        if self.op.clock.now() < datetime.fromisoformat(event.spec.window_end):
            raise MarketError("event", f"the event window ends at {event.spec.window_end}", "conflict")
        per_day = 1440 // event.spec.interval_minutes
        history = raw.get("history_kwh")
        if not isinstance(history, list) or not 1 <= len(history) <= MAX_METER_DAYS:
            raise MarketError("history_kwh", f"must be a list of 1-{MAX_METER_DAYS} days of interval energies")
        days = [_intervals(day, f"history_kwh[{k}]", per_day) for k, day in enumerate(history)]
        eligible = raw.get("eligible", [True] * len(days))
        if not isinstance(eligible, list) or len(eligible) != len(days) \
                or not all(isinstance(flag, bool) for flag in eligible):
            raise MarketError("eligible", "must be one true/false per history day")
        today = _intervals(raw.get("event_day_kwh"), "event_day_kwh", per_day)
        delivered, baseline = nw.verify_delivery(event.spec, days, eligible, today)
        detail = {"baseline_kwh": baseline.baseline_kwh.tolist(), "days": baseline.days, "factor": baseline.factor,
                  "offset_kwh": baseline.offset_kwh, "event_day_kwh": today}
        outcome, stored = self.store.put_negawatt_delivery(NegawattDeliveryRecord(
            c.name, event_id, str(subject), delivered, detail, _stamp(self.op.clock.now())))
        if outcome is Outcome.CONFLICT:
            raise MarketError("member", f"a different delivery ({stored.delivered_kwh} kWh) is already stored",
                              "conflict")
        return outcome, {"event": event_id, "member": stored.member, "delivered_kwh": stored.delivered_kwh,
                         "baseline": dict(stored.detail), "received_at": stored.received_at}

    def settle(self, member: Member, community: str, event_id: str) -> dict[str, Any]:
        """Verify and settle with the stored deliveries (the event's aggregator or an admin; the cycle does it
        once the window has ended and the winners' meter data is in, or the grace time passed). With a ledger,
        the event's postings then move tokens on chain (``EnergyToken.settle``, once)."""
        c = self.op.community_for(member, community)
        event = self._event(self._record(c.name, event_id))
        self._owner_or_admin(member, event, "settle the event")
        self._settle(c.name, event_id, self.op.clock.now())
        return self.view(member, c.name, event_id)

    def _settle(self, community: str, event_id: str, now: datetime) -> None:
        event = self._event(self._record(community, event_id))
        delivered = {d.member: d.delivered_kwh for d in self.store.negawatt_deliveries(community, event_id)}
        self._save(community, nw.settle(event, delivered, now), nw.ListingState.CLEARED)
        self._post(community, event_id)

    def _post(self, community: str, event_id: str) -> None:
        """Move the settled event's tokens on chain (idempotent; nothing without a ledger)."""
        if self.op.ledger is not None:
            from transactive.market.ledger.events import post_event

            post_event(self.op.ledger, community, nw.from_document(self._record(community, event_id).document))

    # ------------------------------------------------------------------------------------ the cycle
    def process_due(self, now: datetime) -> list[str]:
        """Clear every event whose offers have closed; settle every cleared event whose window has ended once
        every winner's meter data is in or :attr:`settle_grace` has passed; post settled events' tokens on chain
        (retried until done). Answers ``community/event`` of what changed; errors are logged and retried."""
        done: list[str] = []
        for community in self.store.list_communities():
            for rec in self.store.list_negawatt_events(community.name):
                key = f"{community.name}/{rec.id}"
                try:
                    if self._step(community.name, rec, now):
                        done.append(key)
                except MarketError as exc:  # a manual step got there first (conflict), or not due
                    log.info("negawatt %s: %s", key, exc.message)
                except Exception:
                    log.exception("negawatt %s failed; retried at the next tick", key)
        return done

    def _step(self, community: str, rec: NegawattEventRecord, now: datetime) -> bool:
        doc = rec.document
        state = nw.ListingState(rec.state)
        if state in (nw.ListingState.FOR_SALE, nw.ListingState.RESERVE_NOT_MET):
            if now < datetime.fromisoformat(str(doc["offers_close"])):
                return False
            self._clear(community, rec.id, now)
            return True
        if state is nw.ListingState.CLEARED:
            end = datetime.fromisoformat(str(doc["window_end"]))
            if now < end:
                return False
            event = nw.from_document(doc)
            assert event.clearing is not None
            winners = {str(r["id"]) for r in event.clearing["sellers"] if float(r["energy_kwh"]) > 0}
            reported = {d.member for d in self.store.negawatt_deliveries(community, rec.id)}
            if not winners <= reported and now < end + self.settle_grace:
                return False
            self._settle(community, rec.id, now)
            return True
        if state is nw.ListingState.SETTLED and self.op.ledger is not None:
            from transactive.market.ledger.events import event_posted

            if not event_posted(self.op.ledger, community, rec.id):
                self._post(community, rec.id)
                return True
        return False

    # ------------------------------------------------------------------------------------ views
    def events(self, member: Member, community: str) -> list[dict[str, Any]]:
        c = self.op.community_for(member, community)
        return [self._summary(nw.from_document(r.document)) for r in self.store.list_negawatt_events(c.name)]

    @staticmethod
    def _summary(event: nw.NegawattEvent) -> dict[str, Any]:
        doc = nw.to_document(event)
        keep = ("id", "aggregator", "event_type", "target_kwh", "price_per_kwh", "penalty_per_kwh", "offers_close",
                "window_start", "window_end", "interval_minutes", "baseline", "state", "history", "note")
        return {k: doc[k] for k in keep}

    def view(self, member: Member, community: str, event_id: str) -> dict[str, Any]:
        """The event as ``member``'s role may see it (``"view"``: ``full``, ``dso`` or ``member``)."""
        c = self.op.community_for(member, community)
        event = self._event(self._record(c.name, event_id))
        if member.role in ("admin", "validator") or member.id == event.spec.aggregator:
            deliveries = [{"member": d.member, "delivered_kwh": d.delivered_kwh, "baseline": dict(d.detail),
                           "received_at": d.received_at} for d in self.store.negawatt_deliveries(c.name, event_id)]
            return {"view": "full", **nw.to_document(event), "deliveries": deliveries}
        out: dict[str, Any] = {"view": "dso" if member.role == "dso" else "member", **self._summary(event)}
        settlement = event.settlement or {}
        if member.role == "dso":
            if event.clearing is not None:
                out["winners"] = [r for r in event.clearing["sellers"] + event.clearing["buyers"]
                                  if r["energy_kwh"] > 0]
            out["settlement"] = event.settlement
            return out
        mine = [o for o in nw.to_document(event)["offers"] if o["member"] == member.id]
        out["offer"] = mine[0] if mine else None
        if event.clearing is not None:
            out["clearing"] = {"price_per_kwh": event.clearing["price_per_kwh"],
                               "rows": [r for r in event.clearing["sellers"] + event.clearing["buyers"]
                                        if r["id"] == member.id]}
        if settlement:
            account = f"member:{member.id}"
            out["settlement"] = {
                key: [row for row in settlement[key] if row.get("id") == member.id]
                for key in ("verification", "secondary", "penalties")} | {
                "postings": [p for p in settlement["postings"] if p["account"] == account]}
        return out
