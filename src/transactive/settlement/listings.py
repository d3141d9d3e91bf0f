"""The listing board (seed 002's Elecbay; seed 001's e-commerce platform), the second settlement.

Flow (seed 002, section 3.1) with seed 003's listing states:

1. a seller **lists** surplus energy for a slot at a price: the listing is ``FOR_SALE``;
2. buyers **order** part or all of a listing at its price (orders wait, ``pending``, in submission order);
3. the **DSO reviews** each pending order in submission order with a network check of the slot's accepted
   trades plus that order (:func:`power_flow_check` wraps :func:`transactive.grid.powerflow.check_trades`:
   voltage and thermal limits of :class:`~transactive.grid.powerflow.DsoPolicy`); an order that would
   violate them is **rejected with the violations as its reason**, otherwise accepted;
4. bidding **closes** for the slot: its listings go to ``RESERVE_NOT_MET`` (seed 003: "bidding closed,
   contract running") and orders still pending are rejected;
5. delivery is **metered** (:func:`metered_delivery` derives it from the peers' metered positions) and
   settled (:func:`settle_listings`); the listings go to ``CLOSE``.

Settlement of an accepted order of ``e`` kWh at price ``p`` with ``d`` kWh delivered (integer micro-tokens,
each figure rounded once per order):

* the buyer pays ``p·d`` plus half the **service charge** ``s·d``; the seller receives ``p·d`` minus the other
  half (split with :func:`~transactive.units.apportion`, the buyer takes the odd micro-token); the board
  operator's account collects the charge (seed 002: "Elecbay collects service charges and eventually pays
  out to the DSOs");
* **penalties** (seed 002: for peers "who fail to generate/consume the promised amount"): the side that
  caused a shortfall pays ``penalty·shortfall`` to the DSO (the balancing account). Seed 002 leaves the
  rates open; the documented defaults are ``s = 0.004`` and ``penalty = 0.05`` tokens per kWh
  (:class:`ServiceRates`).

Example:
    >>> board = Board().list(Listing("L1", "pv", 7, 3.0, 0.06)).place(ListingOrder("o1", "L1", "ev", 2.0))
    >>> board = board.review(lambda trades: ())  # a DSO that accepts everything
    >>> board.decisions["o1"].accepted, board.remaining_wh("L1")
    (True, 1000)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, cast

from transactive.errors import MarketError
from transactive.settlement.append_only import AppendOnly
from transactive.units import WH_PER_KWH, apportion, energy_to_wh, money_to_micro

DEFAULT_SERVICE_CHARGE_PER_KWH = 0.004
DEFAULT_PENALTY_PER_KWH = 0.05


class ListingState(StrEnum):
    """Seed 003's listing states."""

    CLOSE = "CLOSE"
    FOR_SALE = "FOR_SALE"
    RESERVE_NOT_MET = "RESERVE_NOT_MET"


def _number(value: Any, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MarketError(name, "must be a finite number")
    if value < 0 or (positive and value == 0):
        raise MarketError(name, "must be > 0" if positive else "must be >= 0")
    return float(value)


def _whole_wh(value: float, name: str) -> None:
    if abs(value * WH_PER_KWH - energy_to_wh(value)) > 1e-6:
        raise MarketError(name, "must be a whole number of Wh")


def _label(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise MarketError(name, "must be a non-empty string")


@dataclass(frozen=True)
class ServiceRates:
    """The board's rates, tokens per kWh (seed 002 names them without figures; defaults are this project's)."""

    service_charge_per_kwh: float = DEFAULT_SERVICE_CHARGE_PER_KWH
    penalty_per_kwh: float = DEFAULT_PENALTY_PER_KWH

    def __post_init__(self) -> None:
        _number(self.service_charge_per_kwh, "rates.service_charge_per_kwh", positive=False)
        _number(self.penalty_per_kwh, "rates.penalty_per_kwh", positive=False)


@dataclass(frozen=True)
class Listing:
    """A seller's surplus for one slot: ``energy_kwh`` (> 0, whole Wh) at ``price_per_kwh`` (>= 0)."""

    listing_id: str
    seller: str
    slot: int
    energy_kwh: float
    price_per_kwh: float
    state: ListingState = ListingState.FOR_SALE

    def __post_init__(self) -> None:
        _label(self.listing_id, "listing.listing_id")
        _label(self.seller, "listing.seller")
        if isinstance(self.slot, bool) or not isinstance(self.slot, int) or self.slot < 0:
            raise MarketError("listing.slot", "must be an integer >= 0")
        _number(self.energy_kwh, "listing.energy_kwh", positive=True)
        _whole_wh(self.energy_kwh, "listing.energy_kwh")
        _number(self.price_per_kwh, "listing.price_per_kwh", positive=False)


@dataclass(frozen=True)
class ListingOrder:
    """A buyer's order of ``energy_kwh`` (> 0, whole Wh) from a listing, at the listing's price."""

    order_id: str
    listing_id: str
    buyer: str
    energy_kwh: float

    def __post_init__(self) -> None:
        _label(self.order_id, "order.order_id")
        _label(self.listing_id, "order.listing_id")
        _label(self.buyer, "order.buyer")
        _number(self.energy_kwh, "order.energy_kwh", positive=True)
        _whole_wh(self.energy_kwh, "order.energy_kwh")

    @property
    def energy_wh(self) -> int:
        return energy_to_wh(self.energy_kwh)


@dataclass(frozen=True)
class Decision:
    """The DSO's decision on an order; ``reason`` lists the violations (or why it was not reviewed)."""

    order_id: str
    accepted: bool
    reason: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedTrade:
    """An order as the network check sees it: ``energy_kwh`` from ``seller`` to ``buyer`` in the slot."""

    order_id: str
    seller: str
    buyer: str
    energy_kwh: float


OrderCheck = Callable[[Sequence[PlannedTrade]], tuple[str, ...]]
"""The DSO's check: given the slot's accepted trades followed by the candidate (last), the violations the
candidate causes (empty: accept)."""


def power_flow_state(
    net: Any,
    bus_of: Mapping[str, str],
    trades: Sequence[PlannedTrade],
    *,
    slot_hours: float = 0.25,
    policy: Any = None,
    method: str = "balanced",
) -> Any:
    """The power flow of ``trades`` (the slot's accepted ones, then the candidate, last) on ``net``: a
    :class:`transactive.grid.powerflow.NetworkCheck` (voltages per bus, loadings per line, before and after
    curtailment). The accepted trades score higher than the candidate, so the candidate is curtailed first."""
    from transactive.grid.powerflow import GridTrade, check_trades

    grid_trades = []
    for k, t in enumerate(trades):
        for peer in (t.seller, t.buyer):
            if peer not in bus_of:
                raise MarketError(f"bus_of[{peer}]", "the peer has no bus on the feeder")
        score = 0.0 if k == len(trades) - 1 else 1.0
        grid_trades.append(GridTrade(bus_of[t.buyer], bus_of[t.seller], t.energy_kwh, score))
    return check_trades(net, grid_trades, slot_hours=slot_hours, policy=policy, method=method)  # type: ignore[arg-type]


def candidate_violations(result: Any, candidate: int) -> tuple[str, ...]:
    """What the trade at index ``candidate`` of a :func:`power_flow_state` causes: nothing (accepted and the
    slot feasible), its curtailment's reasons, or the final violations."""
    if candidate in result.accepted and result.feasible:
        return ()
    for c in result.curtailed:
        if c.trade == candidate:
            return tuple(c.reason) or ("infeasible",)
    return tuple(result.final.violations) or ("infeasible",)


def power_flow_check(
    net: Any,
    bus_of: Mapping[str, str],
    *,
    slot_hours: float = 0.25,
    policy: Any = None,
    method: str = "balanced",
) -> OrderCheck:
    """A DSO check by power flow (:func:`transactive.grid.powerflow.check_trades`) on ``net``.

    ``bus_of`` maps each peer to its bus. The accepted trades are given a higher score than the candidate,
    so when the slot becomes infeasible the candidate is the trade curtailed, and its violations are the
    reason.
    """
    def check(trades: Sequence[PlannedTrade]) -> tuple[str, ...]:
        result = power_flow_state(net, bus_of, trades, slot_hours=slot_hours, policy=policy, method=method)
        return candidate_violations(result, len(trades) - 1)

    return check


def _listing_key(listing: Listing) -> str:
    return listing.listing_id


def _order_key(order: ListingOrder) -> str:
    return order.order_id


@dataclass
class _Taken:
    """The Wh taken per listing for one board's ``orders`` and ``decisions`` (identity), handed on by
    :meth:`Board.place_all` to the board it returns (the older board's is then stale and rebuilt if used)."""

    orders: Sequence[ListingOrder]
    decisions: Mapping[str, Decision]
    taken: dict[str, int]


@dataclass(frozen=True)
class Board:
    """The listing board: listings and orders in submission order, and the DSO's decisions (immutable; every
    operation returns a new board). ``listings`` and ``orders`` are :class:`AppendOnly` snapshots (equal to
    tuples of the same items), so :meth:`list` and :meth:`place` cost O(1) per listing or order, not a copy of
    the board: a board and the boards grown from it share one append-only list (an older board extended again
    copies once)."""

    listings: Sequence[Listing] = ()
    orders: Sequence[ListingOrder] = ()
    decisions: Mapping[str, Decision] = field(default_factory=lambda: MappingProxyType({}))
    _tally: _Taken | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.listings, AppendOnly):
            object.__setattr__(self, "listings", AppendOnly(self.listings, key=_listing_key))
        if not isinstance(self.orders, AppendOnly):
            object.__setattr__(self, "orders", AppendOnly(self.orders, key=_order_key))

    def listing(self, listing_id: str) -> Listing:
        """The listing with id ``listing_id`` (:class:`MarketError` ``not_found`` if none)."""
        found = cast(AppendOnly[Listing], self.listings).find(listing_id)
        if found is None:
            raise MarketError("listing_id", f"no listing {listing_id!r}", "not_found")
        return found

    def _taken(self) -> dict[str, int]:
        """Wh of each listing taken by pending or accepted orders (kept across :meth:`place` calls; rebuilt
        when this board is not the newest of its lineage)."""
        tally = self._tally
        if tally is None or tally.orders is not self.orders or tally.decisions is not self.decisions:
            taken: dict[str, int] = {}
            for o in self.orders:
                if o.order_id not in self.decisions or self.decisions[o.order_id].accepted:
                    taken[o.listing_id] = taken.get(o.listing_id, 0) + o.energy_wh
            tally = _Taken(self.orders, self.decisions, taken)
            object.__setattr__(self, "_tally", tally)
        return tally.taken

    def remaining_wh(self, listing_id: str) -> int:
        """Energy of the listing not yet taken by pending or accepted orders, Wh."""
        return energy_to_wh(self.listing(listing_id).energy_kwh) - self._taken().get(listing_id, 0)

    def list(self, listing: Listing) -> Board:
        """Add a listing (``FOR_SALE``)."""
        return self.list_all([listing])

    def list_all(self, listings: Sequence[Listing]) -> Board:
        """Add several listings at once (same rules as :meth:`list`; O(1) per listing)."""
        mine = cast(AppendOnly[Listing], self.listings)
        seen: set[str] = set()
        for listing in listings:
            if listing.listing_id in seen or mine.has_key(listing.listing_id):
                raise MarketError("listing.listing_id", f"duplicate id {listing.listing_id!r}", "conflict")
            if listing.state is not ListingState.FOR_SALE:
                raise MarketError("listing.state", "a new listing is FOR_SALE")
            seen.add(listing.listing_id)
        board = replace(self, listings=mine.extended(listings))
        object.__setattr__(board, "_tally", self._tally)  # the orders and decisions are the same
        return board

    def place(self, order: ListingOrder) -> Board:
        """Add a pending order; the listing must be ``FOR_SALE`` with enough energy remaining."""
        return self.place_all([order])

    def place_all(self, orders: Sequence[ListingOrder]) -> Board:
        """Add several pending orders in sequence (same rules as :meth:`place`; all or none are added; O(1) per
        order)."""
        mine = cast(AppendOnly[ListingOrder], self.orders)
        taken = self._taken()
        extra: dict[str, int] = {}
        order_ids: set[str] = set()
        for order in orders:
            if order.order_id in order_ids or mine.has_key(order.order_id):
                raise MarketError("order.order_id", f"duplicate id {order.order_id!r}", "conflict")
            listing = self.listing(order.listing_id)
            if listing.state is not ListingState.FOR_SALE:
                raise MarketError("order.listing_id", f"listing is {listing.state.value}", "too_late")
            if order.buyer == listing.seller:
                raise MarketError("order.buyer", "a seller cannot buy its own listing")
            remaining = (energy_to_wh(listing.energy_kwh) - taken.get(order.listing_id, 0)
                         - extra.get(order.listing_id, 0))
            if order.energy_wh > remaining:
                raise MarketError(
                    "order.energy_kwh", f"exceeds the {remaining} Wh remaining on the listing", "conflict"
                )
            order_ids.add(order.order_id)
            extra[order.listing_id] = extra.get(order.listing_id, 0) + order.energy_wh
        board = replace(self, orders=mine.extended(orders))
        for listing_id, wh in extra.items():  # new orders are pending: they take their energy
            taken[listing_id] = taken.get(listing_id, 0) + wh
        tally = self._tally
        assert tally is not None
        tally.orders = board.orders  # now the new board's: stale for this one (rebuilt if it is used again)
        object.__setattr__(board, "_tally", tally)
        return board

    def _trade(self, order: ListingOrder) -> PlannedTrade:
        listing = self.listing(order.listing_id)
        return PlannedTrade(order.order_id, listing.seller, order.buyer, order.energy_kwh)

    def accepted_orders(self, slot: int) -> tuple[ListingOrder, ...]:
        """The slot's accepted orders, in submission order."""
        return tuple(
            o for o in self.orders
            if self.listing(o.listing_id).slot == slot
            and o.order_id in self.decisions and self.decisions[o.order_id].accepted
        )

    def review(self, check: OrderCheck) -> Board:
        """The DSO decides every pending order, in submission order, with ``check``."""
        decisions = dict(self.decisions)
        accepted: dict[int, list[PlannedTrade]] = {}  # per slot: earlier decisions first, then this review's
        for order in self.orders:
            if order.order_id in decisions and decisions[order.order_id].accepted:
                accepted.setdefault(self.listing(order.listing_id).slot, []).append(self._trade(order))
        for order in self.orders:
            if order.order_id in decisions:
                continue
            slot = self.listing(order.listing_id).slot
            reason = tuple(check([*accepted.get(slot, []), self._trade(order)]))
            decisions[order.order_id] = Decision(order.order_id, not reason, reason)
            if not reason:
                accepted.setdefault(slot, []).append(self._trade(order))
        return replace(self, decisions=MappingProxyType(decisions))

    def close(self, slot: int) -> Board:
        """Close bidding for ``slot``: its listings go to ``RESERVE_NOT_MET``, pending orders are rejected."""
        decisions = dict(self.decisions)
        for o in self.orders:
            if self.listing(o.listing_id).slot == slot and o.order_id not in decisions:
                decisions[o.order_id] = Decision(o.order_id, False, ("not reviewed before bidding closed",))
        listings = tuple(
            replace(item, state=ListingState.RESERVE_NOT_MET)
            if item.slot == slot and item.state is ListingState.FOR_SALE else item
            for item in self.listings
        )
        return replace(self, listings=listings, decisions=MappingProxyType(decisions))


@dataclass(frozen=True)
class Delivery:
    """Metered outcome of an accepted order, Wh: ``delivered + seller_shortfall + buyer_shortfall = ordered``."""

    order_id: str
    delivered_wh: int
    seller_shortfall_wh: int = 0
    buyer_shortfall_wh: int = 0


def metered_delivery(
    board: Board, slot: int, seller_available_wh: Mapping[str, int], buyer_available_wh: Mapping[str, int]
) -> tuple[Delivery, ...]:
    """Deliveries of the slot's accepted orders from what the peers metered (submission order).

    A seller can deliver up to its metered surplus still available (``seller_available_wh``, missing: 0) and a
    buyer take up to its deficit (``buyer_available_wh``); per order, ``can_sell = min(ordered, seller's)``,
    ``delivered = min(can_sell, buyer's)``; the seller is short by ``ordered − can_sell`` and the buyer by
    ``can_sell − delivered``.
    """
    sell = {k: max(v, 0) for k, v in seller_available_wh.items()}
    buy = {k: max(v, 0) for k, v in buyer_available_wh.items()}
    out: list[Delivery] = []
    for order in board.accepted_orders(slot):
        seller = board.listing(order.listing_id).seller
        can_sell = min(order.energy_wh, sell.get(seller, 0))
        delivered = min(can_sell, buy.get(order.buyer, 0))
        sell[seller] = sell.get(seller, 0) - delivered
        buy[order.buyer] = buy.get(order.buyer, 0) - delivered
        out.append(Delivery(order.order_id, delivered, order.energy_wh - can_sell, can_sell - delivered))
    return tuple(out)


@dataclass(frozen=True)
class OrderSettlement:
    """Money of one settled order, micro-tokens (signed: > 0 received, < 0 paid).

    ``seller_micro + buyer_micro + service_charge_micro + penalty_micro == 0``.
    """

    order_id: str
    seller: str
    buyer: str
    delivered_wh: int
    seller_micro: int
    buyer_micro: int
    service_charge_micro: int
    penalty_micro: int


def settle_listings(
    board: Board, slot: int, deliveries: Sequence[Delivery], rates: ServiceRates | None = None
) -> tuple[Board, tuple[OrderSettlement, ...]]:
    """Settle the slot's accepted orders with their metered ``deliveries`` (one per accepted order); the
    slot's listings go to ``CLOSE``."""
    rates = rates or ServiceRates()
    if any(item.slot == slot and item.state is ListingState.FOR_SALE for item in board.listings):
        raise MarketError("slot", f"bidding for slot {slot} is still open: close it first", "conflict")
    by_id = {d.order_id: d for d in deliveries}
    accepted = board.accepted_orders(slot)
    if any(board.listing(o.listing_id).state is ListingState.CLOSE for o in accepted):
        raise MarketError("slot", f"slot {slot} is already settled", "conflict")
    if set(by_id) != {o.order_id for o in accepted} or len(by_id) != len(deliveries):
        raise MarketError("deliveries", "need exactly one delivery per accepted order of the slot")
    out: list[OrderSettlement] = []
    for order in accepted:
        d = by_id[order.order_id]
        parts = (d.delivered_wh, d.seller_shortfall_wh, d.buyer_shortfall_wh)
        if min(parts) < 0 or sum(parts) != order.energy_wh:
            raise MarketError(f"deliveries[{order.order_id}]", "delivered + shortfalls must equal the order, each >= 0")
        listing = board.listing(order.listing_id)
        delivered_kwh = d.delivered_wh / WH_PER_KWH
        value = money_to_micro(listing.price_per_kwh * delivered_kwh)
        charge = money_to_micro(rates.service_charge_per_kwh * delivered_kwh)
        charge_buyer, charge_seller = apportion(charge, [1.0, 1.0])
        penalty_seller = money_to_micro(rates.penalty_per_kwh * d.seller_shortfall_wh / WH_PER_KWH)
        penalty_buyer = money_to_micro(rates.penalty_per_kwh * d.buyer_shortfall_wh / WH_PER_KWH)
        out.append(OrderSettlement(
            order.order_id, listing.seller, order.buyer, d.delivered_wh,
            seller_micro=value - charge_seller - penalty_seller,
            buyer_micro=-(value + charge_buyer + penalty_buyer),
            service_charge_micro=charge,
            penalty_micro=penalty_seller + penalty_buyer,
        ))
    listings = tuple(
        replace(item, state=ListingState.CLOSE) if item.slot == slot else item for item in board.listings
    )
    return replace(board, listings=listings), tuple(out)
