"""REST routes of the ledger: slot anchoring state, settlement, statements, DSO income, a member's account.

Registered by :func:`transactive.api.app.create_app` when the service runs a ledger. Role rules:

* ``GET .../slots/{slot_start}/ledger``: any member of the community (roots, tx hashes, states; no orders);
* ``POST /admin/.../slots/{slot_start}/anchor``: admin; anchors a cleared slot now (the backfill of slots
  older than the ledger's start, which the cycle does not anchor or settle);
* ``POST /admin/.../slots/{slot_start}/settle``: admin; settles now (409 while readings are missing before the
  deadline, for a slot already settled, and when the chain or the validators refuse a step, e.g. a buyer
  short of tokens: no token moves);
* ``GET .../statements``: a prosumer or aggregator gets its own lines; an admin gives ``?member=``;
* ``GET .../dso/income``: the DSO (or an admin): grid charges, penalties and imbalance per slot, never a bid;
* ``GET .../account``: the caller's chain address and token balance (prosumer, aggregator, DSO);
* ``GET .../fund``: the DSO, a validator or an admin: the community market fund's balance and its row of every
  anchored clearing (surpluses, deficits, DPDA's excess; ``docs/settlement.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from transactive.errors import MarketError
from transactive.ledger.chain.base import ChainRevert
from transactive.ledger.clearance.protocol import ClearanceError
from transactive.market.ledger.desk import LedgerDesk
from transactive.market.ledger.documents import SettlementDocument, read_rows
from transactive.market.operator import TRADING_ROLES, Operator
from transactive.market.slots import parse_slot_start
from transactive.store import Member
from transactive.times import iso

if TYPE_CHECKING:
    from transactive.api.app import Service

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _caller(request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Member:
    return _service(request).operator.authenticate(None if credentials is None else credentials.credentials)


Caller = Annotated[Member, Depends(_caller)]


@contextmanager
def conflict_on_chain_errors(step: str) -> Iterator[None]:
    """A step the chain or the validators refused (a reverted transaction, e.g. a buyer short of tokens;
    validators that do not agree; a trader without a chain account) is a 409 naming ``slot_start`` with the
    reason: no token moved, and the same step can be retried once the cause is fixed. Also used by the
    multi-settlement desk's ``POST .../multi-settlements/{slot_start}`` (:mod:`transactive.api._multi_routes`)."""
    try:
        yield
    except ChainRevert as exc:
        raise MarketError("slot_start", f"could not {step}: the chain refused a transaction ({exc})",
                          "conflict") from None
    except ClearanceError as exc:
        raise MarketError("slot_start", f"could not {step}: {exc}", "conflict") from None
    except KeyError as exc:
        raise MarketError("slot_start", f"could not {step}: no chain account for {exc}", "conflict") from None


def register(app: FastAPI, operator: Operator, desk: LedgerDesk) -> None:
    """Add the ledger routes to ``app``."""

    def slot_of(caller: Member, community: str, slot_start: str) -> tuple[str, str]:
        c = operator.community_for(caller, community)
        return c.name, iso(parse_slot_start(slot_start, c.slot_minutes))

    @app.get("/communities/{community}/slots/{slot_start}/ledger", tags=["ledger"])
    def slot_ledger(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """The slot's anchoring and settlement on chain: slot numbers, roots, tx hashes, states."""
        name, start = slot_of(caller, community, slot_start)
        return desk.ledger_view(name, start)

    @app.post("/admin/communities/{community}/slots/{slot_start}/anchor", tags=["admin", "ledger"],
              responses={409: {"description": "not cleared, or refused by the chain or the validators"}})
    def anchor(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """Anchor a cleared slot now (admin): the explicit backfill of a slot older than the ledger's start,
        which the cycle leaves alone (idempotent; a slot anchored already answers its state)."""
        Operator.require(caller, ("admin",), "this endpoint")
        name, start = slot_of(caller, community, slot_start)
        with conflict_on_chain_errors("anchor"):
            desk.anchor(name, start)
        return desk.ledger_view(name, start)

    @app.post("/admin/communities/{community}/slots/{slot_start}/settle", tags=["admin", "ledger"],
              responses={409: {"description": "not anchored yet, readings missing before the deadline, settled, "
                                             "or refused by the chain (e.g. a buyer short of tokens)"}})
    def settle(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """Settle an anchored slot against its meter readings now, on chain (admin; exactly once)."""
        Operator.require(caller, ("admin",), "this endpoint")
        name, start = slot_of(caller, community, slot_start)
        with conflict_on_chain_errors("settle"):
            rec = desk.settle(name, start, operator.clock.now())
        settled = SettlementDocument.from_json(rec.document)
        return {**desk.ledger_view(name, start), "dso": read_rows([settled.dso or {}])[0],
                "lines": read_rows(settled.lines)}

    @app.get("/communities/{community}/statements", tags=["ledger"])
    def statements(community: str, caller: Caller,
                   member: Annotated[str | None, Query(description="admin only: whose statement")] = None,
                   ) -> list[dict[str, Any]]:
        """Your settlement lines, one per settled slot you traded in (an admin names ``member``)."""
        c = operator.community_for(caller, community)
        if caller.role == "admin":
            if member is None:
                raise MarketError("member", "required for an admin")
            return desk.statements(c.name, member)
        Operator.require(caller, TRADING_ROLES, "a statement")
        if member is not None and member != caller.id:
            raise MarketError("member", "you can only see your own statement", "forbidden")
        return desk.statements(c.name, caller.id)

    @app.get("/communities/{community}/dso/income", tags=["ledger"])
    def dso_income(community: str, caller: Caller) -> list[dict[str, Any]]:
        """The DSO's income per settled slot: grid charges (tariffs), penalties, imbalance, net amount."""
        Operator.require(caller, ("dso", "admin"), "the DSO income")
        return desk.dso_income(operator.community_for(caller, community).name)

    @app.get("/communities/{community}/fund", tags=["ledger"])
    def fund(community: str, caller: Caller) -> dict[str, Any]:
        """The community market fund: its chain account, balance (micro-tokens) and per-slot history."""
        Operator.require(caller, ("dso", "admin", "validator"), "the community fund")
        return desk.fund_view(operator.community_for(caller, community).name)

    @app.get("/communities/{community}/account", tags=["ledger"])
    def account(community: str, caller: Caller) -> dict[str, Any]:
        """Your chain account (custodial) and its token balance in micro-tokens."""
        operator.community_for(caller, community)
        found = desk.account_of(caller)
        if found is None:
            raise MarketError("Authorization", f"role {caller.role} has no chain account", "not_found")
        return {"member": caller.id, "address": found.address, "custodial": found.private_key_hex is not None,
                "enrolled": found.enrolled, "balance_micro": desk.balance_micro(found.address)}
