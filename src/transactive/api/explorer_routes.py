"""Read routes of the role pages (issue 11; ``docs/api.md``, ``docs/webapp.md``):

* ``GET /admin/communities/{c}/members`` (admin): the members with role, bus and chain addresses (custodial
  account and the address registered with the multi-settlement desk); never a key;
* ``GET /communities/{c}/feeder`` (any member): the community's feeder as drawn by the DSO's page: buses with
  coordinates (metres), which carry a load, the lines and the source bus; 404 naming ``feeder`` for a
  community without one (``feeder: "none"``);

and, when the service runs a ledger (:mod:`transactive.market.ledger.explorer`):

* ``GET /communities/{c}/ledger/slots`` (any member): the ledger explorer's slots, newest first: states, roots,
  order counts, who endorsed, who dissented, the miner, transaction hashes (never an order);
* ``POST /communities/{c}/ledger/slots/{slot_start}/verify`` (any member): the audit's recomputation of one
  slot, the same code as ``transactive ledger verify``; read only (a POST because it computes, not because it
  changes anything);
* ``GET /communities/{c}/validators`` (validator, DSO, admin): the validators' health.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import FastAPI, Query

from transactive.api.app import Caller, Service
from transactive.errors import MarketError
from transactive.market.ledger import explorer
from transactive.market.ledger.explorer import MAX_SLOTS
from transactive.market.operator import Operator
from transactive.market.slots import parse_slot_start
from transactive.times import iso


def _coordinate(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def register(app: FastAPI, service: Service) -> None:
    """Add the routes to ``app`` (the ledger's only when ``service.ledger`` runs)."""
    op = service.operator
    ledger = service.ledger

    @app.get("/admin/communities/{community}/members", tags=["admin"])
    def list_members(community: str, caller: Caller) -> list[dict[str, Any]]:
        """The community's members (admin): id, role, bus, chain address (custodial), registered address."""
        Operator.require(caller, ("admin",), "the member list")
        c = op.community_for(caller, community)
        accounts = {a.member: a.address for a in service.store.chain_accounts(c.name)} if ledger is not None else {}
        registered = {a.member: a.address for a in service.store.member_addresses(c.name)}
        return [{"id": m.id, "role": m.role, "bus": m.bus, "chain_address": accounts.get(m.id),
                 "registered_address": registered.get(m.id)} for m in service.store.list_members(c.name)]

    @app.get("/communities/{community}/feeder", tags=["communities"])
    def feeder(community: str, caller: Caller) -> dict[str, Any]:
        """The community's feeder: buses (name, x_m, y_m, load), lines (from, to, length_m), source bus."""
        from transactive.grid.errors import GridError
        from transactive.grid.feeder import DEFAULT_FEEDER, load_feeder

        c = op.community_for(caller, community)
        name = str(c.params.get("feeder") or app.state.multi_desk.feeder or DEFAULT_FEEDER)
        if name == "none":
            raise MarketError("feeder", "this community trades without a feeder", "not_found")
        try:
            f = load_feeder(name)
        except GridError as exc:
            raise MarketError("feeder", f"the feeder {name!r} cannot be loaded: {exc}", "not_found") from None
        loads = set(f.load_buses)
        return {"name": f.name, "source_bus": f.source_bus,
                "buses": [{"name": b, "x_m": _coordinate(x), "y_m": _coordinate(y), "load": b in loads}
                          for b, x, y in zip(f.bus_names, f.x_m, f.y_m, strict=True)],
                "lines": [{"from": f.bus_names[a], "to": f.bus_names[b], "length_m": float(length)}
                          for a, b, length in zip(f.from_bus, f.to_bus, f.length_m, strict=True)]}

    if ledger is None:
        return

    @app.get("/communities/{community}/ledger/slots", tags=["ledger"])
    def ledger_slots(community: str, caller: Caller,
                     limit: Annotated[int, Query(ge=1, le=MAX_SLOTS)] = 48) -> list[dict[str, Any]]:
        """The community's slots on the ledger, newest first: clearing and settlement (states, roots, orders,
        endorsed by, dissenters, miner, transactions). No order, no bid."""
        return explorer.slot_list(ledger, op.community_for(caller, community).name, limit)

    @app.post("/communities/{community}/ledger/slots/{slot_start}/verify", tags=["ledger"])
    def verify(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """Recompute one slot as ``transactive ledger verify`` does (signatures, order root, the mechanism's
        results, result root, endorsements, balance; the settlement's postings) against the chain. Read only."""
        c = op.community_for(caller, community)
        return explorer.verify_ledger_slot(ledger, c.name, iso(parse_slot_start(slot_start, c.slot_minutes)))

    @app.get("/communities/{community}/validators", tags=["ledger"])
    def validators(community: str, caller: Caller) -> dict[str, Any]:
        """The validators' health: registered on chain, gas, endorsements and dissents over recent slots."""
        Operator.require(caller, ("validator", "dso", "admin"), "the validators' health")
        return explorer.validator_health(ledger, [op.community_for(caller, community).name])
