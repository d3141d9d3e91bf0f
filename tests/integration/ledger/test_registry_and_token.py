"""Registry (roles, validator set, threshold) and EnergyToken (member-only ERC-20) on both engines."""

from __future__ import annotations

from ledger_helpers import assert_rejected

from transactive.ledger.testing import ROLE_ADMIN, ROLE_DSO, ROLE_PROSUMER, ROLE_VALIDATOR, Deployment, bus

OUTSIDER = "0x000000000000000000000000000000000000dEaD"


def test_roles_and_buses(dep: Deployment) -> None:
    c = dep.chain
    assert c.call(dep.registry, "has_role", dep.admin, ROLE_ADMIN)
    assert c.call(dep.registry, "has_role", dep.dso, ROLE_DSO)
    assert not c.call(dep.registry, "has_role", dep.dso, ROLE_DSO | ROLE_ADMIN)
    assert c.call(dep.registry, "bus", dep.prosumers[2]) == bus("bus-3")
    assert c.call(dep.registry, "is_member", dep.prosumers[0])
    assert not c.call(dep.registry, "is_member", OUTSIDER)
    assert c.call(dep.registry, "validator_count") == 4
    assert c.call(dep.registry, "threshold") == 3


def test_admin_only_actions(dep: Deployment) -> None:
    c = dep.chain
    p = dep.prosumers[0]
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_member", p, ROLE_ADMIN, bus("x"), sender=p),
                    "not admin")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_threshold", 1, sender=p), "not admin")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_member", p, 64, bus("x")), "unknown role")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_member", dep.admin, ROLE_PROSUMER, bus("x")),
                    "own admin role")


def test_threshold_bounds_and_validator_removal(dep: Deployment) -> None:
    c = dep.chain
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_threshold", 0), "out of range")
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_threshold", 5), "out of range")
    c.transact(dep.registry, "set_threshold", 4)
    v0 = dep.validators[0]
    assert_rejected(dep, lambda: c.transact(dep.registry, "set_member", v0, ROLE_PROSUMER, bus("b")),
                    "lower the threshold")
    c.transact(dep.registry, "set_threshold", 3)
    c.transact(dep.registry, "set_member", v0, ROLE_PROSUMER, bus("b"))
    remaining = list(c.call(dep.registry, "validator_list"))
    assert sorted(remaining) == sorted(dep.validators[1:])
    assert not c.call(dep.registry, "is_validator", v0)
    # adding back appends it
    c.transact(dep.registry, "set_member", v0, ROLE_PROSUMER | ROLE_VALIDATOR, bus("b"))
    assert list(c.call(dep.registry, "validator_list"))[-1] == v0


def test_member_transfer_and_allowance(dep: Deployment) -> None:
    c = dep.chain
    a, b = dep.prosumers[0], dep.prosumers[1]
    before = (c.call(dep.token, "balanceOf", a), c.call(dep.token, "balanceOf", b))
    c.transact(dep.token, "transfer", b, 1_234, sender=a)
    assert c.call(dep.token, "balanceOf", a) == before[0] - 1_234
    assert c.call(dep.token, "balanceOf", b) == before[1] + 1_234
    c.transact(dep.token, "approve", dep.prosumers[2], 100, sender=a)
    c.transact(dep.token, "transferFrom", a, b, 60, sender=dep.prosumers[2])
    assert c.call(dep.token, "allowance", a, dep.prosumers[2]) == 40
    assert_rejected(dep, lambda: c.transact(dep.token, "transferFrom", a, b, 41, sender=dep.prosumers[2]))


def test_non_member_transfers_are_rejected(dep: Deployment) -> None:
    c = dep.chain
    a = dep.prosumers[0]
    assert_rejected(dep, lambda: c.transact(dep.token, "transfer", OUTSIDER, 1, sender=a),
                    "receiver not a member")
    # a revoked member's balance is frozen
    c.transact(dep.registry, "set_member", a, 0, bus(""))
    assert_rejected(dep, lambda: c.transact(dep.token, "transfer", dep.prosumers[1], 1, sender=a),
                    "sender not a member")


def test_mint_and_burn_admin_only(dep: Deployment) -> None:
    c = dep.chain
    p = dep.prosumers[0]
    supply = c.call(dep.token, "totalSupply")
    assert_rejected(dep, lambda: c.transact(dep.token, "mint", p, 5, sender=p), "not admin")
    assert_rejected(dep, lambda: c.transact(dep.token, "mint", OUTSIDER, 5), "not a member")
    c.transact(dep.token, "mint", p, 5)
    c.transact(dep.token, "burn", p, 2)
    assert c.call(dep.token, "totalSupply") == supply + 3


def test_overflow_and_underflow_are_rejected(dep: Deployment) -> None:
    c = dep.chain
    a, b = dep.prosumers[0], dep.prosumers[1]
    balance = c.call(dep.token, "balanceOf", a)
    assert_rejected(dep, lambda: c.transact(dep.token, "transfer", b, balance + 1, sender=a))
    assert_rejected(dep, lambda: c.transact(dep.token, "burn", a, balance + 1))
    assert_rejected(dep, lambda: c.transact(dep.token, "mint", a, 2**256 - 1))
