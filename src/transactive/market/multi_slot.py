"""One stored slot through the four settlements: :func:`settle_stored_slot` (store, community, slot) -> the
:class:`~transactive.settlement.stages.SlotSettlement`, and :func:`settlement_document` to store it.

Inputs read from the store (seed 001's order: bilateral -> listings -> community auction -> main grid):

* **net positions**: each trading member's meter reading of the slot (kWh, + exported / - imported). A party
  to a contract or an accepted listing order of the slot without a reading is settled at 0 kWh (it metered
  nothing, so a seller is short and penalised; ``metered: false`` in its statement);
* **bilateral**: the community's ``signed`` contracts scheduling the slot, their signatures verified again
  against the registered addresses in the service's domain (a contract with one signature never delivers);
* **listings**: the slot's listings and orders with the DSO's decisions (a pending order is rejected at
  settlement, "not reviewed before bidding closed"); delivery is metered from the residuals;
* **community auction**: the residuals clear with the community's mechanism and parameters when it is
  two-sided and needs no per-participant fields (otherwise ``dpda``); a member's limit price is the price of
  its single-block auction order in the slot, if any (else its grid alternative);
* **grid**: the default :class:`~transactive.settlement.grid_trading.GridTariff` (feed-in 0.015, retail 0.1),
  and the wholesale market through the auctioneer when the community has a ``wholesale`` parameter
  (:mod:`transactive.settlement.wholesale`: its price at the slot, its fee).

Peers are labelled by their registered address (member id when none) inside the settlement, and statements
are given back per member id. Slot numbers are Unix seconds of the slot start (:func:`slot_number`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from transactive.crypto.eip712 import Domain
from transactive.errors import MarketError
from transactive.market.multi_signing import OFF_CHAIN_DOMAIN, slot_number
from transactive.marketfile import MarketFileError, parse_params
from transactive.registry import full_registry
from transactive.settlement.bilateral import BilateralContract, SignedContract, contracts_in_slot
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.listings import Board, Decision, Listing, ListingOrder
from transactive.settlement.stages import Prosumer, SlotSettlement, settle_slot
from transactive.settlement.wholesale import mechanism_params, slot_wholesale
from transactive.store import Community, ContractRecord, MeterReading, MultiStore
from transactive.times import iso
from transactive.units import WH_PER_KWH

TRADING = ("prosumer", "aggregator")
FALLBACK_MECHANISM = "dpda"


@dataclass(frozen=True)
class ContractTerms:
    """The signed terms a stored contract keeps (``ContractRecord.terms``, JSON): the ISO 8601 ``slot_starts``
    and their multi-settlement ``slots``, ``energy_wh_per_slot`` (Wh), ``price_per_kwh`` (tokens/kWh), the
    ``nonce`` and the parties' registered addresses. Values are kept as stored."""

    slot_starts: tuple[str, ...]
    slots: tuple[int, ...]
    energy_wh_per_slot: int
    price_per_kwh: float
    nonce: int
    seller_address: str
    buyer_address: str

    def to_json(self) -> dict[str, Any]:
        return {"slot_starts": list(self.slot_starts), "slots": list(self.slots),
                "energy_wh_per_slot": self.energy_wh_per_slot, "price_per_kwh": self.price_per_kwh,
                "nonce": self.nonce, "seller_address": self.seller_address, "buyer_address": self.buyer_address}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContractTerms:
        """Read stored terms (``MarketError`` naming the missing field: a record the desk did not write)."""
        try:
            return cls(tuple(data["slot_starts"]), tuple(data["slots"]), data["energy_wh_per_slot"],
                       data["price_per_kwh"], data["nonce"], data["seller_address"], data["buyer_address"])
        except KeyError as exc:
            raise MarketError(f"terms.{exc.args[0]}", "is missing from the stored contract") from None

    @classmethod
    def of(cls, record: ContractRecord) -> ContractTerms:
        """The terms of a stored contract."""
        return cls.from_json(record.terms)

    def address_of(self, side: str) -> str:
        """The registered address of ``side`` (``seller`` or ``buyer``)."""
        return self.seller_address if side == "seller" else self.buyer_address

    def delivers_in(self, slot_start: str) -> bool:
        """Whether the contract delivers in the slot starting at ``slot_start`` (ISO 8601)."""
        return slot_start in self.slot_starts


def stored_contract(record: ContractRecord) -> BilateralContract:
    """The :class:`BilateralContract` of a stored record (its signed terms)."""
    t = ContractTerms.of(record)
    return BilateralContract(record.id, t.seller_address, t.buyer_address, t.slots,
                             t.energy_wh_per_slot / WH_PER_KWH, t.price_per_kwh, t.nonce)


def _signed(record: ContractRecord) -> SignedContract:
    return SignedContract(stored_contract(record), bytes.fromhex(str(record.seller_signature)[2:]),
                          bytes.fromhex(str(record.buyer_signature)[2:]))


def auction_mechanism(community: Community) -> tuple[str, Any]:
    """The community auction's mechanism and parameters (see the module docstring)."""
    registry = full_registry()
    mech = registry.get(community.mechanism)
    if mech is None or mech.sides != ("sellers", "buyers") or mech.participant_fields:
        return FALLBACK_MECHANISM, None
    try:
        return mech.name, parse_params(mech, mechanism_params(community.params))
    except MarketFileError:  # pragma: no cover - the community's parameters were checked when it was created
        return FALLBACK_MECHANISM, None


def settle_stored_slot(store: MultiStore, community: Community | str, slot_start: str | datetime,
                       domain: Domain = OFF_CHAIN_DOMAIN) -> SlotSettlement:
    """Settle ``slot_start`` of ``community`` from the store (nothing is written); the operator may call it.

    The statements' peers are the members' registered addresses (member ids for members without one).
    :func:`settlement_document` gives it back per member id; ``MultiDesk.settle`` stores that.
    """
    return _settle(store, community, slot_start, domain)[0]


def stored_slot_document(store: MultiStore, community: Community | str, slot_start: str | datetime,
                         domain: Domain = OFF_CHAIN_DOMAIN, *, readings: Sequence[MeterReading] | None = None
                         ) -> dict[str, Any]:
    """:func:`settle_stored_slot` as the JSON document the desk stores (statements per member id); ``readings``:
    the slot's readings as read (``close_meter_readings``), else read from the store now."""
    settlement, member_of, metered = _settle(store, community, slot_start, domain, readings)
    community = community if isinstance(community, Community) else _community(store, community)
    start = slot_start if isinstance(slot_start, str) else iso(slot_start)
    return settlement_document(community, start, settlement, member_of, metered)


def _community(store: MultiStore, name: str) -> Community:
    found = store.get_community(name)
    if found is None:
        raise MarketError("community", f"no community {name[:64]!r}", "not_found")
    return found


def _settle(store: MultiStore, community: Community | str, slot_start: str | datetime, domain: Domain,
            stored_readings: Sequence[MeterReading] | None = None) -> tuple[SlotSettlement, dict[str, str], set[str]]:
    community = community if isinstance(community, Community) else _community(store, community)
    start = slot_start if isinstance(slot_start, str) else iso(slot_start)
    number = slot_number(start)
    members = {m.id: m for m in store.list_members(community.name)}
    address_of = {a.member: a.address for a in store.member_addresses(community.name)}
    label = {m: address_of.get(m, m) for m in members}
    member_of = {v: k for k, v in label.items()}
    if stored_readings is None:
        stored_readings = store.meter_readings(community.name, start)
    readings = {r.member: r.energy_kwh for r in stored_readings}
    # bilateral: signed contracts of the slot, verified again
    records = store.signed_contracts_around(community.name, start)
    contracts = contracts_in_slot([_signed(r) for r in records], number, domain)
    # listings: the board of the slot with the DSO's decisions
    listing_records = store.list_listings(community.name, start)
    sellers = {item.id: item.seller for item in listing_records}
    order_records = store.listing_orders(community.name, start)
    board = Board(
        listings=tuple(Listing(item.id, label[item.seller], number, item.energy_wh / WH_PER_KWH, item.price_per_kwh)
                       for item in listing_records),
        orders=tuple(ListingOrder(o.id, o.listing_id, label[o.buyer], o.energy_wh / WH_PER_KWH)
                     for o in order_records),
        decisions=MappingProxyType({o.id: Decision(o.id, o.decision == "accepted", o.reason)
                                    for o in order_records if o.decision is not None}),
    )
    # who takes part: members with a reading, and every party to a delivering contract or accepted order
    parties = set(readings)
    for c in contracts:
        parties.update((member_of[c.seller], member_of[c.buyer]))
    for o in order_records:
        if o.decision == "accepted":
            parties.update((sellers[o.listing_id], o.buyer))
    limits: dict[str, float] = {}
    for order in store.orders_in_slot(community.name, start):
        price = order.entry.get("price_per_kwh")
        if isinstance(price, int | float) and not isinstance(price, bool) and math.isfinite(price):
            limits[order.member] = float(price)
    prosumers = [Prosumer(label[m], readings.get(m, 0.0), limits.get(m))
                 for m in sorted(parties) if m in members and members[m].role in TRADING]
    mechanism, params = auction_mechanism(community)
    wholesale = slot_wholesale(community.params, start)  # (λ_w, fee) when the community trades wholesale
    settlement = settle_slot(number, prosumers, contracts=contracts, board=board, mechanism=mechanism,
                             params=params,
                             tariff=None if wholesale is None else GridTariff(wholesale_fee_per_kwh=wholesale[1]),
                             wholesale_price_per_kwh=None if wholesale is None else wholesale[0])
    return settlement, member_of, set(readings)


def settlement_document(community: Community, slot_start: str, settlement: SlotSettlement,
                        member_of: Mapping[str, str], metered: Collection[str], *,
                        members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The stored JSON document of a slot's settlement (integer Wh and micro-tokens). ``members``: the member
    rows when the caller has them already, as this writes them from ``settlement.statements`` (the ledger's
    settlement builds them from its columns, :func:`~transactive.market.ledger.sequence.stored_multi_document`);
    then the statements are not read and the balance is their money plus the accounts."""
    def who(peer: str) -> str:
        return member_of.get(peer, peer)

    if members is None:
        members = [{"member": who(s.peer), "metered": who(s.peer) in metered, "net_wh": s.net_wh,
                    "money_micro": s.money_micro,
                    "stages": {stage: {"sold_wh": line.sold_wh, "bought_wh": line.bought_wh,
                                       "money_micro": line.money_micro} for stage, line in s.stages.items()}}
                   for s in settlement.statements]
        balance = settlement.balance_micro
    else:
        balance = sum(m["money_micro"] for m in members) + sum(settlement.accounts.values())

    price = None if settlement.auction is None else settlement.auction.price_per_kwh
    orders = {o.order_id: o for o in settlement.board.orders}
    settled = {o.order_id for o in settlement.listing_settlements}
    return {
        "community": community.name,
        "slot_start": slot_start,
        "slot": settlement.slot,
        "auction": {"mechanism": None if settlement.auction is None else settlement.auction.mechanism,
                    "price_per_kwh": price if price is not None and math.isfinite(price) else None},
        "members": members,
        "accounts": dict(settlement.accounts),
        "balance_micro": balance,
        "listing_orders": [{"id": o.order_id, "listing_id": orders[o.order_id].listing_id, "seller": who(o.seller),
                            "buyer": who(o.buyer), "ordered_wh": orders[o.order_id].energy_wh,
                            "delivered_wh": o.delivered_wh, "seller_micro": o.seller_micro,
                            "buyer_micro": o.buyer_micro, "service_charge_micro": o.service_charge_micro,
                            "penalty_micro": o.penalty_micro} for o in settlement.listing_settlements],
        "rejected_orders": [{"id": o.order_id, "buyer": who(o.buyer),
                             "reason": list(settlement.board.decisions[o.order_id].reason)}
                            for o in settlement.board.orders
                            if o.order_id not in settled and o.order_id in settlement.board.decisions
                            and not settlement.board.decisions[o.order_id].accepted],
        "grid": [{"member": who(g.peer), "energy_wh": g.energy_wh, "route": g.route, "money_micro": g.money_micro,
                  "fee_micro": g.fee_micro} for g in settlement.grid_trades],
    }


def check_parties(settlement: SlotSettlement) -> None:
    """Every statement balances in energy (``net = Σ sold − bought``) and the money sums to zero."""
    for s in settlement.statements:
        if s.traded_wh != s.net_wh:  # pragma: no cover - settle_slot's invariant
            raise MarketError("settlement", f"{s.peer}'s statement does not balance", "conflict")
    if settlement.balance_micro != 0:  # pragma: no cover - settle_slot's invariant
        raise MarketError("settlement", "money does not balance", "conflict")
