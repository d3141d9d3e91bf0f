"""The multi-settlement desk: addresses, bilateral contracts, the listing board and slot settlement over the
store and clock, with roles (the API and tests call it). Rules: ``docs/multi-settlement.md`` ("The service").

* **Addresses**: a trading member (prosumer, aggregator) registers one chain address, proving it holds the
  key by signing ``MemberAddress(community, member, account)``; permanent; visible to the community.
* **Bilateral contracts**: one party proposes with its signature, the other countersigns; each signature
  must recover to the signer's registered address (else 422 ``signature``). Proposals and countersignatures
  are taken only before the first scheduled slot starts, so a contract is ``signed`` before all its slots or
  never delivers. Visible to both parties, the DSO, admins and validators.
* **Listings**: a trading member lists surplus for a slot while the slot takes auction orders; other trading
  members order from it (pending); the DSO (or an admin) accepts or rejects each pending order, by hand or by
  a power flow on the community's feeder (the members' buses); at settlement pending orders are rejected.
  Listings are public to the community; an order is visible to its buyer, the listing's seller, the DSO,
  admins and validators.
* **Settlement** (DSO or admin, once the slot has ended): bidding closes (listings ``RESERVE_NOT_MET``), the
  slot settles (:func:`transactive.market.multi_slot.settle_stored_slot`) and the document is stored with the
  listings ``CLOSE`` in one transaction; settling again answers the stored document. A member sees its own
  statement, contracts, listing orders and grid trade; the DSO, admins and validators everything. No view
  shows an auction bid (only the auction's clearing price).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from transactive.crypto.eip712 import Domain
from transactive.crypto.encoding import EncodingError, checksum
from transactive.crypto.signing import SignatureError, recover_address
from transactive.errors import MarketError
from transactive.market.multi_signing import ADDRESS_TYPES, OFF_CHAIN_DOMAIN, address_digest, contract_of
from transactive.market.multi_slot import ContractTerms, stored_contract, stored_slot_document
from transactive.market.operator import MAX_DAYS_AHEAD, TRADING_ROLES, Operator
from transactive.market.slots import parse_slot_start, quotation_closes, window_at
from transactive.settlement.bilateral import CONTRACT_TYPES
from transactive.settlement.listings import (
    Listing,
    PlannedTrade,
    candidate_violations,
    power_flow_check,
    power_flow_state,
)
from transactive.store import (
    Community,
    ContractRecord,
    ListingOrderRecord,
    ListingRecord,
    Member,
    MemberAddress,
    MeterReading,
    MultiSettlementRecord,
    MultiStore,
    Outcome,
)
from transactive.times import iso
from transactive.units import WH_PER_KWH, energy_to_wh

log = logging.getLogger(__name__)
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
SIGNATURE_PATTERN = re.compile(r"^0x[0-9a-fA-F]{130}$")
MAX_CONTRACT_SLOTS = 3000
MAX_CONTRACT_DAYS = 31
MAX_ENERGY_KWH = 1e6
MAX_PRICE_PER_KWH = 1e6
MAX_REASON = 500
OVERSEERS = ("dso", "admin", "validator")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _object(body: object, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise MarketError("(body)", "must be a JSON object")
    for key in body:
        if key not in allowed:
            raise MarketError(str(key)[:64], "unknown field")
    return body


def _required(body: Mapping[str, Any], key: str) -> Any:
    if key not in body or body[key] is None:
        raise MarketError(key, "required")
    return body[key]


def _id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise MarketError(field, "must be 1-64 characters: letters, digits, '_', '.', ':', '-' (not first)")
    return value


def _path_id(value: str, what: str) -> str:
    """A path parameter that cannot name a stored id is simply not found (and never reaches the database)."""
    if not ID_PATTERN.match(value):
        raise MarketError(what, f"no {what} {value[:64]!r}", "not_found")
    return value


def _number(value: object, field: str, *, positive: bool, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MarketError(field, "must be a number")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > maximum:
        raise MarketError(field, f"must be {'> 0' if positive else '>= 0'} and at most {maximum:g}")
    return number


def _signature(value: object, field: str = "signature") -> bytes:
    if not isinstance(value, str) or not SIGNATURE_PATTERN.match(value):
        raise MarketError(field, "must be a 65-byte signature as 0x-hex (132 characters)")
    return bytes.fromhex(value[2:])


def _check_signed(digest: bytes, signature: bytes, address: str, field: str = "signature") -> None:
    try:
        signed_by = recover_address(digest, signature)
    except SignatureError as exc:
        raise MarketError(field, f"not a valid signature ({exc})") from None
    if signed_by != address:
        raise MarketError(field, f"signed by {signed_by}, not by your registered address {address}")


class MultiDesk:
    """Bilateral contracts and the listing board of the communities run by ``operator``.

    ``domain``: the EIP-712 domain members sign in; ``feeder``: the network of the DSO's power-flow review.
    """

    def __init__(self, operator: Operator, store: MultiStore, domain: Domain | None = None,
                 feeder: str | None = None) -> None:
        self.op = operator
        self.store = store
        # the chain's domain (chain id and market-slots contract) when the service runs a ledger
        ledger = operator.ledger
        self.domain = domain if domain is not None else OFF_CHAIN_DOMAIN if ledger is None else ledger.domain
        self.feeder = feeder
        self._network: Any = None  # the feeder (a FlowModel, else its pandapower network), loaded on the first review
        self._review_lock = threading.Lock()  # one power-flow review at a time: each sees the earlier ones
        self._settle_lock = threading.Lock()

    def _now(self) -> datetime:
        return self.op.clock.now()

    def _party(self, community: Community, member_id: object, field: str) -> Member:
        ok = isinstance(member_id, str) and ID_PATTERN.match(member_id)
        member = self.store.get_member(member_id) if ok and isinstance(member_id, str) else None
        if member is None or member.community != community.name or member.role not in TRADING_ROLES:
            raise MarketError(field, "must be a prosumer or aggregator of this community")
        return member

    def _address(self, community: str, member: str, field: str) -> str:
        for a in self.store.member_addresses(community):
            if a.member == member:
                return a.address
        raise MarketError(field, f"{member} has registered no address (POST /communities/{community}/addresses)",
                          "conflict")

    # ------------------------------------------------------------------------------------ addresses
    def signing(self, member: Member, community: str) -> dict[str, Any]:
        """What clients sign: the domain and the two message types."""
        self.op.community_for(member, community)
        return {"domain": self.domain.as_dict(),
                "types": {name: [{"name": n, "type": t} for n, t in fields]
                          for name, fields in {**ADDRESS_TYPES, **CONTRACT_TYPES}.items()},
                "slot_number": "Unix time in seconds of the slot start"}

    def register_address(self, member: Member, community: str, body: object) -> tuple[Outcome, dict[str, Any]]:
        self.op.require(member, TRADING_ROLES, "registering an address")
        c = self.op.community_for(member, community)
        raw = _object(body, ("address", "signature"))
        address = _required(raw, "address")
        try:
            if not isinstance(address, str):
                raise TypeError(address)
            account = checksum(address)
        except (EncodingError, ValueError, TypeError):
            raise MarketError("address", "must be a 20-byte hex address (0x + 40 hex digits)") from None
        _check_signed(address_digest(c.name, member.id, account, self.domain),
                      _signature(_required(raw, "signature")), account)
        outcome, stored = self.store.put_member_address(MemberAddress(c.name, member.id, account,
                                                                      _stamp(self._now())))
        if outcome is Outcome.CONFLICT:
            message = ("you have registered another address" if stored.member == member.id
                       else "that address belongs to another member")
            raise MarketError("address", f"{message} ({stored.address}); addresses are permanent", "conflict")
        return outcome, {"member": stored.member, "address": stored.address, "registered_at": stored.registered_at}

    def addresses(self, member: Member, community: str) -> list[dict[str, Any]]:
        c = self.op.community_for(member, community)
        return [{"member": a.member, "address": a.address} for a in self.store.member_addresses(c.name)]

    # ------------------------------------------------------------------------------------ bilateral contracts
    def _slot_starts(self, c: Community, raw: Mapping[str, Any]) -> list[str]:
        value = _required(raw, "slot_starts")
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_CONTRACT_SLOTS:
            raise MarketError("slot_starts", f"must be a list of 1-{MAX_CONTRACT_SLOTS} slot starts")
        starts = [parse_slot_start(v, c.slot_minutes, f"slot_starts[{k}]") for k, v in enumerate(value)]
        for k in range(1, len(starts)):
            if starts[k] <= starts[k - 1]:
                raise MarketError(f"slot_starts[{k}]", "must be strictly increasing")
        now = self._now()
        if starts[0] <= now:
            raise MarketError("slot_starts[0]", "must be in the future: a contract is signed before its first slot",
                              "too_late")
        if starts[-1] - now > timedelta(days=MAX_CONTRACT_DAYS):
            raise MarketError(f"slot_starts[{len(starts) - 1}]", f"more than {MAX_CONTRACT_DAYS} days ahead")
        return [iso(s) for s in starts]

    def propose(self, member: Member, community: str, body: object) -> dict[str, Any]:
        """A contract proposed and signed by one party (the seller or the buyer)."""
        self.op.require(member, TRADING_ROLES, "proposing a bilateral contract")
        c = self.op.community_for(member, community)
        raw = _object(body, ("id", "seller", "buyer", "slot_starts", "energy_kwh_per_slot", "price_per_kwh", "nonce",
                             "signature"))
        contract_id = _id(_required(raw, "id"), "id")
        seller = self._party(c, _required(raw, "seller"), "seller")
        buyer = self._party(c, _required(raw, "buyer"), "buyer")
        if seller.id == buyer.id:
            raise MarketError("buyer", "must differ from the seller")
        if member.id not in (seller.id, buyer.id):
            raise MarketError("seller", "you must be the seller or the buyer", "forbidden")
        starts = self._slot_starts(c, raw)
        energy = _number(_required(raw, "energy_kwh_per_slot"), "energy_kwh_per_slot", positive=True,
                         maximum=MAX_ENERGY_KWH)
        price = _number(_required(raw, "price_per_kwh"), "price_per_kwh", positive=False, maximum=MAX_PRICE_PER_KWH)
        nonce = raw.get("nonce", 0)
        if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce < 2**63:
            raise MarketError("nonce", "must be an integer from 0 to 2^63 - 1")
        signature = _signature(_required(raw, "signature"))
        addresses = (self._address(c.name, seller.id, "seller"), self._address(c.name, buyer.id, "buyer"))
        terms = {"slot_starts": starts, "energy_kwh_per_slot": energy, "price_per_kwh": price, "nonce": nonce}
        contract = contract_of(contract_id, terms, *addresses)
        side = "seller" if member.id == seller.id else "buyer"
        _check_signed(contract.digest(self.domain), signature, addresses[0 if side == "seller" else 1])
        now = _stamp(self._now())
        hex_signature = "0x" + signature.hex()
        record = ContractRecord(
            c.name, contract_id, seller.id, buyer.id, member.id, "proposed", starts[0], starts[-1],
            ContractTerms(tuple(starts), contract.slots, contract.energy_wh_per_slot, price, nonce, contract.seller,
                          contract.buyer).to_json(),
            hex_signature if side == "seller" else None, hex_signature if side == "buyer" else None, now, now)
        if not self.store.create_contract(record):
            raise MarketError("id", f"contract {contract_id!r} exists", "conflict")
        return self._contract_json(record)

    def _contract_record(self, member: Member, community: str, contract_id: str) -> ContractRecord:
        c = self.op.community_for(member, community)
        record = self.store.get_contract(c.name, _path_id(contract_id, "contract"))
        if record is None or (member.role not in OVERSEERS and member.id not in (record.seller, record.buyer)):
            raise MarketError("contract", f"no contract {contract_id[:64]!r} of yours", "not_found")
        return record

    def countersign(self, member: Member, community: str, contract_id: str, body: object) -> dict[str, Any]:
        """The other party's signature: the contract becomes ``signed``."""
        self.op.require(member, TRADING_ROLES, "signing a bilateral contract")
        record = self._contract_record(member, community, contract_id)
        raw = _object(body, ("signature",))
        signature = _signature(_required(raw, "signature"))
        if record.state != "proposed":
            raise MarketError("state", f"the contract is {record.state}", "conflict")
        side: Literal["seller", "buyer"] = "seller" if member.id == record.seller else "buyer"
        if (record.seller_signature if side == "seller" else record.buyer_signature) is not None:
            raise MarketError("signature", "you have signed already; the other party countersigns", "conflict")
        if datetime.fromisoformat(record.first_slot) <= self._now():
            raise MarketError("slot_starts[0]", "the first slot has started: the contract can no longer be signed",
                              "too_late")
        _check_signed(stored_contract(record).digest(self.domain), signature, ContractTerms.of(record).address_of(side))
        if not self.store.countersign_contract(record.community, record.id, side, "0x" + signature.hex(),
                                               _stamp(self._now())):
            raise MarketError("state", "the contract changed meanwhile; read it again", "conflict")
        return self.contract(member, community, contract_id)

    @staticmethod
    def _contract_json(r: ContractRecord) -> dict[str, Any]:
        t = ContractTerms.of(r)
        return {"id": r.id, "community": r.community, "seller": r.seller, "buyer": r.buyer, "proposer": r.proposer,
                "state": r.state, "slot_starts": list(t.slot_starts), "slots": list(t.slots),
                "energy_kwh_per_slot": t.energy_wh_per_slot / WH_PER_KWH, "price_per_kwh": t.price_per_kwh,
                "nonce": t.nonce, "seller_address": t.seller_address, "buyer_address": t.buyer_address,
                "seller_signature": r.seller_signature, "buyer_signature": r.buyer_signature,
                "created_at": r.created_at, "updated_at": r.updated_at}

    def contract(self, member: Member, community: str, contract_id: str) -> dict[str, Any]:
        return self._contract_json(self._contract_record(member, community, contract_id))

    def contracts(self, member: Member, community: str) -> list[dict[str, Any]]:
        """Your contracts (parties); all of the community's (DSO, admin, validator)."""
        c = self.op.community_for(member, community)
        mine = None if member.role in OVERSEERS else member.id
        return [self._contract_json(r) for r in self.store.list_contracts(c.name, mine)]

    # ------------------------------------------------------------------------------------ listings
    def _takes_orders(self, c: Community, start: datetime, field: str) -> None:
        now = self._now()
        if start - now > timedelta(days=MAX_DAYS_AHEAD):
            raise MarketError(field, f"more than {MAX_DAYS_AHEAD} days ahead")
        if not window_at(start, c.slot_minutes, now).phase.takes_orders:
            raise MarketError(field, f"bidding closed at {iso(quotation_closes(start, c.slot_minutes))}", "too_late")

    def create_listing(self, member: Member, community: str, body: object) -> dict[str, Any]:
        """A seller lists surplus energy for a slot (while the slot takes orders)."""
        self.op.require(member, TRADING_ROLES, "listing energy")
        c = self.op.community_for(member, community)
        raw = _object(body, ("id", "slot_start", "energy_kwh", "price_per_kwh"))
        listing_id = _id(_required(raw, "id"), "id")
        start = parse_slot_start(_required(raw, "slot_start"), c.slot_minutes)
        energy = _number(_required(raw, "energy_kwh"), "energy_kwh", positive=True, maximum=MAX_ENERGY_KWH)
        price = _number(_required(raw, "price_per_kwh"), "price_per_kwh", positive=False, maximum=MAX_PRICE_PER_KWH)
        try:
            Listing(listing_id, member.id, 0, energy, price)
        except MarketError as exc:
            raise MarketError(exc.field.removeprefix("listing."), exc.message, exc.kind) from None
        self._takes_orders(c, start, "slot_start")
        record = ListingRecord(c.name, listing_id, member.id, iso(start), energy_to_wh(energy), price, "FOR_SALE",
                               _stamp(self._now()))
        if not self.store.create_listing(record):
            raise MarketError("id", f"listing {listing_id!r} exists", "conflict")
        return self._listing_json(record, [])

    def _listing_json(self, r: ListingRecord, orders: list[ListingOrderRecord]) -> dict[str, Any]:
        taken = sum(o.energy_wh for o in orders if o.listing_id == r.id and o.decision != "rejected")
        return {"id": r.id, "community": r.community, "seller": r.seller, "slot_start": r.slot_start,
                "energy_kwh": r.energy_wh / WH_PER_KWH, "price_per_kwh": r.price_per_kwh, "state": r.state,
                "remaining_kwh": max(r.energy_wh - taken, 0) / WH_PER_KWH if r.state == "FOR_SALE" else 0.0,
                "created_at": r.created_at}

    def _slot_filter(self, c: Community, slot_start: str | None) -> str | None:
        return None if slot_start is None else iso(parse_slot_start(slot_start, c.slot_minutes))

    def listings(self, member: Member, community: str, slot_start: str | None = None) -> list[dict[str, Any]]:
        """The board (public to the community): listings with their state and energy remaining."""
        c = self.op.community_for(member, community)
        start = self._slot_filter(c, slot_start)
        orders = self.store.listing_orders(c.name, start)
        return [self._listing_json(r, orders) for r in self.store.list_listings(c.name, start)]

    def place_order(self, member: Member, community: str, listing_id: str, body: object) -> dict[str, Any]:
        """A buyer orders part or all of a listing at its price (pending until the DSO decides)."""
        self.op.require(member, TRADING_ROLES, "ordering from a listing")
        c = self.op.community_for(member, community)
        raw = _object(body, ("id", "energy_kwh"))
        order_id = _id(_required(raw, "id"), "id")
        energy = _number(_required(raw, "energy_kwh"), "energy_kwh", positive=True, maximum=MAX_ENERGY_KWH)
        if abs(energy * WH_PER_KWH - energy_to_wh(energy)) > 1e-6:
            raise MarketError("energy_kwh", "must be a whole number of Wh")
        listing = self.store.get_listing(c.name, _path_id(listing_id, "listing"))
        if listing is None:
            raise MarketError("listing", f"no listing {listing_id[:64]!r}", "not_found")
        if listing.seller == member.id:
            raise MarketError("listing", "a seller cannot buy its own listing", "forbidden")
        self._takes_orders(c, datetime.fromisoformat(listing.slot_start), "listing")
        outcome, stored, remaining = self.store.place_listing_order(ListingOrderRecord(
            c.name, order_id, listing.id, member.id, energy_to_wh(energy), _stamp(self._now())))
        if outcome == "duplicate_id":
            raise MarketError("id", f"order {order_id!r} exists", "conflict")
        if outcome == "closed":
            raise MarketError("listing", "bidding has closed for the listing's slot", "too_late")
        if outcome == "exceeds":
            raise MarketError("energy_kwh", f"exceeds the {remaining} Wh remaining on the listing", "conflict")
        if outcome == "no_listing":  # pragma: no cover - checked above; listings are never deleted
            raise MarketError("listing", f"no listing {listing_id[:64]!r}", "not_found")
        return self._order_json(stored, listing)

    @staticmethod
    def _order_json(o: ListingOrderRecord, listing: ListingRecord) -> dict[str, Any]:
        return {"id": o.id, "listing_id": o.listing_id, "seller": listing.seller, "buyer": o.buyer,
                "slot_start": listing.slot_start, "energy_kwh": o.energy_wh / WH_PER_KWH,
                "price_per_kwh": listing.price_per_kwh,
                "state": "pending" if o.decision is None else o.decision, "reason": list(o.reason),
                "decided_by": o.decided_by, "decided_at": o.decided_at, "received_at": o.received_at}

    def orders(self, member: Member, community: str, slot_start: str | None = None) -> list[dict[str, Any]]:
        """Orders you placed or received as seller; all (DSO, admin, validator)."""
        c = self.op.community_for(member, community)
        start = self._slot_filter(c, slot_start)
        listings = {r.id: r for r in self.store.list_listings(c.name, start)}
        return [self._order_json(o, listings[o.listing_id]) for o in self.store.listing_orders(c.name, start)
                if member.role in OVERSEERS or member.id in (o.buyer, listings[o.listing_id].seller)]

    def review(self, member: Member, community: str, order_id: str, body: object) -> dict[str, Any]:
        """The DSO decides a pending order: ``accept``, ``reject`` (with a ``reason``) or ``power_flow`` (accepted
        unless the slot's accepted trades plus this one violate the feeder's limits: rejected with them)."""
        self.op.require(member, ("dso", "admin"), "reviewing listing orders")
        c = self.op.community_for(member, community)
        raw = _object(body, ("decision", "reason"))
        decision = _required(raw, "decision")
        if decision not in ("accept", "reject", "power_flow"):
            raise MarketError("decision", 'must be "accept", "reject" or "power_flow"')
        reason_text = raw.get("reason")
        if reason_text is not None and (not isinstance(reason_text, str) or len(reason_text) > MAX_REASON
                                        or not reason_text.isprintable()):
            raise MarketError("reason", f"must be printable text of at most {MAX_REASON} characters")
        order = self.store.get_listing_order(c.name, _path_id(order_id, "order"))
        if order is None:
            raise MarketError("order", f"no listing order {order_id[:64]!r}", "not_found")
        listing = self.store.get_listing(c.name, order.listing_id)
        assert listing is not None
        if order.decision is not None:
            raise MarketError("order", f"already {order.decision}", "conflict")
        with self._review_lock:
            if decision == "power_flow":
                reason = self._power_flow(c, listing, order)
            elif decision == "reject":
                reason = (reason_text or "rejected by the DSO",)
            else:
                reason = () if reason_text is None else (reason_text,)
            accepted = decision == "accept" or (decision == "power_flow" and not reason)
            if not self.store.decide_listing_order(c.name, order.id, accepted, reason, by=member.id,
                                                   at=_stamp(self._now())):
                raise MarketError("order", "the order or its listing changed meanwhile (decided, or bidding closed)",
                                  "conflict")
        stored = self.store.get_listing_order(c.name, order.id)
        assert stored is not None
        return self._order_json(stored, listing)

    def _flow_inputs(self, c: Community, listing: ListingRecord, order: ListingOrderRecord
                     ) -> tuple[Any, dict[str, str], list[PlannedTrade]]:
        """The feeder's network, every member's bus on it, and the slot's accepted trades followed by
        ``order`` (last): what the DSO's power flow of ``order`` runs on."""
        from transactive.grid.errors import GridError
        from transactive.grid.feeder import DEFAULT_FEEDER, _bus_labels, load_network
        from transactive.grid.newton import flow_model

        if self._network is None:  # loaded once: the prepared Newton-Raphson model (the default feeder's is
            try:  # bundled: no pandapower import), else the pandapower network (check_trades never modifies it)
                name = self.feeder or DEFAULT_FEEDER
                self._network = flow_model(name) or load_network(name)
            except GridError as exc:  # pragma: no cover - a misconfigured service
                raise MarketError("decision", f"the feeder cannot be loaded: {exc}", "conflict") from None
        net = self._network
        labels = set(getattr(net, "bus_names", None) or _bus_labels(net))
        buses = {m.id: m.bus for m in self.store.list_members(c.name)}
        for who in (listing.seller, order.buyer):
            if buses.get(who) not in labels:
                raise MarketError("decision", f"{who}'s bus ({buses.get(who)}) is not on the feeder; decide by hand",
                                  "conflict")
        listings = {r.id: r for r in self.store.list_listings(c.name, listing.slot_start)}
        accepted = [PlannedTrade(o.id, listings[o.listing_id].seller, o.buyer, o.energy_wh / WH_PER_KWH)
                    for o in self.store.listing_orders(c.name, listing.slot_start) if o.decision == "accepted"]
        bus_of = {k: str(v) for k, v in buses.items() if v in labels}
        return net, bus_of, [*accepted, PlannedTrade(order.id, listing.seller, order.buyer,
                                                     order.energy_wh / WH_PER_KWH)]

    def _power_flow(self, c: Community, listing: ListingRecord, order: ListingOrderRecord) -> tuple[str, ...]:
        net, bus_of, trades = self._flow_inputs(c, listing, order)
        return power_flow_check(net, bus_of, slot_hours=c.slot_minutes / 60)(trades)

    def power_flow_view(self, member: Member, community: str, order_id: str, lines: int = 5) -> dict[str, Any]:
        """What the DSO's power-flow decision on an order would see (DSO, admin; changes nothing): the slot's
        accepted trades plus this order on the feeder: whether it fits, the violations it would cause, the
        lowest and highest voltage (pu), the two parties' bus voltages, the ``lines`` most loaded lines (%)
        and the DSO's limits."""
        self.op.require(member, ("dso", "admin"), "a power-flow check")
        c = self.op.community_for(member, community)
        order = self.store.get_listing_order(c.name, _path_id(order_id, "order"))
        if order is None:
            raise MarketError("order", f"no listing order {order_id[:64]!r}", "not_found")
        listing = self.store.get_listing(c.name, order.listing_id)
        assert listing is not None
        net, bus_of, trades = self._flow_inputs(c, listing, order)
        with self._review_lock:
            result = power_flow_state(net, bus_of, trades, slot_hours=c.slot_minutes / 60)
        state = result.initial  # every trade, this order included, before any curtailment
        index = {b: k for k, b in enumerate(result.bus_names)}

        def finite(value: Any) -> float | None:
            return float(value) if math.isfinite(float(value)) else None

        loads = sorted(((finite(p), name) for name, p in zip(result.line_names, state.line_loading_percent,
                                                             strict=True)), key=lambda x: -(x[0] or 0.0))
        parties = [(listing.seller, "seller"), (order.buyer, "buyer")]
        return {
            "order": order.id, "converged": bool(state.converged),
            "violations": list(candidate_violations(result, len(trades) - 1)),
            "accepted_trades": len(trades) - 1,
            "min_vm_pu": finite(state.min_vm_pu), "max_vm_pu": finite(state.max_vm_pu),
            "max_line_loading_percent": finite(state.max_line_loading_percent),
            "buses": [{"member": who, "role": role, "bus": bus_of[who],
                       "vm_pu": finite(state.vm_pu[index[bus_of[who]]]) if bus_of[who] in index else None}
                      for who, role in parties],
            "lines": [{"line": str(name), "loading_percent": p} for p, name in loads[:lines]],
            "limits": {"v_min_pu": result.policy.v_min_pu, "v_max_pu": result.policy.v_max_pu,
                       "max_line_loading_percent": result.policy.max_line_loading_percent},
        }

    # ------------------------------------------------------------------------------------ settlement
    def settle(self, member: Member, community: str, slot_start: str) -> dict[str, Any]:
        """Settle an ended slot through the four stages (DSO or admin; idempotent)."""
        self.op.require(member, ("dso", "admin"), "settling a slot")
        c = self.op.community_for(member, community)
        start = parse_slot_start(slot_start, c.slot_minutes)
        if self._now() < start + timedelta(minutes=c.slot_minutes):
            raise MarketError("slot_start", "the slot has not ended yet", "conflict")
        if self.op.ledger is not None:  # the one settlement: the ledger's, on chain (idempotent with the cycle)
            self.op.ledger.settle_once(c.name, iso(start), self._now())
            return self.statement(member, community, slot_start)
        self._settle_off_chain(c, iso(start))
        return self.statement(member, community, slot_start)

    def process_due(self, now: datetime) -> list[str]:
        """The cycle without a chain: settle (off chain) every slot with a listing or a signed contract once
        its deadline has passed (the start of the next slot's settlement phase, as the ledger's), within the
        last :data:`MAX_DAYS_AHEAD` days. With the ledger the ledger desk settles them. Answers the slots."""
        if self.op.ledger is not None:
            return []
        from transactive.market.ledger.sequence import multi_slot_starts
        from transactive.market.slots import Phase, phase_bounds

        done = []
        for c in self.store.list_communities():
            for start in sorted(multi_slot_starts(self.store, c.name, iso(now - timedelta(days=MAX_DAYS_AHEAD)),
                                                  iso(now - timedelta(minutes=c.slot_minutes)))):
                following = datetime.fromisoformat(start) + timedelta(minutes=c.slot_minutes)
                if now < phase_bounds(following, c.slot_minutes)[Phase.SETTLEMENT][0] or \
                        self.store.get_multi_settlement(c.name, start) is not None:
                    continue
                try:
                    self._settle_off_chain(c, start)
                    done.append(f"{c.name}/{start}")
                except MarketError as exc:
                    log.warning("settling %s %s: %s", c.name, start, exc.message)
        return done

    def _settle_off_chain(self, c: Community, start_iso: str) -> None:
        """Settle the slot without a chain and store its document, in the on-chain settlement's order
        (``docs/service.md``): (1) bidding closes; (2) everything that can fail is computed while the slot's
        readings are still open: the whole settlement of the readings stored so far (contracts, board, wholesale,
        the mechanism on the residuals); (3) only then the readings close and are read once
        (``close_meter_readings``): a reading after it is refused (409); (4) the document stored is that of the
        closed readings: the one of (2) when they are the same, else computed again from them (readings stored
        between (2) and (3))."""
        start = iso(datetime.fromisoformat(start_iso))
        with self._settle_lock:
            if self.store.get_multi_settlement(c.name, start) is not None:
                return
            self.store.close_listings(c.name, start)  # bidding closes: the listing orders are final
            read = self.store.meter_readings(c.name, start)
            document = self._slot_document(c, start, read)  # a persistent error fails with the readings open
            _, final = self.store.close_meter_readings(c.name, start)
            if final != read:
                document = self._slot_document(c, start, final)
            now = _stamp(self._now())
            self.store.finish_multi_settlement(MultiSettlementRecord(c.name, start, document, now), now)

    def _slot_document(self, c: Community, start: str, readings: list[MeterReading]) -> dict[str, Any]:
        """The settlement document of the slot with ``readings`` (``MarketError`` conflict naming ``slot_start``
        when the settlement cannot be computed, e.g. a mechanism refusing the residuals; nothing stored)."""
        try:
            return stored_slot_document(self.store, c, start, self.domain, readings=readings)
        except MarketError:
            raise
        except Exception as exc:  # a mechanism refusing the residuals: answered, nothing stored
            log.exception("settling %s %s failed", c.name, start)
            raise MarketError("slot_start", f"cannot settle: {type(exc).__name__}: {exc}", "conflict") from None

    def statement(self, member: Member, community: str, slot_start: str) -> dict[str, Any]:
        """The slot's settlement as your role may see it (``view``: ``full`` or ``member``)."""
        c = self.op.community_for(member, community)
        start = iso(parse_slot_start(slot_start, c.slot_minutes))
        record = self.store.get_multi_settlement(c.name, start)
        if record is None:
            raise MarketError("slot_start", "the slot is not settled yet", "not_found")
        doc = dict(record.document)
        head = {"community": c.name, "slot_start": start, "slot": doc["slot"], "computed_at": record.computed_at,
                "auction": doc["auction"]}
        if member.role in OVERSEERS:
            return {"view": "full", **doc, "computed_at": record.computed_at}
        contracts = [self._contract_json(r) for r in self.store.list_contracts(c.name, member.id)
                     if ContractTerms.of(r).delivers_in(start) and r.state == "signed"]
        return {"view": "member", **head,
                "statement": next((s for s in doc["members"] if s["member"] == member.id), None),
                "contracts": contracts,
                "listing_orders": [o for o in doc["listing_orders"] if member.id in (o["seller"], o["buyer"])],
                "rejected_orders": [o for o in doc["rejected_orders"] if o["buyer"] == member.id],
                "grid": [g for g in doc["grid"] if g["member"] == member.id]}
