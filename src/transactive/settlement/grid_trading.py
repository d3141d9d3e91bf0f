"""The main grid, the fourth settlement of seed 001 (section III-D): what no peer took is traded with the grid.

Two options (seed 001, III-D and the case study):

* **tariffs** -- sell to the grid at the feed-in tariff (default 0.015 per kWh), buy from it at the retail rate
  (default 0.1 per kWh); always available, so every residual is balanced;
* **wholesale participation through the auctioneer** -- when the slot has a wholesale clearing price
  ``λ_w``, a peer's residual is bid into the wholesale market by the auctioneer; a cleared sell receives
  ``λ_w − fee`` and a cleared buy pays ``λ_w + fee`` (default fee 0.025 per kWh, kept by the auctioneer:
  seed 001 Table II, "normalized surplus 0.025 $/kWh"). A sell clears when its limit price is ``<= λ_w``, a
  buy when its limit is ``>= λ_w``; what does not clear falls back to the tariffs (seed 001 case-study
  scheme 2, "wholesale market, and feed-in tariff for uncleared bids"). A peer without a limit (a metered
  residual nobody priced) is bid at its tariff alternative grossed up by the fee -- a sell at ``FiT + fee``,
  a buy at ``retail − fee`` -- so it takes the wholesale route exactly when that nets it at least as much as
  the tariffs: it receives ``max(FiT, λ_w − fee)`` and pays ``min(retail, λ_w + fee)`` per kWh, the grid
  alternative the auction stage prices such a peer at (:meth:`GridTariff.sell_alternative_per_kwh`).

Sign convention: ``residual_wh > 0`` is surplus the peer sells, ``< 0`` a deficit it buys. Money is integer
micro-tokens (:mod:`transactive.units`): each figure ``rate·energy`` is rounded once per peer, so what the
peer receives or pays, the grid account's and the auctioneer's amounts add up to zero exactly.

Example:
    >>> t = GridTariff()
    >>> [(g.peer, g.route, g.money_micro) for g in settle_with_grid({"pv": 2000, "ev": -1000}, tariff=t)]
    [('pv', 'feed_in', 30000), ('ev', 'retail', -100000)]
    >>> [(g.route, g.money_micro, g.fee_micro) for g in settle_with_grid({"pv": 2000}, wholesale_price_per_kwh=0.05)]
    [('wholesale', 50000, 50000)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from transactive.errors import MarketError
from transactive.units import WH_PER_KWH, money_to_micro

GridRoute = Literal["feed_in", "retail", "wholesale", "none"]

DEFAULT_FEED_IN_PER_KWH = 0.015  # seed 001 case study: sell-to-grid
DEFAULT_RETAIL_PER_KWH = 0.1  # seed 001 case study: buy-from-grid
DEFAULT_WHOLESALE_FEE_PER_KWH = 0.025  # seed 001 case study: added to buys / subtracted from sells


@dataclass(frozen=True)
class GridTariff:
    """The main grid's rates, tokens per kWh (defaults: seed 001's case study).

    Attributes:
        feed_in_per_kwh: paid to a peer for each kWh sold to the grid (>= 0).
        retail_per_kwh: paid by a peer for each kWh bought from the grid (>= ``feed_in_per_kwh``).
        wholesale_fee_per_kwh: the auctioneer's fee on wholesale trades, added to buys and subtracted from
            sells (>= 0).
    """

    feed_in_per_kwh: float = DEFAULT_FEED_IN_PER_KWH
    retail_per_kwh: float = DEFAULT_RETAIL_PER_KWH
    wholesale_fee_per_kwh: float = DEFAULT_WHOLESALE_FEE_PER_KWH

    def __post_init__(self) -> None:
        for name in ("feed_in_per_kwh", "retail_per_kwh", "wholesale_fee_per_kwh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise MarketError(f"tariff.{name}", "must be a finite number")
            if value < 0:
                raise MarketError(f"tariff.{name}", "must be >= 0")
        if self.feed_in_per_kwh > self.retail_per_kwh:
            raise MarketError("tariff.feed_in_per_kwh", "must not exceed retail_per_kwh")

    def sell_alternative_per_kwh(self, wholesale_price_per_kwh: float | None = None) -> float:
        """The best a seller gets from the grid: ``max(FiT, λ_w − fee)`` (``FiT`` without wholesale)."""
        if wholesale_price_per_kwh is None:
            return self.feed_in_per_kwh
        return max(self.feed_in_per_kwh, wholesale_price_per_kwh - self.wholesale_fee_per_kwh)

    def buy_alternative_per_kwh(self, wholesale_price_per_kwh: float | None = None) -> float:
        """The least a buyer pays the grid: ``min(retail, λ_w + fee)`` (``retail`` without wholesale)."""
        if wholesale_price_per_kwh is None:
            return self.retail_per_kwh
        return min(self.retail_per_kwh, wholesale_price_per_kwh + self.wholesale_fee_per_kwh)


    def seen_at(self, wholesale_price_per_kwh: float | None) -> GridTariff:
        """The grid as a member sees it in a slot with wholesale price ``λ_w``: feed-in and retail replaced by
        the sell and buy alternatives (the two meet at the buy alternative when ``λ_w − fee`` exceeds it);
        ``self`` without ``λ_w``."""
        if wholesale_price_per_kwh is None:
            return self
        buy = self.buy_alternative_per_kwh(wholesale_price_per_kwh)
        sell = min(self.sell_alternative_per_kwh(wholesale_price_per_kwh), buy)
        return GridTariff(sell, buy, self.wholesale_fee_per_kwh)


@dataclass(frozen=True)
class MainGridTrade:
    """One peer's trade with the main grid, integer units.

    Attributes:
        peer: the peer.
        energy_wh: signed: > 0 sold to the grid, < 0 bought from it (equals the residual it balances).
        route: ``feed_in`` / ``retail`` (tariffs), ``wholesale`` (through the auctioneer), ``none`` (0 Wh).
        money_micro: signed, what the peer receives (> 0) or pays (< 0), fee included.
        fee_micro: the auctioneer's fee on this trade (>= 0; 0 off the wholesale route).
    """

    peer: str
    energy_wh: int
    route: GridRoute
    money_micro: int
    fee_micro: int = 0

    @property
    def grid_micro(self) -> int:
        """The grid account's signed amount (receives > 0): ``−(money + fee)``."""
        return -(self.money_micro + self.fee_micro)


def _check_rate(value: float | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
        raise MarketError(name, "must be a finite number")


def settle_with_grid(
    residual_wh: Mapping[str, int],
    *,
    tariff: GridTariff | None = None,
    wholesale_price_per_kwh: float | None = None,
    limit_price_per_kwh: Mapping[str, float] | None = None,
) -> tuple[MainGridTrade, ...]:
    """Balance every peer's residual with the main grid (in the mapping's order, one trade per peer).

    ``wholesale_price_per_kwh`` (``λ_w``, may be negative) enables wholesale participation; without it only
    the tariffs apply. ``limit_price_per_kwh`` holds peers' limits for the wholesale bid (a missing peer bids
    its tariff alternative grossed up by the fee: ``FiT + fee`` to sell, ``retail − fee`` to buy).
    """
    tariff = tariff or GridTariff()
    limits = limit_price_per_kwh or {}
    _check_rate(wholesale_price_per_kwh, "wholesale_price_per_kwh")
    out: list[MainGridTrade] = []
    for peer, energy_wh in residual_wh.items():
        if isinstance(energy_wh, bool) or not isinstance(energy_wh, int):
            raise MarketError(f"residual_wh[{peer}]", "must be an integer number of Wh")
        limit = limits.get(peer)
        _check_rate(limit, f"limit_price_per_kwh[{peer}]")
        energy_kwh = abs(energy_wh) / WH_PER_KWH
        if energy_wh == 0:
            out.append(MainGridTrade(peer, 0, "none", 0))
            continue
        selling = energy_wh > 0
        if limit is None:  # bid the tariff alternative: wholesale only where it nets the peer at least as much
            fee = tariff.wholesale_fee_per_kwh
            limit = tariff.feed_in_per_kwh + fee if selling else tariff.retail_per_kwh - fee
        if wholesale_price_per_kwh is not None and (
            limit <= wholesale_price_per_kwh if selling else limit >= wholesale_price_per_kwh
        ):
            market_micro = money_to_micro(wholesale_price_per_kwh * energy_kwh)
            fee_micro = money_to_micro(tariff.wholesale_fee_per_kwh * energy_kwh)
            money = market_micro - fee_micro if selling else -(market_micro + fee_micro)
            out.append(MainGridTrade(peer, energy_wh, "wholesale", money, fee_micro))
        elif selling:
            out.append(MainGridTrade(peer, energy_wh, "feed_in", money_to_micro(tariff.feed_in_per_kwh * energy_kwh)))
        else:
            out.append(MainGridTrade(peer, energy_wh, "retail", -money_to_micro(tariff.retail_per_kwh * energy_kwh)))
    return tuple(out)
