"""Challenge path on both engines: k colluding validators finalise a wrong root; an honest validator
recomputes and disputes it within the dispute window; the slot can then neither settle nor be claimed until
the consortium admin resolves it (a re-endorsed root, or cancellation with the escrow refunded)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ledger_helpers import assert_rejected

from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import ChainRevert
from transactive.ledger.chain.constants import SLOT_DISPUTE_UNTIL, SLOT_MINER, ZERO_ADDRESS
from transactive.ledger.clearance.disputes import dispute_if_wrong, resolve_dispute
from transactive.ledger.clearance.protocol import (
    Validator,
    claim_all,
    domain_of,
    open_slot,
    recompute,
    settle,
    slot_rewards,
)
from transactive.ledger.messages.commitments import ResultEntry, SettlementTree, exchange_of, result_tree
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import (
    CANCELLED,
    CLEARED,
    DISPUTED,
    MODE_BATCH,
    MODE_CLAIMS,
    SETTLED,
    Deployment,
    sign_endorsement,
)

WINDOW = 3  # blocks


def two_trader_batch(dep: Deployment, slot: int) -> SlotBatch:
    """p0 sells 2 kWh at >= 0.10 tokens/kWh, p1 buys 2 kWh at <= 0.20: uniform price 0.15."""
    domain = domain_of(dep.chain, dep.slots)
    s, b = (Signer(dep.chain.private_key(a)) for a in dep.prosumers[:2])
    orders = (sign_order(s, OrderMessage(s.address, slot, 0, 2_000, 100_000, 0), domain),
              sign_order(b, OrderMessage(b.address, slot, 1, 2_000, 200_000, 0), domain))
    return SlotBatch(domain, slot, orders, mechanism="uniform", params={})


def collude(dep: Deployment, batch: SlotBatch, mode: int) -> tuple[ResultEntry, ...]:
    """Open and commit ``batch``; validators 0-2 (k = 3) endorse a root that pays the seller 1,000
    micro-tokens too much (taken from the auctioneer's reward leaf in claims mode, from nothing otherwise);
    validator 0 submits it. Returns the wrong entries."""
    c, slot = dep.chain, batch.slot
    auctioneer = dep.validators[slot % 4]
    open_slot(c, dep.slots, slot, mode, auctioneer)
    if mode == MODE_CLAIMS:
        c.transact(dep.slots, "deposit_escrow", slot, 400_000, sender=dep.prosumers[1])
    c.transact(dep.slots, "commit_orders", slot, batch.order_root, len(batch.orders), sender=auctioneer)
    honest = recompute(batch, rewards=slot_rewards(c, dep.slots, slot))
    wrong = tuple(replace(e, amount_micro=e.amount_micro + 1_000) if e.account == dep.prosumers[0] else e
                  for e in honest)
    root = result_tree(slot, wrong).root
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, batch.order_root, root)
            for v in dep.validators[:3]]
    c.transact(dep.slots, "submit_result", slot, root, sigs, sender=dep.validators[0])
    return wrong


def mine(dep: Deployment, blocks: int) -> None:
    """Advance the chain by ``blocks`` blocks (one harmless transaction each, on either engine)."""
    for _ in range(blocks):
        dep.chain.transact(dep.token, "approve", dep.slots.address, 2**256 - 1, sender=dep.prosumers[4])


def test_window_is_admin_set_and_zero_disables_disputes(dep: Deployment) -> None:
    c = dep.chain
    assert c.call(dep.slots, "dispute_blocks") == 0
    assert_rejected(dep, lambda: c.transact(dep.slots, "set_dispute_window", 5, sender=dep.validators[0]),
                    "not admin")
    batch = two_trader_batch(dep, 8)
    collude(dep, batch, MODE_BATCH)
    # window 0: the next block is already too late, and settlement is not held back
    assert_rejected(dep, lambda: c.transact(dep.slots, "dispute", 8, sender=dep.validators[3]), "window closed")


def test_dispute_blocks_settlement_until_resolved_with_a_reendorsed_root(dep: Deployment) -> None:
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", WINDOW)
    slot = 9
    batch = two_trader_batch(dep, slot)
    wrong = collude(dep, batch, MODE_BATCH)
    wrong_batch = replace(batch, results=wrong)
    assert_rejected(dep, lambda: settle(c, dep.slots, wrong_batch), "dispute window open")
    assert_rejected(dep, lambda: c.transact(dep.slots, "dispute", slot, sender=dep.prosumers[0]),
                    "not a validator")
    # the honest validator recomputes, finds another root, and disputes
    assert dispute_if_wrong(c, dep.slots, batch, dep.validators[3]) is True
    assert c.call(dep.slots, "slot_state", slot) == DISPUTED
    mine(dep, WINDOW + 1)  # the window is over, the slot still cannot settle
    assert_rejected(dep, lambda: settle(c, dep.slots, wrong_batch), "not CLEARED")
    assert_rejected(dep, lambda: c.transact(dep.slots, "dispute", slot, sender=dep.validators[3]), "not CLEARED")

    validators = [Validator(c.private_key(v)) for v in dep.validators]  # now all of them recompute honestly
    honest_root = result_tree(slot, recompute(batch, rewards=slot_rewards(c, dep.slots, slot))).root
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, batch.order_root, honest_root)
            for v in dep.validators]
    assert_rejected(dep, lambda: c.transact(dep.slots, "resolve_dispute", slot, honest_root, sigs[:3],
                                            dep.validators[3], sender=dep.validators[3]), "not admin")
    assert_rejected(dep, lambda: c.transact(dep.slots, "resolve_dispute", slot, honest_root, sigs[:2],
                                            dep.validators[3]),
                    "too few endorsements")
    collected = resolve_dispute(c, dep.slots, batch, validators, k=3, admin=dep.admin)
    assert collected.result_root == honest_root == c.call(dep.slots, "slots", slot)[6]
    # the corrected root's miner: by default the first agreeing validator other than the wrong root's submitter
    assert str(c.call(dep.slots, "slots", slot)[SLOT_MINER]).lower() == dep.validators[1].lower()
    assert c.call(dep.slots, "slot_state", slot) == CLEARED
    assert_rejected(dep, lambda: c.transact(dep.slots, "dispute", slot, sender=dep.validators[3]),
                    "already resolved")
    assert_rejected(dep, lambda: settle(c, dep.slots, wrong_batch))  # the wrong rows no longer match
    settle(c, dep.slots, replace(batch, results=collected.results))
    assert c.call(dep.slots, "slot_state", slot) == SETTLED


def test_disputed_claims_slot_cannot_be_claimed_and_cancelling_refunds_escrow(dep: Deployment) -> None:
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", WINDOW)
    slot = 10
    batch = two_trader_batch(dep, slot)
    buyer = dep.prosumers[1]
    before = c.call(dep.token, "balanceOf", buyer)
    wrong = collude(dep, batch, MODE_CLAIMS)
    tree = SettlementTree.build([e.values(slot) for e in wrong])
    debit = next(r for r in tree.rows if r[3] < 0)
    assert_rejected(dep, lambda: c.transact(dep.slots, "claim", *debit, tree.proof(debit)), "dispute window open")
    assert dispute_if_wrong(c, dep.slots, batch, dep.validators[3]) is True
    assert_rejected(dep, lambda: c.transact(dep.slots, "claim", *debit, tree.proof(debit)), "not CLEARED")
    assert_rejected(dep, lambda: c.transact(dep.slots, "cancel_slot", slot, sender=dep.validators[3]), "not admin")
    c.transact(dep.slots, "cancel_slot", slot)
    assert c.call(dep.slots, "slot_state", slot) == CANCELLED
    c.transact(dep.slots, "withdraw_escrow", slot, sender=buyer)
    assert c.call(dep.token, "balanceOf", buyer) == before
    assert c.call(dep.token, "balanceOf", dep.slots.address) == 0


def test_honest_result_is_not_disputed_and_settles_after_the_window(dep: Deployment) -> None:
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", WINDOW)
    slot = 11
    batch = two_trader_batch(dep, slot)
    auctioneer = dep.validators[slot % 4]
    open_slot(c, dep.slots, slot, MODE_BATCH, auctioneer)
    c.transact(dep.slots, "commit_orders", slot, batch.order_root, 2, sender=auctioneer)
    validators = [Validator(c.private_key(v)) for v in dep.validators]
    answers = [v.endorse(batch, slot_rewards(c, dep.slots, slot)) for v in validators]
    c.transact(dep.slots, "submit_result", slot, answers[0].result_root, [a.signature for a in answers[:3]],
               sender=dep.validators[0])
    assert dispute_if_wrong(c, dep.slots, batch, dep.validators[3]) is False  # nothing sent
    final = replace(batch, results=answers[0].results)
    assert_rejected(dep, lambda: settle(c, dep.slots, final), "dispute window open")
    mine(dep, WINDOW)
    with pytest.raises(ChainRevert, match="window closed"):
        c.transact(dep.slots, "dispute", slot, sender=dep.validators[3])
    settle(c, dep.slots, final)
    assert c.call(dep.slots, "slot_state", slot) == SETTLED


def honest_claims_slot(dep: Deployment, slot: int) -> SlotBatch:
    """Open ``slot`` in claims mode (the buyer escrows 400,000), commit, and submit the honest result endorsed
    by validators 0-2 (miner validator 0); returns the batch with its results."""
    c = dep.chain
    batch = two_trader_batch(dep, slot)
    auctioneer = dep.validators[slot % 4]
    open_slot(c, dep.slots, slot, MODE_CLAIMS, auctioneer)
    c.transact(dep.slots, "deposit_escrow", slot, 400_000, sender=dep.prosumers[1])
    c.transact(dep.slots, "commit_orders", slot, batch.order_root, 2, sender=auctioneer)
    answers = [Validator(c.private_key(v)).endorse(batch, slot_rewards(c, dep.slots, slot)) for v in dep.validators]
    c.transact(dep.slots, "submit_result", slot, answers[0].result_root, [a.signature for a in answers[:3]],
               sender=dep.validators[0])
    return replace(batch, results=answers[0].results)


def test_raising_the_window_after_paid_claims_neither_reopens_a_dispute_nor_allows_a_cancel(dep: Deployment) -> None:
    """Window 0 at submission: every leaf is claimed (the contract pays out all it holds); raising the window
    afterwards does not make the slot disputable again, so it cannot end CANCELLED after money moved."""
    c = dep.chain
    slot = 12
    final = honest_claims_slot(dep, slot)
    assert claim_all(c, dep.slots, final) == len(final.results)
    assert c.call(dep.token, "balanceOf", dep.slots.address) == 0  # debits in, credits and rewards out
    c.transact(dep.slots, "set_dispute_window", 1_000)
    assert_rejected(dep, lambda: c.transact(dep.slots, "dispute", slot, sender=dep.validators[3]),
                    "claims already paid")
    assert_rejected(dep, lambda: c.transact(dep.slots, "cancel_slot", slot), "only an open, unendorsed or disputed")
    assert c.call(dep.slots, "slot_state", slot) == CLEARED


def test_the_window_is_fixed_per_slot_when_its_result_is_submitted(dep: Deployment) -> None:
    """Lowering the window does not cut short an open dispute period; a slot submitted after the change
    gets the new window."""
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", 10)
    slot = 13
    batch = two_trader_batch(dep, slot)
    wrong = collude(dep, batch, MODE_BATCH)
    assert c.call(dep.slots, "slots", slot)[SLOT_DISPUTE_UNTIL] == c.block_number() + 10
    c.transact(dep.slots, "set_dispute_window", 0)
    mine(dep, 2)
    assert_rejected(dep, lambda: settle(c, dep.slots, replace(batch, results=wrong)), "dispute window open")
    assert dispute_if_wrong(c, dep.slots, batch, dep.validators[3]) is True
    later = honest_claims_slot(dep, 17)  # submitted under window 0: claimable in the next block
    assert c.call(dep.slots, "slots", 17)[SLOT_DISPUTE_UNTIL] == c.block_number()
    assert claim_all(c, dep.slots, later) == len(later.results)


@pytest.mark.parametrize("mode", [MODE_BATCH, MODE_CLAIMS])
def test_a_corrected_root_pays_the_miner_reward_to_its_named_submitter(dep: Deployment, mode: int) -> None:
    """Validator 0 submitted a wrong root; after the correction the miner reward goes to the admin-named
    endorser of the correct root (validator 3), not to validator 0: settle_batch's reward in batch mode, the
    MINER_LEAF claim in claims mode."""
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", WINDOW)
    slot = 14
    # a reward-bearing mechanism (seed 001's VCG at 1 % + 1 %); its deficit is paid by the fund (the admin)
    batch = replace(two_trader_batch(dep, slot), mechanism="double_auction_vcg",
                    params={"auctioneer_share": 0.01, "miner_share": 0.01})
    c.transact(dep.token, "mint", dep.admin, 10**9)
    collude(dep, batch, mode)
    assert dispute_if_wrong(c, dep.slots, batch, dep.validators[3]) is True
    honest = recompute(batch, rewards=slot_rewards(c, dep.slots, slot))
    root = result_tree(slot, honest).root
    sigs = {v: sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, batch.order_root, root)
            for v in dep.validators}
    first3 = [sigs[v] for v in dep.validators[:3]]
    assert_rejected(dep, lambda: c.transact(dep.slots, "resolve_dispute", slot, root, first3, dep.validators[0]),
                    "miner submitted the wrong root")
    assert_rejected(dep, lambda: c.transact(dep.slots, "resolve_dispute", slot, root, first3, dep.validators[3]),
                    "miner did not endorse the correct root")
    before = {v: c.call(dep.token, "balanceOf", v) for v in dep.validators}
    validators = [Validator(c.private_key(v)) for v in dep.validators]
    resolve_dispute(c, dep.slots, batch, validators, k=3, admin=dep.admin, miner=dep.validators[3])
    assert str(c.call(dep.slots, "slots", slot)[SLOT_MINER]).lower() == dep.validators[3].lower()
    final = replace(batch, results=honest)
    if mode == MODE_BATCH:
        settle(c, dep.slots, final)
    else:
        claim_all(c, dep.slots, final)
    # ME = 2 kWh x 0.10 + 2 kWh x 0.20 = 0.6 tokens; X^M = 1 % (deploy_suite): floor(600,000 x 1 %) = 6,000;
    # the auctioneer is validator 14 % 4 = 2
    reward = exchange_of(honest) * 10_000 // 1_000_000
    gained = {v: c.call(dep.token, "balanceOf", v) - before[v] for v in dep.validators}
    assert reward == 6_000
    assert gained[dep.validators[3]] == reward
    assert gained[dep.validators[0]] == 0
    assert gained[dep.validators[2]] == reward  # the auctioneer's reward, also 1 %


def test_confirming_the_same_root_keeps_its_miner(dep: Deployment) -> None:
    c = dep.chain
    c.transact(dep.slots, "set_dispute_window", WINDOW)
    slot = 16
    batch = two_trader_batch(dep, slot)
    wrong = collude(dep, batch, MODE_BATCH)
    c.transact(dep.slots, "dispute", slot, sender=dep.validators[3])
    root = result_tree(slot, wrong).root
    sigs = [sign_endorsement(c.private_key(v), c.chain_id, dep.slots.address, slot, batch.order_root, root)
            for v in dep.validators[:3]]
    assert_rejected(dep, lambda: c.transact(dep.slots, "resolve_dispute", slot, root, sigs, dep.validators[3]),
                    "same root keeps its miner")
    c.transact(dep.slots, "resolve_dispute", slot, root, sigs, ZERO_ADDRESS)
    assert str(c.call(dep.slots, "slots", slot)[SLOT_MINER]).lower() == dep.validators[0].lower()
