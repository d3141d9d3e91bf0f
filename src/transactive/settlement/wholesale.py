"""The wholesale price series the grid stage trades at (seed 001 §III-D, §IV-A), and a community's choice of it.

Seed 001's fourth settlement lets the auctioneer trade the community's residual in the regional wholesale
market for a fee of 0.025 $/kWh "added to or subtracted from the clearing prices of the cleared peers'
buying/selling bids" (§IV-A; the rule is :func:`transactive.settlement.grid_trading.settle_with_grid`).
The paper's prices come from GECAD (MIBEL) data it does not ship, and no package we can install offline
ships a measured day-ahead series, so the default is a **documented synthetic series**
(:func:`synthetic_prices`, also the ``alashery-2021`` study's); a measured one can be given as a file
(:func:`read_prices`: one price per line, or ``hour,price`` CSV rows, or a JSON list).

A :class:`WholesaleSeries` covers one day in equal intervals from 00:00 UTC (24 hourly prices, 96
quarter-hourly, ...; its length divides 1440 minutes): a slot is priced by the interval holding its start
(:meth:`WholesaleSeries.price_at`). A community of the service opts in with its ``wholesale`` parameter
(:func:`community_series`): ``{"prices_per_kwh": [...] | "synthetic", "fee_per_kwh": 0.025, "seed": 1}``.

Example:
    >>> s = WholesaleSeries((0.04, 0.06))
    >>> s.price_at_minute(0), s.price_at_minute(12 * 60), s.fee_per_kwh
    (0.04, 0.06, 0.025)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from transactive.errors import MarketError
from transactive.settlement.grid_trading import DEFAULT_WHOLESALE_FEE_PER_KWH

HOURS = 24
MINUTES_PER_DAY = 1440
SYNTHETIC = "synthetic"
COMMUNITY_KEY = "wholesale"
"""The community parameter that turns wholesale trading on (not a mechanism parameter: see
:func:`mechanism_params`)."""
MAX_PRICE_PER_KWH = 1e6

__all__ = ["COMMUNITY_KEY", "SYNTHETIC", "WholesaleSeries", "community_series", "mechanism_params",
           "read_prices", "series_from_spec", "settlement_field", "slot_wholesale", "synthetic_prices"]


def synthetic_prices(seed: int, day: int) -> npt.NDArray[np.float64]:
    """A synthetic hourly wholesale price (tokens/kWh, 24 values) for ``day``: an Iberian-like day-ahead shape
    (GECAD's market is MIBEL), ``0.045 + 0.012·g(8.5 h, 1.5) + 0.02·g(20.5 h, 2) − 0.008·g(14 h, 2)`` with ``g`` a
    unit Gaussian bump (centre, width), times a day level drawn in [0.85, 1.15] and per-hour noise
    ``N(0, 0.002)``, floored at 0.005. Range about 0.035-0.075: under retail (0.1), above the feed-in tariff
    (0.015). Deterministic for ``(seed, day)``."""
    rng = np.random.default_rng([seed, 1002, day])
    h = np.arange(HOURS) + 0.5

    def bump(centre: float, width: float) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.exp(-0.5 * ((h - centre) / width) ** 2)
        return out

    shape = 0.045 + 0.012 * bump(8.5, 1.5) + 0.02 * bump(20.5, 2.0) - 0.008 * bump(14.0, 2.0)
    prices: npt.NDArray[np.float64] = np.maximum(shape * rng.uniform(0.85, 1.15) + rng.normal(0.0, 0.002, HOURS),
                                                 0.005)
    return prices


def _price(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MarketError(field, "must be a finite number (tokens per kWh)")
    if abs(value) > MAX_PRICE_PER_KWH:
        raise MarketError(field, f"must be within ±{MAX_PRICE_PER_KWH:g} tokens per kWh")
    return float(value)


@dataclass(frozen=True)
class WholesaleSeries:
    """One day of wholesale prices (tokens/kWh, may be negative) in equal intervals from 00:00 UTC, and the
    auctioneer's fee (tokens/kWh, >= 0). ``MarketError`` naming the field when invalid."""

    prices_per_kwh: tuple[float, ...]
    fee_per_kwh: float = DEFAULT_WHOLESALE_FEE_PER_KWH
    source: str = SYNTHETIC

    def __post_init__(self) -> None:
        n = len(self.prices_per_kwh)
        if n == 0 or MINUTES_PER_DAY % n:
            raise MarketError("wholesale.prices_per_kwh", "must have a number of prices dividing 1440 minutes "
                              "(24 hourly, 96 quarter-hourly, ...)")
        for k, p in enumerate(self.prices_per_kwh):
            _price(p, f"wholesale.prices_per_kwh[{k}]")
        fee = _price(self.fee_per_kwh, "wholesale.fee_per_kwh")
        if fee < 0:
            raise MarketError("wholesale.fee_per_kwh", "must be >= 0")

    @property
    def interval_minutes(self) -> int:
        return MINUTES_PER_DAY // len(self.prices_per_kwh)

    def price_at_minute(self, minute_of_day: int) -> float:
        """The price of the interval holding ``minute_of_day`` (0-1439, UTC)."""
        return self.prices_per_kwh[(minute_of_day % MINUTES_PER_DAY) // self.interval_minutes]

    def price_at(self, moment: datetime) -> float:
        """The price of a slot starting at ``moment`` (its UTC time of day picks the interval)."""
        return self.price_at_minute(moment.hour * 60 + moment.minute)

    def to_json(self) -> dict[str, Any]:
        """The community parameter's stored form (explicit prices: a reader sees the numbers)."""
        return {"prices_per_kwh": list(self.prices_per_kwh), "fee_per_kwh": self.fee_per_kwh, "source": self.source}

    @classmethod
    def synthetic(cls, seed: int = 1, day: int = 0, fee_per_kwh: float = DEFAULT_WHOLESALE_FEE_PER_KWH
                  ) -> WholesaleSeries:
        """:func:`synthetic_prices` as a series."""
        prices = tuple(round(float(p), 6) for p in synthetic_prices(seed, day))
        return cls(prices, fee_per_kwh, f"{SYNTHETIC} (seed {seed}, day {day})")


def read_prices(path: str | Path) -> tuple[float, ...]:
    """A measured series from a file: a JSON list of prices, or text with one price per line (``#`` comments
    and blank lines skipped; a ``hour,price`` row takes its last column; a header row without a number is
    skipped). ``MarketError`` naming ``wholesale_prices`` when unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MarketError("wholesale_prices", f"cannot read {path}: {exc.strerror or exc}") from None
    if text.lstrip().startswith("["):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise MarketError("wholesale_prices", f"{path}: not a JSON list ({exc})") from None
        if not isinstance(raw, list):
            raise MarketError("wholesale_prices", f"{path}: not a JSON list")
        return tuple(_price(v, f"wholesale_prices[{k}]") for k, v in enumerate(raw))
    out: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        cell = line.split("#", 1)[0].strip()
        if not cell:
            continue
        last = cell.replace(";", ",").split(",")[-1].strip()
        try:
            value = float(last)
        except ValueError:
            if not out:  # a header row
                continue
            raise MarketError("wholesale_prices", f"{path}:{number}: not a number: {last!r}") from None
        out.append(_price(value, f"wholesale_prices (line {number})"))
    return tuple(out)


def series_from_spec(spec: str, *, seed: int = 1, fee_per_kwh: float = DEFAULT_WHOLESALE_FEE_PER_KWH
                     ) -> WholesaleSeries:
    """``"synthetic"`` (:meth:`WholesaleSeries.synthetic` for ``seed``) or a file (:func:`read_prices`)."""
    if spec == SYNTHETIC:
        return WholesaleSeries.synthetic(seed, 0, fee_per_kwh)
    return WholesaleSeries(read_prices(spec), fee_per_kwh, f"file {Path(spec).name}")


def community_series(params: Mapping[str, Any]) -> WholesaleSeries | None:
    """The community's wholesale series from its ``wholesale`` parameter (None: tariffs only):
    ``{"prices_per_kwh": [...] | "synthetic", "fee_per_kwh": 0.025, "seed": 1}``. ``MarketError`` naming
    ``params.wholesale.<field>``."""
    raw = params.get(COMMUNITY_KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MarketError("params.wholesale", "must be an object with prices_per_kwh (a list or \"synthetic\")")
    unknown = sorted(set(raw) - {"prices_per_kwh", "fee_per_kwh", "seed", "source"})
    if unknown:
        raise MarketError(f"params.wholesale.{unknown[0]}", "unknown (known: prices_per_kwh, fee_per_kwh, seed)")
    fee = raw.get("fee_per_kwh", DEFAULT_WHOLESALE_FEE_PER_KWH)
    prices = raw.get("prices_per_kwh", SYNTHETIC)
    try:
        if prices == SYNTHETIC:
            seed = raw.get("seed", 1)
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
                raise MarketError("params.wholesale.seed", "must be an integer in [0, 2^32)")
            return WholesaleSeries.synthetic(seed, 0, _price(fee, "wholesale.fee_per_kwh"))
        if not isinstance(prices, Sequence) or isinstance(prices, str):
            raise MarketError("params.wholesale.prices_per_kwh", "must be a list of prices or \"synthetic\"")
        return WholesaleSeries(tuple(_price(p, f"wholesale.prices_per_kwh[{k}]") for k, p in enumerate(prices)),
                               _price(fee, "wholesale.fee_per_kwh"), str(raw.get("source", "community")))
    except MarketError as exc:
        if exc.field.startswith("params."):
            raise
        raise MarketError(f"params.{exc.field}", exc.message) from None


def mechanism_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A community's parameters without its settlement choices (``wholesale``): what its mechanism parses and
    what an anchored batch carries."""
    return {k: v for k, v in params.items() if k != COMMUNITY_KEY}


def slot_wholesale(params: Mapping[str, Any], slot_start: str | datetime) -> tuple[float, float] | None:
    """``(λ_w, fee)`` of a slot of a community (its ``wholesale`` parameter at the slot's start, ISO 8601 UTC),
    tokens/kWh; None without the parameter."""
    series = community_series(params)
    if series is None:
        return None
    from transactive.times import parse_utc_time

    moment = slot_start if isinstance(slot_start, datetime) else parse_utc_time(slot_start, "slot_start")
    return series.price_at(moment), series.fee_per_kwh


def settlement_field(params: Mapping[str, Any], slot_start: str | datetime, auctioneer: str | None
                     ) -> dict[str, Any] | None:
    """The settlement input's optional ``wholesale`` field of a slot (:mod:`transactive.settlement.sequence`):
    ``{"price_per_kwh", "fee_per_kwh", "auctioneer"}``; None for a community trading at the tariffs only."""
    found = slot_wholesale(params, slot_start)
    if found is None:
        return None
    return {"price_per_kwh": found[0], "fee_per_kwh": found[1], "auctioneer": auctioneer}
