"""One slot through seed 001's four settlements: bilateral → listings → community auction → main grid.

Input: each prosumer's **net position** for the slot (kWh; ``> 0`` surplus it exports, ``< 0`` deficit),
converted once to integer Wh. The stages run in order, each on the residual the previous ones left:

1. **bilateral** -- every contract scheduled in the slot (:mod:`transactive.settlement.bilateral`; verify the
   signatures first with :func:`~transactive.settlement.bilateral.contracts_in_slot`) is firm: the seller sells
   and the buyer buys the contracted energy at the contracted price, whatever they metered;
2. **listings** -- the board's accepted orders of the slot (:mod:`transactive.settlement.listings`): bidding is
   closed, delivery is metered from the residuals (a seller delivers up to its remaining surplus, a buyer
   takes up to its remaining deficit), service charges go to the ``board`` account and shortfall penalties to
   the ``dso`` account;
3. **auction** -- the remaining surpluses offer and deficits bid, one block each, into the community auction
   (any two-sided mechanism of :func:`transactive.registry.full_registry`, default ``dpda``; the grid-aware
   ``dpda_matched`` / ``mcafee_matched`` need every participant's :attr:`Prosumer.attributes`), at each
   prosumer's limit price or, without one, at its **grid alternative** (a seller asks what the grid would pay,
   ``max(FiT, λ_w − fee)``; a buyer bids what the grid would charge, ``min(retail, λ_w + fee)``), so nobody
   trades in the auction on worse terms than the grid offers. The clearing becomes integers by the **one
   definition the ledger's validators use too** (:func:`transactive.settlement.auction_entries.auction_stage`):
   each participant's energy and payment exactly as the mechanism cleared them (Wh and micro-tokens
   apportioned per side), grid charges to the ``dso`` account (rounded once per slot), and the rest -- a
   surplus, a deficit, DPDA's excess bought at the clearing price -- to the community ``fund``
   (``docs/settlement.md``; the fund's deficit policy, :mod:`transactive.settlement.fund`). With ``rewards``
   (:class:`RewardRates`) the ``auctioneer_reward`` and ``miner_reward`` accounts get ``floor(ME x_A)`` and
   ``floor(ME x_M)`` (seed 001 eq. 2-4, ME the market exchange), paid by the fund;
4. **grid** -- every residual left is traded with the main grid (:mod:`transactive.settlement.grid_trading`):
   feed-in tariff / retail, or the wholesale market through the auctioneer (fee to the ``auctioneer``
   account). Every residual is zero afterwards.

Statements per prosumer: per stage, energy sold and bought (Wh) and money (micro-tokens, signed: > 0
received). Conservation: ``net_wh = Σ_stages (sold − bought)`` for every prosumer; the bilateral, listing and
auction stages each sell as much as they buy; and the prosumers' money plus the ``dso``, ``board``,
``auctioneer`` and ``grid`` accounts (and the two reward accounts with ``rewards``) sum to zero exactly
(:attr:`SlotSettlement.balance_micro`).

Example:
    >>> s = settle_slot(0, [Prosumer("pv", 5.0), Prosumer("ev", -3.0)], mechanism="uniform")
    >>> [(x.peer, x.stages["auction"].money_micro, x.stages["grid"].money_micro) for x in s.statements]
    [('pv', 172500, 30000), ('ev', -172500, 0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from transactive.errors import MarketError
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.settlement.fund import DEFAULT_POLICY, check_policy, settle_auction
from transactive.settlement.grid_trading import GridTariff, MainGridTrade, settle_with_grid
from transactive.settlement.listings import Board, OrderSettlement, ServiceRates, metered_delivery, settle_listings
from transactive.units import energy_to_wh, money_to_micro

if TYPE_CHECKING:  # the contracts need the ledger extra only to be signed and verified
    from transactive.settlement.bilateral import BilateralContract

Stage = Literal["bilateral", "listings", "auction", "grid"]
STAGES: tuple[Stage, ...] = ("bilateral", "listings", "auction", "grid")
REWARD_ACCOUNTS = ("auctioneer_reward", "miner_reward")
"""The Proof-of-Clearance rewards of the auction stage (seed 001 eq. 2-3)."""
ACCOUNTS = ("dso", "board", "auctioneer", "grid", "fund", *REWARD_ACCOUNTS)


@dataclass(frozen=True)
class Prosumer:
    """A prosumer's net position for the slot, kWh (> 0 surplus, < 0 deficit), and its optional limit price
    for the auction and the wholesale market (tokens per kWh; ``None``: bid the grid alternative).

    ``attributes``: the per-participant fields a grid-aware mechanism reads (``dpda_matched``,
    ``mcafee_matched``: ``bus``, ``distance_pref_m``, ``a``, ``b``, ``c``, ``omega``, ``alpha``; see
    ``docs/grid.md``); ``None`` for none (such a mechanism then refuses the slot)."""

    peer: str
    net_kwh: float
    limit_price_per_kwh: float | None = None
    attributes: Mapping[str, str | float] | None = None


@dataclass(frozen=True)
class RewardRates:
    """The Proof-of-Clearance reward shares of a slot in parts per million of its debits ``D`` (what buyers
    pay in the auction): X^A to the auctioneer (seed 001 eq. 2) and X^M to the miner (eq. 3), as
    ``MarketSlots`` fixes them when the slot opens. Passing them to :func:`settle_slot` settles the auction
    stage exactly as the validators endorse it (``docs/multi-settlement.md``, section 3)."""

    auctioneer_ppm: int = 0
    miner_ppm: int = 0

    def __post_init__(self) -> None:
        for name in ("auctioneer_ppm", "miner_ppm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MarketError(f"rewards.{name}", "must be an integer >= 0")
        if self.auctioneer_ppm + self.miner_ppm > 1_000_000:
            raise MarketError("rewards", "the shares must add up to at most 1,000,000 ppm")


@dataclass(frozen=True)
class StageLine:
    """One prosumer's outcome in one stage: Wh sold and bought, money received (> 0) or paid (< 0)."""

    sold_wh: int = 0
    bought_wh: int = 0
    money_micro: int = 0


@dataclass(frozen=True)
class Statement:
    """A prosumer's statement for the slot: its net position (Wh) and one line per stage."""

    peer: str
    net_wh: int
    stages: Mapping[Stage, StageLine]

    @property
    def traded_wh(self) -> int:
        """``Σ_stages (sold − bought)``; equals ``net_wh``."""
        return sum(line.sold_wh - line.bought_wh for line in self.stages.values())

    @property
    def money_micro(self) -> int:
        """Net money over all stages, micro-tokens (> 0 received)."""
        return sum(line.money_micro for line in self.stages.values())


@dataclass(frozen=True)
class SlotSettlement:
    """The slot's settlement: statements in input order, the accounts (micro-tokens, > 0 received), the
    auction's clearing result (``None`` when one side was empty), the grid trades, the settled orders and
    the board after settlement."""

    slot: int
    statements: tuple[Statement, ...]
    accounts: Mapping[str, int]
    auction: ClearingResult | None
    grid_trades: tuple[MainGridTrade, ...]
    listing_settlements: tuple[OrderSettlement, ...]
    board: Board
    auction_accounts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    policy_applied: str | None = None
    policy_reason: str | None = None
    fund_grid_trade: MainGridTrade | None = None

    @property
    def fund_micro(self) -> int:
        """The community fund's movement in this slot (micro-tokens; > 0 it grows): the auction's surplus or
        deficit plus the feed-in income of DPDA's excess sold in the grid stage (``docs/settlement.md``)."""
        return self.accounts.get("fund", 0)

    @property
    def grid_charge_micro(self) -> int:
        """The DSO's income from the auction's grid charges (micro-tokens; part of ``accounts["dso"]``)."""
        return self.auction_accounts.get("dso", 0)

    def auction_lines(self) -> dict[str, tuple[int, int]]:
        """The auction stage per account: ``{peer or account: (energy_wh, amount_micro)}`` with the
        ledger's signs (energy > 0 sold, < 0 bought; money > 0 received), every prosumer (zeros when it did
        not trade) and every auction account (``dso``, ``fund`` -- its energy is DPDA's excess it takes, < 0 --
        ``auctioneer_reward``, ``miner_reward``)."""
        lines = {
            s.peer: (s.stages["auction"].sold_wh - s.stages["auction"].bought_wh, s.stages["auction"].money_micro)
            for s in self.statements
        }
        lines.update({name: (0, value) for name, value in self.auction_accounts.items()})
        if self.fund_grid_trade is not None:
            lines["fund"] = (-self.fund_grid_trade.energy_wh, lines["fund"][1])
        return lines

    @property
    def balance_micro(self) -> int:
        """Σ prosumers' money + Σ accounts; always 0."""
        return sum(s.money_micro for s in self.statements) + sum(self.accounts.values())

    def statement(self, peer: str) -> Statement:
        for s in self.statements:
            if s.peer == peer:
                return s
        raise KeyError(peer)


class _Ledger:
    """Mutable per-stage accumulators (private to :func:`settle_slot`)."""

    def __init__(self, peers: Sequence[str]) -> None:
        self.lines: dict[str, dict[Stage, list[int]]] = {p: {s: [0, 0, 0] for s in STAGES} for p in peers}
        self.accounts = dict.fromkeys(ACCOUNTS, 0)
        self.auction_accounts = {"dso": 0, "fund": 0, "auctioneer_reward": 0, "miner_reward": 0}
        self.policy_applied: str | None = None
        self.policy_reason: str | None = None

    def sell(self, stage: Stage, peer: str, energy_wh: int, money_micro: int) -> None:
        line = self.lines[peer][stage]
        line[0] += energy_wh
        line[2] += money_micro

    def buy(self, stage: Stage, peer: str, energy_wh: int, money_micro: int) -> None:
        line = self.lines[peer][stage]
        line[1] += energy_wh
        line[2] += money_micro


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _columns(side: Sequence[str], prosumers: Mapping[str, Prosumer], names: Sequence[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for peer in side:
        attributes = prosumers[peer].attributes or {}
        for name in names:
            if name not in attributes:
                raise MarketError("prosumers", f"prosumer {peer!r} has no attribute {name!r}")
            columns[name].append(attributes[name])
    return columns


def _run(mech: Any, sellers: Orders, buyers: Orders, params: Any, name: str) -> ClearingResult:
    try:
        result: ClearingResult = mech.run(sellers, buyers, params)
    except (ValueError, TypeError) as exc:  # OrdersError / ParamError / GridError: attributes that do not fit
        raise MarketError("prosumers", f"{name}: {exc}") from None
    return result


def _auction(  # noqa: PLR0917 - private, the stage's inputs
    ledger: _Ledger,
    residual: dict[str, int],
    prosumers: Sequence[Prosumer],
    mechanism: str,
    params: Any,
    tariff: GridTariff,
    wholesale_price_per_kwh: float | None,
    rewards: RewardRates | None,
    fund_micro: int | None,
    deficit_policy: str,
) -> tuple[ClearingResult | None, int]:
    """Run the community auction and post its stage (``docs/settlement.md``); ``(result settled, excess Wh
    the fund takes to the grid stage)``."""
    from transactive.registry import full_registry

    registry = full_registry()
    if mechanism not in registry:
        raise MarketError("mechanism", f"unknown mechanism {mechanism!r}; one of {sorted(registry)}", "not_found")
    mech = registry[mechanism]
    if mech.sides != ("sellers", "buyers"):
        raise MarketError("mechanism", f"{mechanism} is one-sided; the community auction needs sellers and buyers")
    by_peer = {p.peer: p for p in prosumers}
    params = mech.params_type() if params is None else params
    limits = {p.peer: p.limit_price_per_kwh for p in prosumers}
    sell_alt = tariff.sell_alternative_per_kwh(wholesale_price_per_kwh)
    buy_alt = tariff.buy_alternative_per_kwh(wholesale_price_per_kwh)
    sellers = [p.peer for p in prosumers if residual[p.peer] > 0]
    buyers = [p.peer for p in prosumers if residual[p.peer] < 0]
    if mech.participant_fields and any(by_peer[p].attributes is None for p in (*sellers, *buyers)):
        fields = ", ".join(f.name for f in mech.participant_fields)
        raise MarketError(
            "mechanism", f"{mechanism} needs per-participant attributes ({fields}) the slot does not carry"
        )
    if not sellers or not buyers:
        return None, 0
    names = sorted({k for p in (*sellers, *buyers) for k in (by_peer[p].attributes or {})})
    ask = Orders.single(sellers, [residual[s] / 1000 for s in sellers], [_or(limits[s], sell_alt) for s in sellers],
                        **_columns(sellers, by_peer, names))
    bid = Orders.single(buyers, [-residual[b] / 1000 for b in buyers], [_or(limits[b], buy_alt) for b in buyers],
                        **_columns(buyers, by_peer, names))
    ppm = (None, None) if rewards is None else (rewards.auctioneer_ppm, rewards.miner_ppm)
    settled = settle_auction(_run(mech, ask, bid, params, mechanism), ask, bid, sellers, buyers,
                             fund_micro=fund_micro, policy=deficit_policy, ppm=ppm,
                             feed_in_per_kwh=tariff.feed_in_per_kwh)
    ledger.policy_applied, ledger.policy_reason = settled.policy_applied, settled.policy_reason
    stage = settled.stage
    if stage is None:
        return None, 0
    selling = set(sellers)
    for account, energy_wh, money in stage.rows:
        if account in selling:
            ledger.sell("auction", account, energy_wh, money)
        else:
            ledger.buy("auction", account, -energy_wh, money)
        residual[account] -= energy_wh
    ledger.auction_accounts.update(dso=stage.dso_micro, fund=stage.fund_micro,
                                   auctioneer_reward=stage.auctioneer_reward_micro,
                                   miner_reward=stage.miner_reward_micro)
    for account, value in ledger.auction_accounts.items():
        ledger.accounts[account] += value
    return settled.result, stage.fund_wh


def _validate(prosumers: Sequence[Prosumer]) -> dict[str, int]:
    residual: dict[str, int] = {}
    for k, p in enumerate(prosumers):
        if not isinstance(p.peer, str) or not p.peer:
            raise MarketError(f"prosumers[{k}].peer", "must be a non-empty string")
        if p.peer in residual:
            raise MarketError(f"prosumers[{k}].peer", f"duplicate peer {p.peer!r}", "conflict")
        if isinstance(p.net_kwh, bool) or not isinstance(p.net_kwh, (int, float)) or not math.isfinite(p.net_kwh):
            raise MarketError(f"prosumers[{k}].net_kwh", "must be a finite number")
        limit = p.limit_price_per_kwh
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit)
        ):
            raise MarketError(f"prosumers[{k}].limit_price_per_kwh", "must be a finite number or null")
        residual[p.peer] = energy_to_wh(p.net_kwh)
    return residual


def settle_slot(
    slot: int,
    prosumers: Sequence[Prosumer],
    *,
    contracts: Sequence[BilateralContract] = (),
    board: Board | None = None,
    mechanism: str = "dpda",
    params: Any = None,
    tariff: GridTariff | None = None,
    wholesale_price_per_kwh: float | None = None,
    rates: ServiceRates | None = None,
    rewards: RewardRates | None = None,
    fund_micro: int | None = None,
    deficit_policy: str = DEFAULT_POLICY,
    through: Stage = "grid",
) -> SlotSettlement:
    """Settle one slot through the four stages (see the module docstring). Pure and deterministic.

    Every contract and listing party must be one of ``prosumers``; ``params`` defaults to the mechanism's
    canonical parameters. ``fund_micro``: the community fund's balance before the slot (``None``:
    unbounded); ``deficit_policy``: what applies when it cannot cover the slot's deficit or a participant
    would not be individually rational (:mod:`transactive.settlement.fund`). ``through``: the last stage
    run (``"listings"``: stages 1-2 only, the residuals left unsettled; the service's settlement sequence,
    :mod:`transactive.settlement.sequence`, settles its anchored clearing against them).
    """
    try:
        check_policy(deficit_policy)
    except ValueError as exc:
        raise MarketError("deficit_policy", str(exc)) from None
    residual = _validate(prosumers)
    tariff = tariff or GridTariff()
    ledger = _Ledger([p.peer for p in prosumers])
    # 1. bilateral contracts (firm)
    for k, c in enumerate(contracts):
        for side, peer in (("seller", c.seller), ("buyer", c.buyer)):
            if peer not in residual:
                raise MarketError(f"contracts[{k}].{side}", f"{peer} is not a prosumer of the slot")
        energy_wh = c.delivery_wh(slot)
        if energy_wh == 0:
            continue
        value = c.value_micro(slot)
        ledger.sell("bilateral", c.seller, energy_wh, value)
        ledger.buy("bilateral", c.buyer, energy_wh, -value)
        residual[c.seller] -= energy_wh
        residual[c.buyer] += energy_wh
    # 2. listings (metered delivery of the accepted orders)
    board = (board or Board()).close(slot)
    for order in board.accepted_orders(slot):
        for side, peer in (("seller", board.listing(order.listing_id).seller), ("buyer", order.buyer)):
            if peer not in residual:
                raise MarketError(f"orders[{order.order_id}].{side}", f"{peer} is not a prosumer of the slot")
    deliveries = metered_delivery(board, slot, residual, {p: -r for p, r in residual.items()})
    board, settled = settle_listings(board, slot, deliveries, rates)
    for o in settled:
        ledger.sell("listings", o.seller, o.delivered_wh, o.seller_micro)
        ledger.buy("listings", o.buyer, o.delivered_wh, o.buyer_micro)
        ledger.accounts["board"] += o.service_charge_micro
        ledger.accounts["dso"] += o.penalty_micro
        residual[o.seller] -= o.delivered_wh
        residual[o.buyer] += o.delivered_wh
    if through in ("bilateral", "listings"):
        return _settlement(slot, prosumers, ledger, None, (), settled, board, None)
    # 3. community auction
    auction, excess_wh = _auction(ledger, residual, prosumers, mechanism, params, tariff, wholesale_price_per_kwh,
                                  rewards, fund_micro, deficit_policy)
    # 4. main grid
    limits = {p.peer: p.limit_price_per_kwh for p in prosumers if p.limit_price_per_kwh is not None}
    grid_trades = settle_with_grid(
        dict(residual), tariff=tariff, wholesale_price_per_kwh=wholesale_price_per_kwh, limit_price_per_kwh=limits
    )
    for g in grid_trades:
        if g.energy_wh > 0:
            ledger.sell("grid", g.peer, g.energy_wh, g.money_micro)
        elif g.energy_wh < 0:
            ledger.buy("grid", g.peer, -g.energy_wh, g.money_micro)
        ledger.accounts["auctioneer"] += g.fee_micro
        ledger.accounts["grid"] += g.grid_micro
        residual[g.peer] -= g.energy_wh
    fund_trade = None
    if excess_wh:  # DPDA's excess, taken by the fund in the auction, sold at the feed-in tariff
        fit = money_to_micro(excess_wh / 1000 * tariff.feed_in_per_kwh)
        fund_trade = MainGridTrade("fund", excess_wh, "feed_in", fit)
        ledger.accounts["fund"] += fit
        ledger.accounts["grid"] += fund_trade.grid_micro
    return _settlement(slot, prosumers, ledger, auction, grid_trades, settled, board, fund_trade)


def _settlement(  # noqa: PLR0917 - private, the slot's parts
    slot: int, prosumers: Sequence[Prosumer], ledger: _Ledger, auction: ClearingResult | None,
    grid_trades: tuple[MainGridTrade, ...], settled: tuple[OrderSettlement, ...], board: Board,
    fund_trade: MainGridTrade | None,
) -> SlotSettlement:
    statements = tuple(
        Statement(
            p.peer,
            energy_to_wh(p.net_kwh),
            MappingProxyType({s: StageLine(*ledger.lines[p.peer][s]) for s in STAGES}),
        )
        for p in prosumers
    )
    return SlotSettlement(
        slot, statements, MappingProxyType(dict(ledger.accounts)), auction, grid_trades, settled, board,
        MappingProxyType(dict(ledger.auction_accounts)), ledger.policy_applied, ledger.policy_reason, fund_trade,
    )
