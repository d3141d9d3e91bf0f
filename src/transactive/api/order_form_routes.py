"""The order form and the member's order defaults: ``GET /communities/{c}/order-form``,
``GET|PUT /communities/{c}/profile`` (docs/api.md). The description comes from
:mod:`transactive.market.order_form`, which reads the intake's own definitions."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from transactive.api.app import Caller
from transactive.market import Operator, order_defaults, order_form
from transactive.market.operator import TRADING_ROLES


class ProfileIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    order_defaults: dict[str, Any] = Field(
        description="values an order takes when it omits them, by field name (e.g. `distance_pref_m`, `omega`); "
        "replaces the saved ones; a field left out falls back to the service's suggestion",
        examples=[{"distance_pref_m": 400, "omega": 0.25, "alpha": 0.05}])


def register(app: FastAPI, op: Operator) -> None:
    """Add the routes to ``app``."""

    @app.get("/communities/{community}/order-form", tags=["orders"])
    def get_order_form(community: str, caller: Caller) -> dict[str, Any]:
        """The fields an order of this community takes (names, labels, units, types, defaults, bounds, help),
        read from the same definitions the intake validates with; defaults include the caller's own."""
        c = op.community_for(caller, community)
        mechanism = op.registry[c.mechanism]
        profile = op.store.member_profile(caller.id) if caller.role in TRADING_ROLES else None
        return order_form.describe(c, mechanism, caller, profile)

    @app.get("/communities/{community}/profile", tags=["orders"])
    def get_profile(community: str, caller: Caller) -> dict[str, Any]:
        """Your order defaults (prosumer, aggregator): each value and whether you saved it or it is the
        service's suggestion."""
        Operator.require(caller, TRADING_ROLES, "order defaults")
        c = op.community_for(caller, community)
        return order_form.defaults_view(op.registry[c.mechanism], caller, op.store.member_profile(caller.id))

    @app.put("/communities/{community}/profile", tags=["orders"])
    def put_profile(community: str, body: ProfileIn, caller: Caller) -> dict[str, Any]:
        """Save your order defaults (prosumer, aggregator); each value is checked as in an order."""
        Operator.require(caller, TRADING_ROLES, "order defaults")
        c = op.community_for(caller, community)
        mechanism = op.registry[c.mechanism]
        values = order_defaults.validate(mechanism, body.order_defaults)
        document = {**(op.store.member_profile(caller.id) or {}), order_defaults.PROFILE_KEY: values}
        op.store.put_member_profile(caller.id, document, op.clock.now().astimezone(UTC).isoformat())
        return order_form.defaults_view(mechanism, caller, document)
