"""EnergyToken.settle: the operator's balanced batch of signed postings, on both engines."""

from __future__ import annotations

from ledger_helpers import assert_rejected, balanced_rows, batch_args, cleared_batch_slot, endorse, open_and_commit

from transactive.ledger.audit.statements import Posting, post_batch
from transactive.ledger.chain.base import decode_events
from transactive.ledger.chain.constants import CLEARED, MODE_CLAIMS, SETTLED, SLOT_OFF_CHAIN_REF, SLOT_STATE
from transactive.ledger.messages.commitments import ME_LEAF
from transactive.ledger.testing import Deployment

OUTSIDER = "0x000000000000000000000000000000000000dEaD"
REF = b"\x11" * 32


def _balances(dep: Deployment, accounts: tuple[str, ...]) -> list[int]:
    return [int(dep.chain.call(dep.token, "balanceOf", a)) for a in accounts]


def test_a_balanced_batch_moves_every_amount_once_and_keeps_the_supply(dep: Deployment) -> None:
    c = dep.chain
    a, b, d = dep.prosumers[0], dep.prosumers[1], dep.prosumers[2]
    before = _balances(dep, (a, b, d))
    supply = c.call(dep.token, "totalSupply")
    receipt = c.transact(dep.token, "settle", REF, [(a, -700), (b, 500), (d, 150), (b, 50)])
    assert _balances(dep, (a, b, d)) == [before[0] - 700, before[1] + 550, before[2] + 150]
    assert c.call(dep.token, "totalSupply") == supply
    assert c.call(dep.token, "balanceOf", dep.token.address) == 0
    assert c.call(dep.token, "settled", REF)
    transfers = [(e["sender"], e["receiver"], e["value"]) for e in decode_events(dep.token, receipt, "Transfer")]
    token = dep.token.address
    assert transfers == [(token, b, 500), (token, d, 150), (token, b, 50), (a, token, 700)]  # credits first
    (settled,) = decode_events(dep.token, receipt, "Settled")
    assert (settled["ref"], settled["operator"], settled["postings"], settled["volume"]) == (REF, dep.admin, 4, 700)
    # the same reference cannot be settled twice
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -1), (b, 1)]), "already settled")


def test_credits_are_applied_before_debits(dep: Deployment) -> None:
    c = dep.chain
    a, b = dep.prosumers[0], dep.prosumers[1]
    balance = c.call(dep.token, "balanceOf", a)
    # a receives 10 and pays balance + 10 in the same batch: fine, it never goes below zero
    c.transact(dep.token, "settle", REF, [(a, -(balance + 10)), (a, 10), (b, balance)])
    assert c.call(dep.token, "balanceOf", a) == 0
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", b"\x12" * 32, [(a, -1), (b, 1)]))


def test_invalid_batches_are_rejected_and_change_nothing(dep: Deployment) -> None:
    c = dep.chain
    a, b = dep.prosumers[0], dep.prosumers[1]
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -5), (b, 5)], sender=a), "not admin")
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -5), (b, 4)]), "do not sum to zero")
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, 5)]), "do not sum to zero")
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -5), (OUTSIDER, 5)]), "not a member")
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", b"\x00" * 32, [(a, -5), (b, 5)]), "zero settlement")
    balance = c.call(dep.token, "balanceOf", a)
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -(balance + 1)), (b, balance + 1)]))
    assert_rejected(dep, lambda: c.transact(dep.token, "settle", REF, [(a, -(2**255)), (b, 1)]))
    assert not c.call(dep.token, "settled", REF)


def test_a_slot_settled_by_a_token_batch_is_marked_and_can_never_settle_again(dep: Deployment) -> None:
    """The endorsed result of a batch slot is paid with EnergyToken.settle (the simulated day's way); the
    admin marks the slot settled off contract with that batch's reference, after which settle_batch (open
    to anyone, and the payers have approved MarketSlots) cannot move the money a second time."""
    c = dep.chain
    slot = 5
    rows = balanced_rows(dep, slot)
    tree = cleared_batch_slot(dep, slot, rows)  # auctioneer validators[5 % 4 = 1], miner validators[3]
    postings = [Posting("auction", a, m) for _, a, _, m in rows if m and a != ME_LEAF]  # the ME row moves nothing
    postings += [Posting("auction", dep.validators[1], 6_000), Posting("auction", dep.validators[3], 6_000)]
    mark = "mark_settled_off_contract"
    assert_rejected(dep, lambda: c.transact(dep.slots, mark, slot, b"\x07" * 32), "reference not settled by the token")
    ref = post_batch(c, dep.token, f"slot {slot}", postings, slot=slot)
    assert_rejected(dep, lambda: c.transact(dep.slots, mark, slot, ref, sender=dep.validators[0]), "not admin")
    assert_rejected(dep, lambda: c.transact(dep.slots, mark, slot, bytes(32)), "zero settlement reference")
    assert c.call(dep.slots, "slots", slot)[SLOT_STATE] == CLEARED
    c.transact(dep.slots, mark, slot, ref)
    record = c.call(dep.slots, "slots", slot)
    assert record[SLOT_STATE] == SETTLED and bytes(record[SLOT_OFF_CHAIN_REF]) == ref
    balances = _balances(dep, (*dep.prosumers, dep.dso, *dep.validators))
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, batch_args(tree)), "not CLEARED")
    assert_rejected(dep, lambda: c.transact(dep.slots, mark, slot, ref), "not CLEARED")
    assert _balances(dep, (*dep.prosumers, dep.dso, *dep.validators)) == balances


def test_only_a_cleared_batch_slot_can_be_marked_settled_off_contract(dep: Deployment) -> None:
    c = dep.chain
    c.transact(dep.token, "settle", REF, [(dep.prosumers[0], -1), (dep.prosumers[1], 1)])
    open_and_commit(dep, 6)  # not endorsed yet
    assert_rejected(dep, lambda: c.transact(dep.slots, "mark_settled_off_contract", 6, REF), "not CLEARED")
    open_and_commit(dep, 7, MODE_CLAIMS)  # endorsed: CLEARED, but a claims slot holds escrow only claims return
    root = b"\x05" * 32
    c.transact(dep.slots, "submit_result", 7, root, endorse(dep, 7, root, dep.validators[:3]), sender=dep.validators[3])
    assert_rejected(dep, lambda: c.transact(dep.slots, "mark_settled_off_contract", 7, REF), "not a batch slot")
