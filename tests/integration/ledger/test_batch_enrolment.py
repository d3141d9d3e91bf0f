"""Batch enrolment on both engines: Registry.set_members / buses_of, EnergyToken.mint_batch / permit_batch give
the same state as one set_member, mint and approve per member, and reject what the single calls reject."""

from __future__ import annotations

import random

from ledger_helpers import assert_rejected

from transactive.crypto.signing import Signer
from transactive.ledger.testing import ROLE_ADMIN, ROLE_PROSUMER, Deployment, bus
from transactive.market.ledger.accounts import ENROL_BATCH, permit_digest
from transactive.market.ledger.config import MAX_UINT


def _keys(n: int, seed: int) -> list[Signer]:
    rng = random.Random(seed)
    return [Signer(rng.randbytes(32)) for _ in range(n)]


def _permit(dep: Deployment, signer: Signer, spender: str, amount: int, nonce: int) -> tuple[str, int, bytes, bytes]:
    digest = permit_digest(dep.token.address, dep.chain.chain_id, owner=signer.address, spender=spender,
                           amount=amount, nonce=nonce)
    sig = signer.sign_digest(digest)
    return signer.address, sig[64], sig[:32], sig[32:64]


def test_set_members_and_buses_of_match_single_calls(dep: Deployment) -> None:
    c = dep.chain
    batch = [s.address for s in _keys(30, 1)]
    single = [s.address for s in _keys(3, 2)]
    c.transact(dep.registry, "set_members", batch, ROLE_PROSUMER, [bus(f"b{i % 4}") for i in range(30)])
    for i, a in enumerate(single):
        c.transact(dep.registry, "set_member", a, ROLE_PROSUMER, bus(f"b{i % 4}"))
    for i, a in enumerate(batch):
        assert c.call(dep.registry, "roles", a) == ROLE_PROSUMER
        assert c.call(dep.registry, "bus", a) == bus(f"b{i % 4}")
    outsider = "0x000000000000000000000000000000000000dEaD"
    read = list(c.call(dep.registry, "buses_of", [*batch, *single, outsider, dep.prosumers[2]]))
    expected = [c.call(dep.registry, "bus", a) for a in [*batch, *single, outsider, dep.prosumers[2]]]
    assert read == expected and read[-2] == b"\x00" * 32 and read[-1] == bus("bus-3")


def test_set_members_rejects_what_set_member_rejects(dep: Deployment) -> None:
    c = dep.chain
    ok = [s.address for s in _keys(3, 3)]
    p = dep.prosumers[0]
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_members", ok, ROLE_PROSUMER, [bus("x")] * 3, sender=p),
                    "not admin")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_members", ok, 64, [bus("x")] * 3), "unknown role")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_members", ok, ROLE_PROSUMER, [bus("x")] * 2),
                    "differ in length")
    zero = [ok[0], "0x" + "00" * 20]
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_members", zero, ROLE_PROSUMER, [bus("x")] * 2),
                    "zero address")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_members", [dep.admin], ROLE_PROSUMER, [bus("x")]),
                    "own admin role")
    assert not c.call(dep.registry, "is_member", ok[0])  # a rejected batch changes nothing
    assert c.call(dep.registry, "has_role", dep.admin, ROLE_ADMIN)


def test_mint_batch_credits_members_and_supply(dep: Deployment) -> None:
    c = dep.chain
    members = [s.address for s in _keys(12, 4)]
    c.transact(dep.registry, "set_members", members, ROLE_PROSUMER, [bus("b")] * 12)
    supply = int(c.call(dep.token, "totalSupply"))
    c.transact(dep.token, "mint_batch", members, 7_000_000)
    assert [int(c.call(dep.token, "balanceOf", a)) for a in members] == [7_000_000] * 12
    assert int(c.call(dep.token, "totalSupply")) == supply + 12 * 7_000_000
    outsider = _keys(1, 5)[0].address
    assert_rejected(dep, lambda: c.transact(dep.token, "mint_batch", [members[0], outsider], 1), "not a member")
    assert_rejected(dep, lambda: c.transact(dep.token, "mint_batch", members, 1, sender=dep.prosumers[0]),
                    "not admin")


def test_permit_batch_approves_like_approve_and_once(dep: Deployment) -> None:
    c = dep.chain
    signers = _keys(10, 6)
    members = [s.address for s in signers]
    spender = dep.slots.address
    c.transact(dep.registry, "set_members", members, ROLE_PROSUMER, [bus("b")] * 10)
    digest = permit_digest(dep.token.address, c.chain_id, owner=members[0], spender=spender, amount=MAX_UINT, nonce=0)
    assert bytes(c.call(dep.token, "permit_digest", members[0], spender, MAX_UINT, 0)) == digest  # one rule
    permits = [_permit(dep, s, spender, MAX_UINT, 0) for s in signers]
    c.transact(dep.token, "permit_batch", spender, MAX_UINT, permits, sender=dep.prosumers[0])  # anyone submits
    assert [int(c.call(dep.token, "allowance", a, spender)) for a in members] == [MAX_UINT] * 10
    assert [int(c.call(dep.token, "nonces", a)) for a in members] == [1] * 10
    # a replayed permit (nonce used), a permit for another amount, another owner's signature: all rejected
    assert_rejected(dep, lambda: c.transact(dep.token, "permit_batch", spender, MAX_UINT, permits[:1]),
                    "invalid permit")
    fresh = _keys(1, 7)[0]
    wrong_amount = _permit(dep, fresh, spender, 5, 0)
    assert_rejected(dep, lambda: c.transact(dep.token, "permit_batch", spender, MAX_UINT, [wrong_amount]),
                    "invalid permit")
    _, v, r, s = _permit(dep, signers[1], spender, MAX_UINT, 1)
    assert_rejected(dep, lambda: c.transact(dep.token, "permit_batch", spender, MAX_UINT, [(fresh.address, v, r, s)]),
                    "invalid permit")
    # the next nonce works: the owner lowers its allowance to 0 by a permit
    c.transact(dep.token, "permit_batch", spender, 0, [_permit(dep, signers[1], spender, 0, 1)])
    assert int(c.call(dep.token, "allowance", members[1], spender)) == 0


def test_move_batch_is_transfer_from_then_transfer(dep: Deployment) -> None:
    """EnergyToken.move_batch (MarketSlots.settle_batch's one token call) moves what transferFrom for each debit
    then transfer for each credit would, uses finite allowances, and rejects a non-member or a short allowance."""
    c = dep.chain
    caller, a, b, d = dep.prosumers[0], dep.prosumers[1], dep.prosumers[2], dep.prosumers[3]
    c.transact(dep.token, "approve", caller, 5_000, sender=a)
    c.transact(dep.token, "approve", caller, MAX_UINT, sender=b)
    before = {x: int(c.call(dep.token, "balanceOf", x)) for x in (caller, a, b, d)}
    supply = int(c.call(dep.token, "totalSupply"))
    receipt = c.transact(dep.token, "move_batch", [(a, 3_000), (b, 4_000)], [(d, 6_500), (a, 100)], sender=caller)
    after = {x: int(c.call(dep.token, "balanceOf", x)) for x in (caller, a, b, d)}
    assert after == {caller: before[caller] + 7_000 - 6_600, a: before[a] - 3_000 + 100, b: before[b] - 4_000,
                     d: before[d] + 6_500}
    assert int(c.call(dep.token, "totalSupply")) == supply
    assert int(c.call(dep.token, "allowance", a, caller)) == 2_000  # finite: used
    assert int(c.call(dep.token, "allowance", b, caller)) == MAX_UINT  # infinite: kept
    assert len(receipt.logs) == 4
    outsider = "0x000000000000000000000000000000000000dEaD"
    assert_rejected(dep, lambda: c.transact(dep.token, "move_batch", [], [(outsider, 1)], sender=caller),
                    "not a member")
    assert_rejected(dep, lambda: c.transact(dep.token, "move_batch", [(a, 2_001)], [], sender=caller))
    assert_rejected(dep, lambda: c.transact(dep.token, "move_batch", [(d, 1)], [], sender=caller))  # no allowance


def test_a_full_enrolment_batch_fits_a_block_on_both_engines(dep: Deployment) -> None:
    """ENROL_BATCH members per set_members / mint_batch / permit_batch transaction (what enrol_many sends) are
    accepted by both engines' block gas limits, and buses_of reads them back in one call."""
    c = dep.chain
    signers = _keys(ENROL_BATCH, 8)
    members = [s.address for s in signers]
    buses = [bus(f"bus-{i % 55}") for i in range(ENROL_BATCH)]
    gas = [c.transact(dep.registry, "set_members", members, ROLE_PROSUMER, buses).gas_used,
           c.transact(dep.token, "mint_batch", members, 1_000).gas_used,
           c.transact(dep.token, "permit_batch", dep.slots.address, MAX_UINT,
                      [_permit(dep, s, dep.slots.address, MAX_UINT, 0) for s in signers]).gas_used]
    assert all(g < 15_000_000 for g in gas), gas  # half of a 30 M-gas block
    assert list(c.call(dep.registry, "buses_of", members)) == buses
    assert int(c.call(dep.token, "allowance", members[-1], dep.slots.address)) == MAX_UINT
