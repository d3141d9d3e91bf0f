"""REST routes of the multi-settlement desk (:mod:`transactive.market.multi_desk`): addresses, bilateral
contracts, the listing board and slot settlements. Registered by :func:`transactive.api.app.create_app`
(which imports this module lazily: it uses the app module's authentication); documented in ``docs/api.md``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from transactive.api.app import Caller
from transactive.api.ledger_routes import conflict_on_chain_errors
from transactive.market.multi_desk import MultiDesk
from transactive.store import Outcome


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class AddressIn(_Strict):
    address: str = Field(description="your chain address, 0x + 40 hex digits",
                         examples=["0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"])
    signature: str = Field(description="0x-hex 65-byte EIP-712 signature of MemberAddress(community, member, "
                           "account) by the address's key")


class ContractIn(_Strict):
    id: str = Field(description="contract id, 1-64 characters, unique in the community", examples=["pv-ev-march"])
    seller: str = Field(description="the selling member's id")
    buyer: str = Field(description="the buying member's id")
    slot_starts: list[str] = Field(description="ISO 8601 UTC slot starts of the delivery schedule, increasing, "
                                   "the first in the future", examples=[["2026-03-01T12:00:00Z"]])
    energy_kwh_per_slot: float = Field(description="energy delivered in each slot, kWh (> 0, whole Wh)")
    price_per_kwh: float = Field(description="agreed price, tokens/kWh (>= 0, whole micro-tokens)")
    nonce: int = Field(default=0, description="distinguishes otherwise identical contracts (0 to 2^63-1)")
    signature: str = Field(description="your 0x-hex EIP-712 signature of the BilateralContract")


class SignatureIn(_Strict):
    signature: str = Field(description="your 0x-hex EIP-712 signature of the BilateralContract")


class ListingIn(_Strict):
    id: str = Field(description="listing id, 1-64 characters, unique in the community", examples=["pv-1215"])
    slot_start: str = Field(description="ISO 8601 UTC slot start (the slot must still take orders)")
    energy_kwh: float = Field(description="surplus offered, kWh (> 0, whole Wh)")
    price_per_kwh: float = Field(description="the price buyers pay, tokens/kWh (>= 0)")


class ListingOrderIn(_Strict):
    id: str = Field(description="order id, 1-64 characters, unique in the community", examples=["ev-1215"])
    energy_kwh: float = Field(description="energy ordered from the listing, kWh (> 0, whole Wh)")


class ReviewIn(_Strict):
    decision: Literal["accept", "reject", "power_flow"] = Field(
        description="accept or reject by hand, or power_flow: accept unless the feeder's limits are violated")
    reason: str | None = Field(default=None, description="why (shown to the buyer and seller), <= 500 characters")


def register(app: FastAPI, desk: MultiDesk) -> None:
    """Add the routes to ``app``."""
    base = "/communities/{community}"

    def created(outcome: Outcome, answer: dict[str, Any]) -> JSONResponse:
        return JSONResponse({**answer, "status": outcome.value},
                            status_code=201 if outcome is Outcome.CREATED else 200)

    @app.get(base + "/signing", tags=["bilateral"])
    def signing(community: str, caller: Caller) -> dict[str, Any]:
        """The EIP-712 domain and types members sign (slot numbers are Unix seconds of the slot start)."""
        return desk.signing(caller, community)

    @app.post(base + "/addresses", status_code=201, tags=["bilateral"],
              responses={200: {"description": "the same address again"},
                         409: {"description": "another address registered, or the address is taken"}})
    def register_address(community: str, body: AddressIn, caller: Caller) -> JSONResponse:
        """Register your chain address (prosumer, aggregator), proven by a signature with its key; permanent."""
        return created(*desk.register_address(caller, community, body.model_dump()))

    @app.get(base + "/addresses", tags=["bilateral"])
    def addresses(community: str, caller: Caller) -> list[dict[str, Any]]:
        """The community's registered addresses (member id, address)."""
        return desk.addresses(caller, community)

    @app.post(base + "/bilateral-contracts", status_code=201, tags=["bilateral"])
    def propose(community: str, body: ContractIn, caller: Caller) -> dict[str, Any]:
        """Propose a contract with your signature (its seller or buyer); state ``proposed``."""
        return desk.propose(caller, community, body.model_dump())

    @app.get(base + "/bilateral-contracts", tags=["bilateral"])
    def contracts(community: str, caller: Caller) -> list[dict[str, Any]]:
        """Your contracts; all of them for the DSO, admins and validators."""
        return desk.contracts(caller, community)

    @app.get(base + "/bilateral-contracts/{contract}", tags=["bilateral"])
    def contract(community: str, contract: str, caller: Caller) -> dict[str, Any]:
        return desk.contract(caller, community, contract)

    @app.post(base + "/bilateral-contracts/{contract}/sign", tags=["bilateral"])
    def countersign(community: str, contract: str, body: SignatureIn, caller: Caller) -> dict[str, Any]:
        """Countersign (the other party), before the first slot starts; state ``signed``."""
        return desk.countersign(caller, community, contract, body.model_dump())

    @app.post(base + "/listings", status_code=201, tags=["listings"])
    def create_listing(community: str, body: ListingIn, caller: Caller) -> dict[str, Any]:
        """List surplus energy for a slot (prosumer, aggregator); state ``FOR_SALE``."""
        return desk.create_listing(caller, community, body.model_dump())

    @app.get(base + "/listings", tags=["listings"])
    def listings(community: str, caller: Caller,
                 slot_start: Annotated[str | None, Query(description="only this slot")] = None,
                 ) -> list[dict[str, Any]]:
        """The listing board: listings, states, energy remaining."""
        return desk.listings(caller, community, slot_start)

    @app.post(base + "/listings/{listing}/orders", status_code=201, tags=["listings"])
    def place_order(community: str, listing: str, body: ListingOrderIn, caller: Caller) -> dict[str, Any]:
        """Order from a listing at its price (prosumer, aggregator; not your own listing); ``pending``."""
        return desk.place_order(caller, community, listing, body.model_dump())

    @app.get(base + "/listing-orders", tags=["listings"])
    def listing_orders(community: str, caller: Caller,
                       slot_start: Annotated[str | None, Query(description="only this slot")] = None,
                       ) -> list[dict[str, Any]]:
        """Orders you placed or received; all of them for the DSO, admins and validators."""
        return desk.orders(caller, community, slot_start)

    @app.get(base + "/listing-orders/{order}/power-flow", tags=["listings"])
    def power_flow(community: str, order: str, caller: Caller) -> dict[str, Any]:
        """The power flow of the slot's accepted trades plus this order (DSO, admin; read only): whether it
        fits, voltages (pu) and line loadings (%) against the DSO's limits."""
        return desk.power_flow_view(caller, community, order)

    @app.post(base + "/listing-orders/{order}/review", tags=["listings"])
    def review(community: str, order: str, body: ReviewIn, caller: Caller) -> dict[str, Any]:
        """The DSO's decision on a pending order (DSO, admin)."""
        return desk.review(caller, community, order, body.model_dump(exclude_none=True))

    @app.post(base + "/multi-settlements/{slot_start}", tags=["settlement"],
              responses={409: {"description": "not ended yet, or refused by the chain or the validators "
                                             "(e.g. a buyer short of tokens): nothing moved"}})
    def settle(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """Settle an ended slot: bilateral, listings, community auction, grid (DSO, admin; idempotent)."""
        with conflict_on_chain_errors("settle"):
            return desk.settle(caller, community, slot_start)

    @app.get(base + "/multi-settlements/{slot_start}", tags=["settlement"])
    def statement(community: str, slot_start: str, caller: Caller) -> dict[str, Any]:
        """The slot's settlement: your statement, or everything (DSO, admin, validator)."""
        return desk.statement(caller, community, slot_start)
