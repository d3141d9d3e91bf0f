"""Proof of Clearance on the embedded chain: k-of-n endorsement of recomputed slot results (seed 001 Fig. 4)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactive.crypto.signing import Signer, new_private_key
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import ChainRevert
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import Validator, collect, domain_of, miner_order, recompute, run_slot
from transactive.ledger.messages.commitments import ResultEntry, RewardShares, result_tree
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import CLEARED, Deployment, deploy_suite

K = 3


@pytest.fixture(scope="module")
def suite(local_engine: str) -> Iterator[Deployment]:
    chain = open_local_chain(engine=local_engine)
    try:
        yield deploy_suite(chain)
    finally:
        chain.close()


@pytest.fixture
def dep(suite: Deployment) -> Iterator[Deployment]:
    snap = suite.chain.snapshot()
    yield suite
    suite.chain.revert(snap)


class Tamperer(Validator):
    """A dishonest validator: credits its accomplice one extra token (the root it signs is wrong)."""

    def solve(self, batch: SlotBatch, rewards: RewardShares | None = None) -> tuple[ResultEntry, ...]:
        honest = super().solve(batch, rewards)
        first = honest[0]
        return (ResultEntry(first.account, first.energy_wh, first.amount_micro + 1_000_000), *honest[1:])


def validators(dep: Deployment, dishonest: int = 0) -> list[Validator]:
    keys = [dep.chain.private_key(v) for v in dep.validators]
    return [Tamperer(k) if i < dishonest else Validator(k) for i, k in enumerate(keys)]


def small_batch(dep: Deployment, slot: int) -> SlotBatch:
    """Seller p0 offers 2 kWh at 0.10 tokens/kWh, buyer p1 bids 2 kWh at 0.20: uniform price 0.15 (the
    midpoint of the marginal prices), so p0 receives 0.30 tokens and p1 pays 0.30."""
    domain = domain_of(dep.chain, dep.slots)
    s, b = (Signer(dep.chain.private_key(a)) for a in dep.prosumers[:2])
    orders = (
        sign_order(s, OrderMessage(s.address, slot, 0, 2_000, 100_000, 0), domain),
        sign_order(b, OrderMessage(b.address, slot, 1, 2_000, 200_000, 0), domain),
    )
    return SlotBatch(domain, slot, orders, mechanism="uniform", params={})


def random_batch(dep: Deployment, slot: int, n: int, seed: int) -> SlotBatch:
    rng = random.Random(seed)
    domain = domain_of(dep.chain, dep.slots)
    orders = []
    for j in range(n):  # one order per trader: uniform takes single blocks
        s = Signer(new_private_key(rng))
        msg = OrderMessage(s.address, slot, rng.randint(0, 1), rng.randint(1, 5_000), rng.randint(50_000, 300_000), j)
        orders.append(sign_order(s, msg, domain))
    return SlotBatch(domain, slot, tuple(orders), mechanism="uniform", params={})


def test_honest_k_of_n_slot_accepted_on_chain(dep: Deployment) -> None:
    slot = 6  # auctioneer validators[6 % 4] = validators[2]
    vs = validators(dep)
    final, collected, miner = run_slot(dep.chain, dep.slots, small_batch(dep, slot), vs, k=K)
    p0, p1 = dep.prosumers[:2]
    # p1 pays 0.30 tokens and p0 receives them: settled as cleared; uniform has no reward term (seed 001's
    # rewards are VCG's), so deploy_suite's 1 % shares pay nothing and no fund or ME row is needed
    assert set(final.results) == {ResultEntry(p0, 2_000, 300_000), ResultEntry(p1, -2_000, -300_000)}
    assert collected.dissenters == () and len(collected.signers) == 4
    assert miner == dep.validators[3]  # the first submitter after the auctioneer wins
    on_chain = dep.chain.call(dep.slots, "slots", slot)
    assert on_chain[0] == CLEARED
    assert on_chain[2] == dep.validators[2] and on_chain[3] == miner
    assert on_chain[4] == final.order_root and on_chain[6] == result_tree(slot, final.results).root
    # the archived batch round-trips with its roots and endorsements
    assert SlotBatch.from_json(final.to_json()) == final


def test_dishonest_validator_is_detected_and_outvoted(dep: Deployment) -> None:
    slot = 7
    final, collected, _ = run_slot(dep.chain, dep.slots, small_batch(dep, slot), validators(dep, 1), k=K)
    assert collected.dissenters == (dep.validators[0],)
    assert dep.validators[0] not in collected.signers and len(collected.signers) == 3
    assert dep.chain.call(dep.slots, "slots", slot)[6] == recompute_root(final)


SUITE_SHARES = RewardShares(10_000, 10_000)  # deploy_suite's X^A = X^M = 1%


def recompute_root(batch: SlotBatch, rewards: RewardShares | None = SUITE_SHARES) -> bytes:
    """The root an honest validator computes (batch mode at deploy_suite's 1% + 1% by default)."""
    return result_tree(batch.slot, recompute(batch, rewards=rewards)).root


def test_chain_rejects_result_with_fewer_than_k_honest_signatures(dep: Deployment) -> None:
    slot = 9
    batch = small_batch(dep, slot)
    vs = validators(dep, dishonest=2)  # two colluders sign the same tampered root
    auctioneer = dep.validators[slot % 4]
    dep.chain.transact(dep.slots, "open_slot", slot, 1, sender=auctioneer)
    dep.chain.transact(dep.slots, "commit_orders", slot, batch.order_root, 2, sender=auctioneer)
    answers = [v.endorse(batch) for v in vs]
    collected = collect(batch, answers, validators=dep.validators, k=K)
    assert not collected.accepted  # 2 vs 2: no root reaches k = 3
    bad_root, good_root = answers[0].result_root, answers[2].result_root
    assert bad_root == answers[1].result_root != good_root == answers[3].result_root
    # the colluders' two signatures plus an honest one for the honest root cannot carry the tampered root
    for sigs in ([answers[0].signature, answers[1].signature],
                 [answers[0].signature, answers[1].signature, answers[2].signature]):
        with pytest.raises(ChainRevert):
            dep.chain.transact(dep.slots, "submit_result", slot, bad_root, sigs, sender=dep.validators[3])
    # nor can the two honest signatures carry the honest root
    with pytest.raises(ChainRevert):
        dep.chain.transact(dep.slots, "submit_result", slot, good_root,
                           [answers[2].signature, answers[3].signature], sender=dep.validators[3])
    assert dep.chain.call(dep.slots, "slots", slot)[6] == bytes(32)


def test_two_validators_compute_byte_identical_roots(dep: Deployment) -> None:
    batch = random_batch(dep, 11, 300, seed=5)
    a, b = (v.endorse(batch) for v in validators(dep)[:2])
    assert a.result_root == b.result_root and a.results == b.results
    # from the JSON document alone (a third party) too
    again = SlotBatch.from_json(batch.to_json())
    assert recompute_root(again, None) == a.result_root
    # the result is not trivially empty: the random book crosses
    assert any(e.energy_wh != 0 for e in a.results)


def test_colluding_k_validators_are_caught_by_the_audit(dep: Deployment, tmp_path: Path) -> None:
    """k = 3 colluders can finalise a wrong root on chain (the contract only counts signatures), but the
    audit recomputes the slot and names the tampered account."""
    slot = 13
    final, collected, _ = run_slot(dep.chain, dep.slots, small_batch(dep, slot), validators(dep, 3), k=K)
    assert collected.dissenters == (dep.validators[3],)
    archive = SlotArchive(tmp_path)
    archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
    archive.record_mint(10 * 1_000 * 10**6)  # what deploy_suite minted
    archive.save(final)
    found = verify_archive(tmp_path, chain=dep.chain)
    assert found is not None and (found.slot, found.what) == (slot, f"result {dep.prosumers[0]}")
    assert found.expected == "(energyWh 2000, amountMicro 300000) (recomputed)"  # the clearing's 0.30 tokens
    assert found.found == "(energyWh 2000, amountMicro 1300000) (stored)"


def test_a_dissenter_after_the_auctioneer_does_not_mine_and_is_not_a_candidate(dep: Deployment) -> None:
    """Slot 8: auctioneer validators[0]; validators[1] (a Tamperer) would be the first submitter but
    dissents, so validators[2] mines; the dissenter is not among the candidates at all (SEED-NOTES §7)."""
    slot = 8
    keys = [dep.chain.private_key(v) for v in dep.validators]
    vs = [Tamperer(k) if i == 1 else Validator(k) for i, k in enumerate(keys)]
    final, collected, miner = run_slot(dep.chain, dep.slots, small_batch(dep, slot), vs, k=K)
    assert collected.dissenters == (dep.validators[1],)
    assert miner == dep.validators[2] == dep.chain.call(dep.slots, "slots", slot)[3]
    assert miner_order(slot, dep.validators, collected) == [dep.validators[2], dep.validators[3], dep.validators[0]]
    assert dep.chain.call(dep.slots, "slots", slot)[6] == recompute_root(final)
