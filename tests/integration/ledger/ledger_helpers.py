"""Shared helpers of the ledger integration tests."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain, ChainRevert
from transactive.ledger.clearance.protocol import Validator, domain_of, run_slot
from transactive.ledger.messages.batch import at_batch_resolution, signed_market_batch
from transactive.ledger.messages.commitments import ME_LEAF, SettlementTree
from transactive.ledger.testing import MODE_BATCH, ROLE_PROSUMER, Deployment, bus, deploy_suite, sign_endorsement
from transactive.marketfile import Market, parse_market
from transactive.sim.scenario import generate_scenario

ORDER_ROOT = bytes.fromhex("ab" * 32)


def observed_state(dep: Deployment) -> dict[str, Any]:
    """Chain head and every balance, slot and escrow figure the tests touch."""
    c = dep.chain
    accounts = (*c.accounts, dep.slots.address, dep.auction.address)
    return {
        "block": c.block_number(),
        "root": c.state_root(),
        "supply": c.call(dep.token, "totalSupply"),
        "balances": [c.call(dep.token, "balanceOf", a) for a in accounts],
        "slots": [c.call(dep.slots, "slots", s) for s in range(8)],
        "members": [c.call(dep.registry, "roles", a) for a in accounts],
        "threshold": c.call(dep.registry, "threshold"),
    }


def assert_rejected(dep: Deployment, action: Callable[[], object], reason: str | None = None) -> None:
    """The action reverts (with ``reason`` in the message if given) and changes nothing."""
    before = observed_state(dep)
    with pytest.raises(ChainRevert) as info:
        action()
    if reason is not None:
        assert reason in info.value.reason
    assert observed_state(dep) == before


def open_and_commit(dep: Deployment, slot: int, mode: int = MODE_BATCH,
                    order_root: bytes = ORDER_ROOT) -> str:
    """Open ``slot`` and commit its order root, as its auctioneer; returns the auctioneer."""
    c = dep.chain
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, mode, sender=auctioneer)
    c.transact(dep.slots, "commit_orders", slot, order_root, 10_000, sender=auctioneer)
    return auctioneer


def endorse(dep: Deployment, slot: int, result_root: bytes, signers: Sequence[str],
            order_root: bytes = ORDER_ROOT) -> list[bytes]:
    c = dep.chain
    return [
        sign_endorsement(c.private_key(s), c.chain_id, dep.slots.address, slot, order_root, result_root)
        for s in signers
    ]


def balanced_rows(dep: Deployment, slot: int) -> list[tuple[int, str, int, int]]:
    """A balanced slot result with X^A = X^M = 1%: debits 600,000; market exchange ME 600,000 (the
    ``ME_LEAF`` row, not a credit); rewards floor(ME x) = 6,000 + 6,000; credits 588,000."""
    p = dep.prosumers
    return [
        (slot, p[0], 2_000, -400_000),
        (slot, p[1], 1_000, -200_000),
        (slot, p[2], -3_000, 500_000),
        (slot, dep.dso, 0, 88_000),
        (slot, p[3], 0, 0),
        (slot, ME_LEAF, 0, 600_000),
    ]


def cleared_batch_slot(dep: Deployment, slot: int,
                       rows: Sequence[tuple[int, str, int, int]]) -> SettlementTree:
    """Open, commit, endorse (validators 0-2, miner validator 3) a batch slot with result ``rows``."""
    tree = SettlementTree.build(rows)
    open_and_commit(dep, slot)
    sigs = endorse(dep, slot, tree.root, dep.validators[:3])
    dep.chain.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[3])
    return tree


def batch_args(tree: SettlementTree) -> list[tuple[str, int, int]]:
    return [(a, e, m) for _, a, e, m in tree.rows]


# --------------------------------------------------------------------------- a grid-aware community
N_PROSUMERS = 20  # P-20: 11 sellers, 9 buyers on distinct load buses of the IEEE LV feeder
BASE_ACCOUNTS = 12  # deploy_suite's accounts; the prosumers of this slot come after them
MINT_MICRO = 1_000 * 10**6
PARAMS = {"feeder": "ieee_european_lv", "charge_per_km": 0.5}  # a charge large enough to show in micro-tokens


def market_document() -> dict[str, Any]:
    """A dpda_matched market file at the batch's resolution, so the off-chain run and the batch see the
    same numbers. Seed 8: every participant individually rational (seed 7's score matching charges a buyer
    more than its bid, which the settlement's policy re-prices, docs/settlement.md)."""
    return at_batch_resolution(generate_scenario(N_PROSUMERS, "non_cooperative", seed=8).to_market("dpda_matched",
                                                                                                  PARAMS))


def signed_market_document_batch(domain: Domain, slot: int, dso: str) -> SlotBatch:
    """:func:`market_document` signed as a slot's batch (seeded keys, one per participant)."""
    doc = market_document()
    market = parse_market(json.loads(json.dumps(doc)))
    rng = random.Random(5)
    signers = {pid: Signer(new_private_key(rng)) for pid in (*market.sellers.ids, *market.buyers.ids)}
    return signed_market_batch(market, signers, domain=domain, slot=slot, params=doc["params"], dso=dso)


def setup_members(chain: Chain, market: Market) -> tuple[Deployment, dict[str, Signer]]:
    """deploy_suite, then one member per participant (dev account 12+k) at its feeder bus, funded and
    approving MarketSlots."""
    dep = deploy_suite(chain)  # X^A = X^M = 1%
    ids = [*market.sellers.ids, *market.buyers.ids]
    buses = dict(zip(market.sellers.ids, market.sellers.attributes["bus"].tolist(), strict=True))
    buses |= dict(zip(market.buyers.ids, market.buyers.attributes["bus"].tolist(), strict=True))
    signers = {}
    for k, pid in enumerate(ids):
        address = chain.accounts[BASE_ACCOUNTS + k]
        chain.transact(dep.registry, "set_member", address, ROLE_PROSUMER, bus(str(buses[pid])))
        chain.transact(dep.token, "mint", address, MINT_MICRO)
        chain.transact(dep.token, "approve", dep.slots.address, 2**256 - 1, sender=address)
        signers[pid] = Signer(chain.private_key(address))
    return dep, signers


# --------------------------------------------------------------------------- archives for `transactive ledger verify`
ARCHIVE_MINTED = 10 * 1_000 * 10**6  # deploy_suite mints 1,000 tokens to 5 prosumers, the aggregator, 4 validators


def build_archive(root: Path, open_chain: Callable[[Path], Chain],
                  batches: Callable[[Deployment, Domain, Sequence[Signer]], Iterable[SlotBatch]]) -> list[SlotBatch]:
    """An audit archive at ``root``: deploy_suite on the chain ``open_chain`` opens in the archive's chain
    directory (its mint recorded), then each batch of ``batches(deployment, domain, prosumers' signers)`` run
    by the 4 validators (k = 3) and saved; the saved (final) batches. The chain is closed afterwards."""
    archive = SlotArchive(root)
    chain = open_chain(archive.chain_dir)
    try:
        dep = deploy_suite(chain)
        archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
        archive.record_mint(ARCHIVE_MINTED)
        validators = [Validator(chain.private_key(v)) for v in dep.validators]
        signers = [Signer(chain.private_key(a)) for a in dep.prosumers]
        finals = []
        for batch in batches(dep, domain_of(chain, dep.slots), signers):
            final, _, _ = run_slot(chain, dep.slots, batch, validators, k=3)
            archive.save(final)
            finals.append(final)
        return finals
    finally:
        chain.close()

