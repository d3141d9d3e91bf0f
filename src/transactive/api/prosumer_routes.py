"""Routes for the prosumer's page (docs/api.md): the standing instruction (``GET|PUT
/communities/{c}/members/me/standing-instruction``), the community's settings (its time zone: ``GET
/communities/{c}/settings``, ``PUT /admin/communities/{c}/settings``) and, with the ledger, a member's Merkle
inclusion proofs of a slot (``GET /communities/{c}/slots/{s}/proofs``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, FastAPI

from transactive.api.app import Admin, Caller
from transactive.errors import MarketError
from transactive.market import Operator, community_settings, iso, parse_slot_start
from transactive.market.operator import TRADING_ROLES
from transactive.market.standing_desk import StandingDesk

if TYPE_CHECKING:
    from transactive.market.ledger.desk import LedgerDesk

_INSTRUCTION_EXAMPLE = {"trading": True, "demand_response": False, "activity": "sell", "amount": "fixed",
                        "energy_kwh": 1.5, "price_min_per_kwh": 0.08, "price_max_per_kwh": 0.2}


def register(app: FastAPI, op: Operator, desk: StandingDesk, ledger: LedgerDesk | None) -> None:
    """Add the routes to ``app``."""
    path = "/communities/{community}/members/me/standing-instruction"

    @app.get(path, tags=["orders"])
    def get_standing(community: str, caller: Caller) -> dict[str, Any]:
        """Your standing instruction (prosumer, aggregator; the defaults when you saved none), its status light
        from your forecast, the next slot and the order it will place there, or why none."""
        return desk.view(caller, community)

    @app.put(path, tags=["orders"])
    def put_standing(community: str, caller: Caller,
                     body: Annotated[dict[str, Any], Body(examples=[_INSTRUCTION_EXAMPLE])]) -> dict[str, Any]:
        """Save your standing instruction: the service places its order in every upcoming slot you have not
        ordered in. Checked like an order (422 naming the instruction's field); nothing saved on an error."""
        return desk.save(caller, community, body)

    @app.get("/communities/{community}/settings", tags=["communities"])
    def get_settings(community: str, caller: Caller) -> dict[str, Any]:
        """The community's settings: its time zone (an IANA name; times are shown in it)."""
        c = op.community_for(caller, community)
        return {"community": c.name, "time_zone": community_settings.time_zone(op.store, c.name)}

    @app.put("/admin/communities/{community}/settings", tags=["admin"])
    def put_settings(community: str, _caller: Admin,
                     body: Annotated[dict[str, Any], Body(examples=[{"time_zone": "Europe/Berlin"}])],
                     ) -> dict[str, Any]:
        """Change the community's settings (admin): ``time_zone`` (an IANA name, checked)."""
        c = op.community(community)
        community_settings.save(op.store, c.name, community_settings.check(body), op.clock.now())
        return {"community": c.name, "time_zone": community_settings.time_zone(op.store, c.name)}

    if ledger is None:
        return

    @app.get("/communities/{community}/slots/{slot_start}/proofs", tags=["ledger"])
    def proofs(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """Your Merkle inclusion proofs of an anchored slot (prosumer, aggregator): your signed order(s), your
        signed attributes (grid-aware slots) and your result entry, each a ``transactive.merkle-proof/1``
        document (``transactive ledger proof --verify`` checks it), with the slot's roots as anchored on chain."""
        from transactive.ledger.audit.proofs import SlotBatch, proofs_for
        from transactive.ledger.messages.commitments import ResultEntry
        from transactive.market.ledger.config import CLEARING

        Operator.require(caller, TRADING_ROLES, "your proofs")
        c = op.community_for(caller, community)
        start = iso(parse_slot_start(slot_start, c.slot_minutes))
        rec = op.store.get_ledger_slot(c.name, start, CLEARING)
        if rec is None or rec.state != "anchored":
            state = "not batched" if rec is None else rec.state
            raise MarketError("slot_start", f"the slot is not anchored on chain (state {state})", "not_found")
        account = op.store.chain_account(caller.id)
        if account is None:
            raise MarketError("Authorization", "you have no chain account", "not_found")
        doc = rec.document
        batch = replace(SlotBatch.from_json(doc["batch"]),
                        results=tuple(ResultEntry.from_json(r) for r in doc.get("results", ())))
        found = proofs_for(batch, account.address)
        if not found:
            raise MarketError("slot_start", "you have no order in this slot", "not_found")
        return {"community": c.name, "slot_start": start, "chain_slot": str(rec.chain_slot),
                "account": account.address, "order_root": doc.get("orderRoot"),
                "result_root": doc.get("resultRoot"), "proofs": found}
