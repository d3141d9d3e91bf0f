"""The order form, the member's order defaults and the feedback on its orders: ``GET
/communities/{c}/order-form``, ``GET|PUT /communities/{c}/profile``, ``GET /communities/{c}/feedback``
(docs/api.md). The description comes from :mod:`transactive.market.order_form`, which reads the intake's own
definitions; the feedback from :mod:`transactive.market.feedback`."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from transactive.api.app import Caller
from transactive.market import Operator, iso, order_defaults, order_form
from transactive.market.feedback import feedback
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

    @app.get("/communities/{community}/feedback", tags=["orders"])
    def get_feedback(community: str, caller: Caller,
                     last: Annotated[int, Query(ge=1, le=100, description="how many orders, newest first")] = 8,
                     ) -> list[dict[str, Any]]:
        """What became of your latest orders in slots that have started (prosumer, aggregator): won or not and
        why, the clearing price and your price's gap to it (seed 004, Alg. 5 step 5)."""
        Operator.require(caller, TRADING_ROLES, "feedback on orders")
        c = op.community_for(caller, community)
        now = iso(op.clock.now())
        started = [o for o in op.store.orders_of_member(caller.id) if o.community == c.name and o.slot_start <= now]
        started.sort(key=lambda o: o.slot_start, reverse=True)
        out = []
        for order in started[:last]:
            record = op.store.get_result(c.name, order.slot_start)
            slot = op.store.get_slot(c.name, order.slot_start)
            out.append(feedback(order, slot, None if record is None else record.document).to_json())
        return out
