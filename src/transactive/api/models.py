"""Request bodies (pydantic, strict: no string-to-number coercion). Mechanism rules are checked below the API,
by the market layer, so these models only describe shapes for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CommunityIn(_Strict):
    name: str = Field(description="1-64 characters: letters, digits, '_', '.', '-'", examples=["green-street"])
    mechanism: str = Field(default="dpda_matched",
                           description="a mechanism name (see `transactive mechanisms`); default `dpda_matched`: "
                           "DPDA + score matching on the feeder (orders then carry `distance_pref_m` and welfare "
                           "parameters; `bus` defaults to the member's)", examples=["dpda_matched", "uniform"])
    params: dict[str, Any] | None = Field(default=None, description="the mechanism's parameters (market file), "
                                          "and optionally `wholesale`: the grid stage's wholesale trading through "
                                          "the auctioneer, {\"prices_per_kwh\": [...] | \"synthetic\", "
                                          "\"fee_per_kwh\": 0.025} (docs/settlement.md §9)")
    slot_minutes: int = Field(default=15, description="slot length in minutes; must divide a day")
    time_zone: str | None = Field(default=None, description="IANA time zone name the web app shows times in "
                                  "(default UTC; slots stay aligned in UTC)", examples=["Europe/Berlin"])


class MemberIn(_Strict):
    id: str = Field(description="member id, 1-64 characters", examples=["house-17"])
    role: Literal["prosumer", "aggregator", "dso", "validator"]
    bus: str | int | None = Field(default=None, description="the member's feeder bus")
    meter_address: str | None = Field(default=None, description="the address of the member's meter key (readings "
                                      "are then taken only signed by it)")


class Block(_Strict):
    energy_kwh: float = Field(description="kWh offered (sell) or wanted (buy) in this block, > 0")
    price_per_kwh: float | None = Field(default=None, description="lowest ask (sell) or highest bid (buy), >= 0")


class OrderIn(BaseModel):
    """One participant entry of a market file plus ``side``, ``slot_start`` and ``idempotency_key``.

    Mechanism-specific fields (e.g. ``bus``) are accepted as extra properties and checked by the market.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    side: Literal["sell", "buy"]
    slot_start: str = Field(description="ISO 8601 UTC slot start, aligned to the slot length",
                            examples=["2026-01-01T12:15:00Z"])
    idempotency_key: str = Field(description="1-128 characters, unique per member; a retry reuses it")
    energy_kwh: float | None = Field(default=None, description="kWh (single-block order)")
    price_per_kwh: float | None = Field(default=None, description="tokens/kWh (single-block order)")
    blocks: list[Block] | None = Field(default=None, description="several blocks (block-bid mechanisms only)")


class MeterReadingIn(_Strict):
    slot_start: str = Field(description="ISO 8601 UTC start of a slot that has ended")
    energy_kwh: float = Field(description="net energy at the meter over the slot: + exported, - imported")
    member: str | None = Field(default=None, description="whose meter (DSO and admin only; default: yourself)")
    signature: str | None = Field(default=None, description="the meter's EIP-712 signature of MeterReading(community, "
                                  "member, slot, energyWh), 0x-hex; required for a member with a meter key "
                                  "(`transactive sign reading`)")


class MeterKeyIn(_Strict):
    meter_address: str = Field(description="the address of the meter's key (0x + 40 hex digits)")
    member: str | None = Field(default=None, description="whose meter (admin only; default: yourself)")


class DisputeIn(_Strict):
    slot_start: str = Field(description="ISO 8601 UTC start of the slot whose reading is disputed")
    energy_kwh: float = Field(description="the value proposed instead of the stored reading (kWh, + exported)")
    reason: str = Field(description="why, 1-500 characters")
    member: str | None = Field(default=None, description="whose reading (DSO and admin only; default: yours)")


class DecisionIn(_Strict):
    note: str | None = Field(default=None, description="recorded with the resolution (at most 500 characters)")


class BaselineIn(_Strict):
    x_days: int = Field(default=10, description="high X: days averaged (1-366)")
    y_days: int = Field(default=10, description="of Y: most recent eligible days considered (>= x_days)")
    adjustment: Literal["none", "multiplicative", "additive"] = "multiplicative"
    cap: float = Field(default=0.2, description="same-day adjustment cap, a fraction in [0, 1)")


class NegawattEventIn(_Strict):
    id: str = Field(description="event id, 1-64 characters, unique in the community", examples=["dr-0301-17"])
    event_type: Literal["knapsack_vcg", "dra_fixed_price", "p2p_average_price"] = "knapsack_vcg"
    target_kwh: float = Field(description="reduction wanted over the window, kWh, > 0")
    price_per_kwh: float | None = Field(default=None, description="reservation price (knapsack_vcg) or the "
                                        "fixed price paid (dra_fixed_price), tokens/kWh; none for p2p")
    penalty_per_kwh: float | None = Field(default=None, description="penalty on unresolved shortfalls, "
                                          "tokens/kWh (default: price_per_kwh; required for p2p)")
    offers_close: str = Field(description="ISO 8601 UTC; offers are taken until then",
                              examples=["2026-03-01T12:00:00Z"])
    window_start: str = Field(description="ISO 8601 UTC start of the event window", examples=["2026-03-01T17:00:00Z"])
    window_end: str = Field(description="ISO 8601 UTC end (same UTC day)", examples=["2026-03-01T18:00:00Z"])
    interval_minutes: int = Field(default=60, description="meter interval length; divides a day")
    baseline: BaselineIn | None = None


class NegawattOfferIn(_Strict):
    side: Literal["sell", "buy"] = Field(default="sell", description="buy only in p2p_average_price events")
    energy_kwh: float = Field(description="reduction offered (sell) or negawatts wanted (buy), kWh, > 0")
    price_per_kwh: float | None = Field(default=None, description="unit ask (sell) or bid (buy), tokens/kWh")


class NegawattDeliveryIn(_Strict):
    member: str | None = Field(default=None, description="whose meter (DSO and admin only; default: yourself)")
    history_kwh: list[list[float]] = Field(description="past days, oldest first, each the day's interval energies")
    eligible: list[bool] | None = Field(default=None, description="per history day: may it be a baseline day "
                                        "(false for event days, holidays, weekends as configured); default all")
    event_day_kwh: list[float] = Field(description="the event day's interval energies, kWh")
