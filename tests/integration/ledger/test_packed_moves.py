"""EnergyToken.move_words (MarketSlots.settle_batch's one token call, one packed word per move) on both engines:
the same balances, allowances and Transfer events as move_batch, the caller's balance netted once, and the
rejections of move_batch; Registry.are_members_packed; settle_batch's packing limits."""

from __future__ import annotations

from typing import Any

from ledger_helpers import assert_rejected, batch_args, cleared_batch_slot

from transactive.ledger.chain.base import decode_events
from transactive.ledger.messages.commitments import FUND_LEAF
from transactive.ledger.testing import ROLE_PROSUMER, Deployment, bus

DEBIT = 1 << 255


def word(account: str, amount: int, *, debit: bool = False) -> int:
    """The packed move: account in bits 0-159, amount in bits 160-254, bit 255 for a debit."""
    return int(account, 16) | amount << 160 | (DEBIT if debit else 0)


def _state(dep: Deployment, accounts: list[str], spender: str) -> dict[str, Any]:
    c = dep.chain
    return {"balances": [int(c.call(dep.token, "balanceOf", a)) for a in accounts],
            "allowances": [int(c.call(dep.token, "allowance", a, spender)) for a in accounts],
            "supply": int(c.call(dep.token, "totalSupply"))}


def test_move_words_moves_what_move_batch_moves(dep: Deployment) -> None:
    c = dep.chain
    caller, a, b, d = dep.prosumers[0], dep.prosumers[1], dep.prosumers[2], dep.prosumers[3]
    c.transact(dep.token, "approve", caller, 5_000, sender=a)
    c.transact(dep.token, "approve", caller, 2**256 - 1, sender=b)
    accounts = [caller, a, b, d]
    snap = c.snapshot()
    by_batch = c.transact(dep.token, "move_batch", [(a, 3_000), (b, 4_000)], [(d, 6_500), (a, 100)], sender=caller)
    after_batch = _state(dep, accounts, caller)
    c.revert(snap)
    words = [word(a, 3_000, debit=True), word(b, 4_000, debit=True), word(d, 6_500), word(a, 100)]
    by_words = c.transact(dep.token, "move_words", words, sender=caller)
    assert _state(dep, accounts, caller) == after_batch
    assert decode_events(dep.token, by_words, "Transfer") == decode_events(dep.token, by_batch, "Transfer")
    assert after_batch["allowances"][1] == 2_000 and after_batch["allowances"][2] == 2**256 - 1


def test_move_words_nets_the_caller_and_rejects_what_move_batch_rejects(dep: Deployment) -> None:
    c = dep.chain
    caller, a, d = dep.prosumers[0], dep.prosumers[1], dep.prosumers[3]
    held = int(c.call(dep.token, "balanceOf", caller))
    c.transact(dep.token, "approve", caller, 2**256 - 1, sender=a)
    # a credit before the debit that funds it: the caller's balance is netted once (held - 1 + 1 >= 0)
    before = _state(dep, [caller, a, d], caller)
    c.transact(dep.token, "move_words", [word(d, held + 1), word(a, 1, debit=True)], sender=caller)
    after = _state(dep, [caller, a, d], caller)
    assert [x - y for x, y in zip(after["balances"], before["balances"], strict=True)] == [-held, -1, held + 1]
    # credits beyond what the caller holds plus what it pulls
    assert_rejected(dep, lambda: c.transact(dep.token, "move_words", [word(d, 2), word(a, 1, debit=True)],
                                            sender=caller))
    outsider = "0x000000000000000000000000000000000000dEaD"
    assert_rejected(dep, lambda: c.transact(dep.token, "move_words", [word(outsider, 1)], sender=a), "not a member")
    assert_rejected(dep, lambda: c.transact(dep.token, "move_words", [word(d, 1, debit=True)], sender=a))  # allowance
    c.transact(dep.registry, "set_member", a, 0, bus(""))  # the caller itself is no longer a member
    assert_rejected(dep, lambda: c.transact(dep.token, "move_words", [], sender=a), "not a member")


def test_are_members_packed_reads_the_low_160_bits_and_the_first_account(dep: Deployment) -> None:
    c = dep.chain
    p = dep.prosumers
    outsider = "0x000000000000000000000000000000000000dEaD"
    assert c.call(dep.registry, "are_members_packed", p[0], [word(p[1], 2**95 - 1, debit=True), word(p[2], 7)])
    assert not c.call(dep.registry, "are_members_packed", outsider, [word(p[1], 1)])
    assert not c.call(dep.registry, "are_members_packed", p[0], [word(p[1], 1), word(outsider, 1)])
    c.transact(dep.registry, "set_member", outsider, ROLE_PROSUMER, bus("x"))
    assert c.call(dep.registry, "are_members_packed", outsider, [word(outsider, 5)])


def test_settle_batch_refuses_amounts_beyond_the_packed_range(dep: Deployment) -> None:
    slot = 2
    p = dep.prosumers
    rows = [(slot, p[0], 0, -(2**95)), (slot, p[1], 0, 2**95)]  # balanced, endorsed, no reward row
    tree = cleared_batch_slot(dep, slot, rows)
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree)),
                    "amount too large")


def test_a_fund_row_needs_the_fund_account(dep: Deployment) -> None:
    c = dep.chain
    slot = 3
    p = dep.prosumers
    rows = [(slot, FUND_LEAF, 0, -1_000), (slot, p[1], 0, 1_000)]
    tree = cleared_batch_slot(dep, slot, rows)
    c.transact(dep.slots, "set_fund", "0x" + "00" * 20)
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, batch_args(tree)), "no fund account")
    c.transact(dep.slots, "set_fund", dep.admin)
    c.transact(dep.token, "mint", dep.admin, 1_000)
    before = [int(c.call(dep.token, "balanceOf", a)) for a in (dep.admin, p[1])]
    c.transact(dep.slots, "settle_batch", slot, batch_args(tree))
    after = [int(c.call(dep.token, "balanceOf", a)) for a in (dep.admin, p[1])]
    assert [x - y for x, y in zip(after, before, strict=True)] == [-1_000, 1_000]
