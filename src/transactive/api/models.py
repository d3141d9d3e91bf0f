"""Request bodies (pydantic, strict: no string-to-number coercion). Mechanism rules are checked below the API,
by the market layer, so these models only describe shapes for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CommunityIn(_Strict):
    name: str = Field(description="1-64 characters: letters, digits, '_', '.', '-'", examples=["green-street"])
    mechanism: str = Field(description="a mechanism name (see `transactive mechanisms`)", examples=["uniform"])
    params: dict[str, Any] | None = Field(default=None, description="the mechanism's parameters (market file)")
    slot_minutes: int = Field(default=15, description="slot length in minutes; must divide a day")


class MemberIn(_Strict):
    id: str = Field(description="member id, 1-64 characters", examples=["house-17"])
    role: Literal["prosumer", "aggregator", "dso", "validator"]
    bus: str | int | None = Field(default=None, description="the member's feeder bus")


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
