"""Deployment of the contract suite: used by the tests and benchmarks (:mod:`transactive.ledger.testing`
re-exports it) and, for the contracts themselves (:func:`deploy_contracts`), any service deployment (the
simulated day runs the service's ledger desk).

:func:`deploy_suite` registers the chain's first 12 accounts: 0 admin; 1-4 validators (threshold 3 of 4);
5 aggregator; 6 DSO; 7-11 prosumers, each funded with 1,000 tokens and approving the market contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.constants import (
    MAX_UINT,
    ROLE_AGGREGATOR,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_PROSUMER,
    ROLE_VALIDATOR,
)

__all__ = ["Deployment", "bus", "deploy_contracts", "deploy_suite"]


@dataclass(frozen=True)
class Deployment:
    """The contract suite on one chain, with the accounts' roles.

    Accounts: 0 admin; 1-4 validators (threshold 3 of 4); 5 aggregator; 6 DSO; 7-11 prosumers.
    """

    chain: Chain
    registry: Contract
    token: Contract
    slots: Contract
    auction: Contract

    @property
    def admin(self) -> str:
        return self.chain.accounts[0]

    @property
    def validators(self) -> tuple[str, ...]:
        return self.chain.accounts[1:5]

    @property
    def aggregator(self) -> str:
        return self.chain.accounts[5]

    @property
    def dso(self) -> str:
        return self.chain.accounts[6]

    @property
    def prosumers(self) -> tuple[str, ...]:
        return self.chain.accounts[7:12]


def bus(name: str) -> bytes:
    """A feeder bus name as bytes32 (right-padded UTF-8)."""
    raw = name.encode()
    if len(raw) > 32:
        raise ValueError("bus name longer than 32 bytes")
    return raw.ljust(32, b"\x00")


def deploy_contracts(
    chain: Chain, auctioneer_ppm: int, miner_ppm: int, *, auction: bool = True
) -> tuple[Contract, Contract, Contract, Contract | None]:
    """Deploy Registry, EnergyToken ("Transactive Energy Token", TET), MarketSlots (reward shares
    ``auctioneer_ppm`` / ``miner_ppm``, parts per million of a slot's debits) and, when ``auction``,
    NegawattAuction, by the chain's first account (the Registry's admin). Nobody is registered yet."""
    registry = chain.deploy(load_artifact("Registry"))
    token = chain.deploy(load_artifact("EnergyToken"), registry.address, "Transactive Energy Token", "TET")
    slots = chain.deploy(load_artifact("MarketSlots"), registry.address, token.address, auctioneer_ppm, miner_ppm)
    negawatt = chain.deploy(load_artifact("NegawattAuction"), registry.address, token.address) if auction else None
    return registry, token, slots, negawatt


def deploy_suite(chain: Chain, auctioneer_ppm: int = 10_000, miner_ppm: int = 10_000) -> Deployment:
    """Deploy Registry, EnergyToken, MarketSlots and NegawattAuction and register the accounts.

    Default reward shares X^A = X^M = 1% (seed 001's case study). Every prosumer and the aggregator get
    1,000 tokens and approve MarketSlots and NegawattAuction without limit; the admin is the community
    market fund (``MarketSlots.set_fund``, empty, approving MarketSlots).
    """
    accounts = chain.accounts
    if len(accounts) < 12:
        raise ValueError("deploy_suite needs 12 accounts")
    registry, token, slots, auction = deploy_contracts(chain, auctioneer_ppm, miner_ppm)
    assert auction is not None
    dep = Deployment(chain=chain, registry=registry, token=token, slots=slots, auction=auction)
    for v in dep.validators:
        chain.transact(registry, "set_member", v, ROLE_VALIDATOR | ROLE_PROSUMER, bus("validator"))
    chain.transact(registry, "set_threshold", 3)
    chain.transact(registry, "set_member", dep.aggregator, ROLE_AGGREGATOR, bus("aggregator"))
    chain.transact(registry, "set_member", dep.dso, ROLE_DSO, bus("substation"))
    for i, p in enumerate(dep.prosumers):
        chain.transact(registry, "set_member", p, ROLE_PROSUMER, bus(f"bus-{i + 1}"))
    chain.transact(registry, "set_member", slots.address, ROLE_MARKET, bus(""))
    chain.transact(registry, "set_member", auction.address, ROLE_MARKET, bus(""))
    for holder in (*dep.prosumers, dep.aggregator, *dep.validators):
        chain.transact(token, "mint", holder, 1_000 * 10**6)
        chain.transact(token, "approve", slots.address, MAX_UINT, sender=holder)
        chain.transact(token, "approve", auction.address, MAX_UINT, sender=holder)
    # the community market fund (docs/settlement.md): the admin's account, approving MarketSlots; it starts
    # empty, so a slot whose fund row is a deficit cannot settle until the fund holds tokens
    chain.transact(slots, "set_fund", dep.admin)
    chain.transact(token, "approve", slots.address, MAX_UINT)
    return dep
