# pragma version ~=0.4.3
# @license MIT
"""
@title Negawatt reverse auction: fractional knapsack + VCG (Clarke pivot), in integer arithmetic
@notice An aggregator buys a demand reduction of target_wh Wh. Each prosumer offers energy_wh Wh at a
        unit price in micro-tokens per kWh. A fallback (the aggregator's outside option) supplies any
        amount at the reserve price r per kWh (seed 000, canonical `competes` semantics): offers priced
        above r are never taken; offers priced exactly r are taken before the fallback.
        Allocation: greedy by unit price, ties by submission order (stable). VCG payment to a winner i:
        pay_i = C(-i) - (C - x_i b_i), where C is the optimal cost and C(-i) the optimal cost without i,
        fallback included. Losers get 0.
@dev Integer rounding: quantity (Wh) x price (micro-tokens per kWh) is kept exact in nano-tokens
     (1e-9 token = Wh * micro/kWh); every cost and every C(-i) is exact. Only the reported figures are
     converted to micro-tokens, by flooring: pay_micro = floor(pay_nano / 1000), cost_micro likewise, so
     a payment differs from the exact VCG payment by less than one micro-token and never exceeds it.
     Inputs are capped below 2**64 (energies, prices, target, reserve) so no product can overflow.
     Cost: O(n log n) to sort (insertion sort, n <= 64) plus O(n) per winner for C(-i).
     `clear` is a pure function; the event flow (open_event, submit_offer, close_event, settle_event)
     runs a whole auction on chain for a small community that wants no off-chain step.
"""

interface IRegistry:
    def has_role(account: address, role: uint256) -> bool: view

interface IToken:
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable

MAX_OFFERS: public(constant(uint256)) = 64
CAP: constant(uint256) = 2**64
NO_SKIP: constant(uint256) = max_value(uint256)
NANO_PER_MICRO: constant(uint256) = 1000
ROLE_PROSUMER: constant(uint256) = 1
ROLE_AGGREGATOR: constant(uint256) = 2

OPEN: public(constant(uint256)) = 1
CLOSED: public(constant(uint256)) = 2
PAID: public(constant(uint256)) = 3

struct Offer:
    energy_wh: uint256
    price_micro_per_kwh: uint256

struct Clearing:
    energy_wh: DynArray[uint256, MAX_OFFERS]
    payment_micro: DynArray[uint256, MAX_OFFERS]
    cost_micro: uint256
    fallback_wh: uint256

struct Round:
    aggregator: address
    state: uint256
    target_wh: uint256
    reserve_micro_per_kwh: uint256
    cost_micro: uint256
    fallback_wh: uint256

event EventOpened:
    event_id: indexed(uint256)
    aggregator: indexed(address)
    target_wh: uint256
    reserve_micro_per_kwh: uint256

event OfferSubmitted:
    event_id: indexed(uint256)
    seller: indexed(address)
    energy_wh: uint256
    price_micro_per_kwh: uint256

event Awarded:
    event_id: indexed(uint256)
    seller: indexed(address)
    energy_wh: uint256
    payment_micro: uint256

registry: public(IRegistry)
token: public(IToken)
events: public(HashMap[uint256, Round])
event_count: public(uint256)
offers: HashMap[uint256, DynArray[Offer, MAX_OFFERS]]
sellers: HashMap[uint256, DynArray[address, MAX_OFFERS]]
has_offered: HashMap[uint256, HashMap[address, bool]]
awarded_wh: public(HashMap[uint256, HashMap[address, uint256]])
payment_micro: public(HashMap[uint256, HashMap[address, uint256]])


@deploy
def __init__(registry: address, token: address):
    self.registry = IRegistry(registry)
    self.token = IToken(token)


@internal
@pure
def _cost_nano(offers: DynArray[Offer, MAX_OFFERS], order: DynArray[uint256, MAX_OFFERS],
               target_wh: uint256, reserve: uint256, skip: uint256) -> uint256:
    """Greedy cost in nano-tokens of buying target_wh in `order`, without offer `skip`, fallback last."""
    remaining: uint256 = target_wh
    cost: uint256 = 0
    for i: uint256 in order:
        if remaining == 0:
            break
        if i == skip:
            continue
        take: uint256 = min(offers[i].energy_wh, remaining)
        cost += take * offers[i].price_micro_per_kwh
        remaining -= take
    return cost + remaining * reserve


@internal
@pure
def _clear(target_wh: uint256, reserve: uint256, offers: DynArray[Offer, MAX_OFFERS]) -> Clearing:
    assert target_wh < CAP and reserve < CAP, "auction: target or reserve too large"
    n: uint256 = len(offers)
    # eligible offers (0 < energy, price <= reserve), stable insertion sort by price
    order: DynArray[uint256, MAX_OFFERS] = []
    for i: uint256 in range(n, bound=MAX_OFFERS):
        o: Offer = offers[i]
        assert o.energy_wh < CAP and o.price_micro_per_kwh < CAP, "auction: offer too large"
        if o.energy_wh == 0 or o.price_micro_per_kwh > reserve:
            continue
        order.append(i)
        k: uint256 = len(order) - 1
        for _s: uint256 in range(k, bound=MAX_OFFERS):
            if offers[order[k - 1]].price_micro_per_kwh <= o.price_micro_per_kwh:
                break
            order[k] = order[k - 1]
            k -= 1
            if k == 0:
                break
        order[k] = i
    alloc: DynArray[uint256, MAX_OFFERS] = []
    pay: DynArray[uint256, MAX_OFFERS] = []
    for i: uint256 in range(n, bound=MAX_OFFERS):
        alloc.append(0)
        pay.append(0)
    remaining: uint256 = target_wh
    for i: uint256 in order:
        if remaining == 0:
            break
        take: uint256 = min(offers[i].energy_wh, remaining)
        alloc[i] = take
        remaining -= take
    cost: uint256 = self._cost_nano(offers, order, target_wh, reserve, NO_SKIP)
    for i: uint256 in order:
        if alloc[i] == 0:
            break
        own: uint256 = alloc[i] * offers[i].price_micro_per_kwh
        without: uint256 = self._cost_nano(offers, order, target_wh, reserve, i)
        pay[i] = (without + own - cost) // NANO_PER_MICRO
    return Clearing(energy_wh=alloc, payment_micro=pay, cost_micro=cost // NANO_PER_MICRO,
                    fallback_wh=remaining)


@external
@pure
def clear(target_wh: uint256, reserve_micro_per_kwh: uint256,
          offers: DynArray[Offer, MAX_OFFERS]) -> Clearing:
    """
    @notice Clear one negawatt auction (pure).
    @param target_wh Demand reduction to buy, Wh.
    @param reserve_micro_per_kwh Fallback (reservation) price r, micro-tokens per kWh.
    @param offers (energy_wh, price_micro_per_kwh) per seller, in submission order.
    @return Per offer the awarded Wh and the VCG payment (micro-tokens, floored), the total cost at
            the asked prices including the fallback (micro-tokens, floored) and the fallback Wh.
    """
    return self._clear(target_wh, reserve_micro_per_kwh, offers)


@external
def open_event(target_wh: uint256, reserve_micro_per_kwh: uint256) -> uint256:
    """
    @notice An aggregator opens a negawatt event; returns its id.
    """
    assert staticcall self.registry.has_role(msg.sender, ROLE_AGGREGATOR), "auction: not an aggregator"
    assert target_wh > 0 and target_wh < CAP and reserve_micro_per_kwh < CAP, "auction: bad target or reserve"
    event_id: uint256 = self.event_count
    self.event_count = event_id + 1
    self.events[event_id] = Round(aggregator=msg.sender, state=OPEN, target_wh=target_wh,
                                  reserve_micro_per_kwh=reserve_micro_per_kwh, cost_micro=0, fallback_wh=0)
    log EventOpened(event_id=event_id, aggregator=msg.sender, target_wh=target_wh,
                    reserve_micro_per_kwh=reserve_micro_per_kwh)
    return event_id


@external
def submit_offer(event_id: uint256, energy_wh: uint256, price_micro_per_kwh: uint256):
    """
    @notice A prosumer offers a demand reduction (one offer per prosumer and event, at most 64).
    """
    assert self.events[event_id].state == OPEN, "auction: event not open"
    assert staticcall self.registry.has_role(msg.sender, ROLE_PROSUMER), "auction: not a prosumer"
    assert not self.has_offered[event_id][msg.sender], "auction: already offered"
    assert energy_wh > 0 and energy_wh < CAP and price_micro_per_kwh < CAP, "auction: bad offer"
    assert len(self.offers[event_id]) < MAX_OFFERS, "auction: event full"
    self.has_offered[event_id][msg.sender] = True
    self.offers[event_id].append(Offer(energy_wh=energy_wh, price_micro_per_kwh=price_micro_per_kwh))
    self.sellers[event_id].append(msg.sender)
    log OfferSubmitted(event_id=event_id, seller=msg.sender, energy_wh=energy_wh,
                       price_micro_per_kwh=price_micro_per_kwh)


@external
def close_event(event_id: uint256):
    """
    @notice The event's aggregator closes it: the auction is cleared on chain and the awards stored.
    """
    e: Round = self.events[event_id]
    assert e.state == OPEN, "auction: event not open"
    assert msg.sender == e.aggregator, "auction: not the event's aggregator"
    result: Clearing = self._clear(e.target_wh, e.reserve_micro_per_kwh, self.offers[event_id])
    sellers: DynArray[address, MAX_OFFERS] = self.sellers[event_id]
    for i: uint256 in range(len(sellers), bound=MAX_OFFERS):
        if result.energy_wh[i] > 0:
            self.awarded_wh[event_id][sellers[i]] = result.energy_wh[i]
            self.payment_micro[event_id][sellers[i]] = result.payment_micro[i]
            log Awarded(event_id=event_id, seller=sellers[i], energy_wh=result.energy_wh[i],
                        payment_micro=result.payment_micro[i])
    self.events[event_id].state = CLOSED
    self.events[event_id].cost_micro = result.cost_micro
    self.events[event_id].fallback_wh = result.fallback_wh


@external
def settle_event(event_id: uint256):
    """
    @notice The aggregator pays every winner its VCG payment in tokens (needs an allowance), once.
    """
    e: Round = self.events[event_id]
    assert e.state == CLOSED, "auction: event not closed"
    assert msg.sender == e.aggregator, "auction: not the event's aggregator"
    self.events[event_id].state = PAID
    for seller: address in self.sellers[event_id]:
        amount: uint256 = self.payment_micro[event_id][seller]
        if amount > 0:
            assert extcall self.token.transferFrom(msg.sender, seller, amount)


@external
@view
def offer_count(event_id: uint256) -> uint256:
    """
    @notice Number of offers submitted to an event.
    """
    return len(self.offers[event_id])
