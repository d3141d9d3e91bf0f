"""Claims mode balances exactly like batch mode: the auctioneer's and the miner's rewards and the DSO's grid
charges are leaves of the result, every claim together pays out exactly the escrow, a double claim reverts,
and the audit is clean (embedded chain, a dpda_matched slot on the IEEE LV feeder signed by real keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_helpers import BASE_ACCOUNTS, MINT_MICRO, N_PROSUMERS, market_document, setup_members

from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.chain.base import ChainRevert
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import (
    Validator,
    claim_all,
    clear_batch,
    domain_of,
    open_slot,
    recompute,
    run_slot,
    slot_rewards,
)
from transactive.ledger.messages.batch import signed_market_batch
from transactive.ledger.messages.commitments import (
    FUND_LEAF,
    ME_LEAF,
    MINER_LEAF,
    RewardShares,
    SettlementTree,
    exchange_of,
    grid_charge_micro,
)
from transactive.ledger.testing import CLEARED, MODE_CLAIMS
from transactive.marketfile import parse_market

ESCROW_MICRO = 300 * 10**6  # each buyer escrows 300 tokens, well above its bill


def test_claims_mode_slot_pays_rewards_and_charges_and_conserves_escrow(tmp_path: Path, local_engine: str) -> None:
    doc = market_document()
    market = parse_market(json.loads(json.dumps(doc)))
    archive = SlotArchive(tmp_path)
    chain = open_local_chain(archive.chain_dir, engine=local_engine, n_accounts=BASE_ACCOUNTS + N_PROSUMERS)
    try:
        dep, signers = setup_members(chain, market)
        archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
        archive.record_mint(MINT_MICRO * (10 + N_PROSUMERS))
        slot = 13
        auctioneer = dep.validators[slot % 4]
        batch = signed_market_batch(market, signers, domain=domain_of(chain, dep.slots), slot=slot,
                                    params=doc["params"], dso=dep.dso)
        open_slot(chain, dep.slots, slot, MODE_CLAIMS, auctioneer)  # opened first so that buyers can escrow
        buyers = [signers[pid].address for pid in market.buyers.ids]
        for b in buyers:
            chain.transact(dep.slots, "deposit_escrow", slot, ESCROW_MICRO, sender=b)
        escrow = ESCROW_MICRO * len(buyers)
        validators = [Validator(chain.private_key(v)) for v in dep.validators]
        final, _, miner = run_slot(chain, dep.slots, batch, validators, k=3, mode=MODE_CLAIMS)
        assert chain.call(dep.slots, "slot_state", slot) == CLEARED and miner != auctioneer
        archive.save(final)

        # the leaves: trades, the DSO's charges, the fund's row, the auctioneer's and the miner's rewards
        # (floor(ME x 1%), seed 001 eq. 2-4: 0 here, DPDA has no reward term); they sum to zero
        entries = {e.account: e for e in final.results}
        reward = exchange_of(final.results) * 10_000 // 1_000_000
        assert ME_LEAF not in entries and reward == 0
        assert entries[MINER_LEAF].amount_micro == reward and entries[auctioneer].amount_micro == reward
        _, _, result = clear_batch(final)
        assert entries[dep.dso].amount_micro == grid_charge_micro(result) > 0
        assert sum(e.amount_micro for e in final.results) == 0
        # ... exactly the batch-mode figures, with the rewards as leaves instead of settle_batch transfers
        as_batch = {e.account: e for e in recompute(batch, rewards=RewardShares(10_000, 10_000))}
        assert set(entries) == set(as_batch) | {MINER_LEAF, auctioneer}
        assert all(entries[a] == e for a, e in as_batch.items())

        rewards = slot_rewards(chain, dep.slots, slot)
        assert rewards == RewardShares(10_000, 10_000, auctioneer=auctioneer)
        holders = [*(s.address for s in signers.values()), dep.dso, *dep.validators, dep.admin]
        before = {a: chain.call(dep.token, "balanceOf", a) for a in holders}
        assert chain.call(dep.token, "balanceOf", dep.slots.address) == escrow
        assert claim_all(chain, dep.slots, final, sender=dep.admin) == len(final.results)
        after = {a: chain.call(dep.token, "balanceOf", a) for a in holders}
        paid = {a: after[a] - before[a] for a in holders}
        assert sum(paid.values()) == escrow  # every claim together pays out exactly the escrow
        assert chain.call(dep.token, "balanceOf", dep.slots.address) == 0
        for a in holders:
            due = entries[a].amount_micro if a in entries else 0
            due += entries[FUND_LEAF].amount_micro if a == dep.admin and FUND_LEAF in entries else 0  # the fund
            due += ESCROW_MICRO if a in buyers else 0  # a buyer gets back its escrow minus its debit
            due += reward if a == miner else 0  # the MINER_LEAF leaf is paid to the slot's miner
            assert paid[a] == due, a

        # a second claim of any leaf reverts and changes nothing, the miner's leaf included
        tree = SettlementTree.build([e.values(slot) for e in final.results])
        for row in (next(r for r in tree.rows if r[1] == MINER_LEAF), tree.rows[0]):
            head = chain.block_number()
            with pytest.raises(ChainRevert, match="already claimed"):
                chain.transact(dep.slots, "claim", *row, tree.proof(row), sender=dep.admin)
            assert chain.block_number() == head
        assert {a: chain.call(dep.token, "balanceOf", a) for a in holders} == after
    finally:
        chain.close()
    assert verify_archive(tmp_path) is None
