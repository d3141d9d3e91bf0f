"""EnergyToken.settle: the operator's balanced batch of signed postings, on both engines."""

from __future__ import annotations

from ledger_helpers import assert_rejected

from transactive.ledger.chain import decode_events
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
