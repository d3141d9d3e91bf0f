"""End to end on the embedded chain: orders signed -> committed -> recomputed by 4 validators (one dishonest)
-> 3-of-4 endorsed -> submitted -> settled in batch mode -> the audit passes -> tokens are conserved.
And a settlement one micro-token off is rejected by the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import ChainRevert
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import Validator, domain_of, recompute, run_slot, settle
from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, ResultEntry, RewardShares, SettlementTree
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import CLEARED, MODE_BATCH, SETTLED, Deployment, deploy_suite, sign_endorsement

MINTED = 10 * 1_000 * 10**6  # deploy_suite: 1,000 tokens to 5 prosumers, the aggregator and 4 validators
# (side, Wh, micro-token per kWh); side 0 sells, 1 buys
BOOK = [(0, 2_000, 100_000), (1, 1_500, 210_000), (0, 1_000, 120_000), (1, 3_000, 190_000), (1, 700, 95_000)]


class Tamperer(Validator):
    """Dishonest: gives the first account one more micro-token than it is due."""

    def solve(self, batch: SlotBatch, rewards: RewardShares | None = None) -> tuple[ResultEntry, ...]:
        first, *rest = super().solve(batch, rewards)
        return (ResultEntry(first.account, first.energy_wh, first.amount_micro + 1), *rest)


def _batch(dep: Deployment, slot: int, mechanism: str, params: dict[str, float] | None = None) -> SlotBatch:
    domain = domain_of(dep.chain, dep.slots)
    signers = [Signer(dep.chain.private_key(a)) for a in dep.prosumers]
    orders = tuple(
        sign_order(s, OrderMessage(s.address, slot, side, wh, price, slot), domain)
        for s, (side, wh, price) in zip(signers, BOOK, strict=True)
    )
    return SlotBatch(domain, slot, orders, mechanism=mechanism, params=params or {})


FUND_MICRO = 1_000 * 10**6  # the community fund (the admin's account) starts with 1,000 tokens here
VCG = {"auctioneer_share": 0.01, "miner_share": 0.01}


@pytest.mark.parametrize(("mechanism", "params"), [("uniform", None), ("pay_as_bid", None),  # balanced, surplus
                                                   ("double_auction_vcg", VCG)])  # a deficit and rewards
def test_orders_to_settled_slot_with_audit(mechanism: str, params: dict[str, float] | None, tmp_path: Path,
                                           local_engine: str) -> None:
    archive = SlotArchive(tmp_path)
    chain = open_local_chain(archive.chain_dir, engine=local_engine)
    try:
        dep = deploy_suite(chain)  # X^A = X^M = 1%
        chain.transact(dep.token, "mint", dep.admin, FUND_MICRO)
        archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
        archive.record_mint(MINTED + FUND_MICRO)
        keys = [chain.private_key(v) for v in dep.validators]
        validators = [Tamperer(keys[0]), *(Validator(k) for k in keys[1:])]
        slot = 5  # auctioneer validators[1]
        batch = _batch(dep, slot, mechanism, params)
        holders = [*dep.prosumers, *dep.validators, dep.slots.address, dep.admin]
        before = {a: chain.call(dep.token, "balanceOf", a) for a in holders}

        final, collected, miner = run_slot(chain, dep.slots, batch, validators, k=3)
        assert collected.dissenters == (dep.validators[0],) and len(collected.signers) == 3
        assert chain.call(dep.slots, "slot_state", slot) == CLEARED
        settle(chain, dep.slots, final)
        assert chain.call(dep.slots, "slot_state", slot) == SETTLED
        assert chain.call(dep.slots, "slots", slot)[1] == MODE_BATCH
        archive.save(final)

        # the mechanism's own figures (no rewards) against the settled ones: every participant's entry is
        # the clearing's; the rewards floor(ME x 1%) (seed 001 eq. 2-4) come out of the fund's row
        plain = {e.account: e for e in recompute(batch, rewards=None)}
        exchange = plain[ME_LEAF].amount_micro if ME_LEAF in plain else 0
        assert (exchange > 0) == (mechanism == "double_auction_vcg")  # only VCG has a reward term
        reward = exchange * 10_000 // 1_000_000
        auctioneer = dep.validators[slot % 4]
        assert miner != auctioneer
        for e in final.results:
            if e.account == FUND_LEAF:
                assert e.amount_micro == plain.get(FUND_LEAF, e).amount_micro - 2 * reward * (FUND_LEAF in plain)
            else:
                assert e == plain[e.account]
        rows = [e for e in final.results if e.account != ME_LEAF]
        debits = -sum(e.amount_micro for e in rows if e.amount_micro < 0)
        assert sum(e.amount_micro for e in rows if e.amount_micro > 0) + 2 * reward == debits

        after = {a: chain.call(dep.token, "balanceOf", a) for a in holders}
        due = {a: 0 for a in holders}
        for e in rows:
            due[dep.admin if e.account == FUND_LEAF else e.account] += e.amount_micro
        due[auctioneer] += reward
        due[miner] += reward
        assert {a: after[a] - before[a] for a in holders} == due
        assert after[dep.slots.address] == before[dep.slots.address] == 0
        assert chain.call(dep.token, "totalSupply") == MINTED + FUND_MICRO
    finally:
        chain.close()
    # the whole archive audits clean, including the settled batch slot's balance check
    assert verify_archive(tmp_path) is None


def test_settlement_one_micro_token_off_is_rejected(tmp_path: Path, local_engine: str) -> None:
    chain = open_local_chain(engine=local_engine)
    try:
        dep = deploy_suite(chain)
        slot = 6
        batch = _batch(dep, slot, "uniform")
        auctioneer = dep.validators[slot % 4]
        chain.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
        chain.transact(dep.slots, "commit_orders", slot, batch.order_root, len(batch.orders), sender=auctioneer)
        honest = recompute(batch, rewards=RewardShares(10_000, 10_000))
        k = next(i for i, e in enumerate(honest) if e.amount_micro > 0)
        for delta in (+1, -1):
            snap = chain.snapshot()
            off = list(honest)
            off[k] = ResultEntry(off[k].account, off[k].energy_wh, off[k].amount_micro + delta)
            tree = SettlementTree.build([e.values(slot) for e in off])
            sigs = [sign_endorsement(chain.private_key(v), chain.chain_id, dep.slots.address, slot,
                                     batch.order_root, tree.root) for v in dep.validators[:3]]
            chain.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[3])
            with pytest.raises(ChainRevert, match="does not balance"):
                settle(chain, dep.slots, SlotBatch(batch.domain, slot, batch.orders, tuple(off)))
            assert chain.call(dep.slots, "slot_state", slot) == CLEARED
            chain.revert(snap)
    finally:
        chain.close()
