"""MarketSlots on both engines: lifecycle, k-of-n EIP-712 endorsement, batch and claim settlement, attacks."""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from ledger_helpers import (
    ORDER_ROOT,
    assert_rejected,
    balanced_rows,
    batch_args,
    cleared_batch_slot,
    endorse,
    open_and_commit,
)

from transactive.ledger.chain.base import ChainRevert, decode_events
from transactive.ledger.messages.commitments import ME_LEAF, MINER_LEAF, SettlementTree
from transactive.ledger.messages.commitments import settlement_leaf as leaf_hash
from transactive.ledger.testing import (
    CANCELLED,
    CLEARED,
    CLOSE,
    FOR_SALE,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    SETTLED,
    Deployment,
    endorsement_typed_data,
)


def _balances(dep: Deployment, accounts: list[str]) -> list[int]:
    return [dep.chain.call(dep.token, "balanceOf", a) for a in accounts]


def test_domain_and_digest_match_the_eip712_standard(dep: Deployment) -> None:
    c = dep.chain
    root = keccak(b"result")
    typed = endorsement_typed_data(c.chain_id, dep.slots.address, 7, ORDER_ROOT, root)
    msg = encode_typed_data(full_message=typed)
    digest = keccak(b"\x19" + msg.version + msg.header + msg.body)
    assert c.call(dep.slots, "endorsement_digest", 7, ORDER_ROOT, root) == digest
    assert c.call(dep.slots, "domain_separator") == msg.header


def test_leaf_hash_matches_python(dep: Deployment) -> None:
    row = (5, dep.prosumers[0], -1234, 987_654)
    assert dep.chain.call(dep.slots, "leaf_hash", *row) == leaf_hash(row)


def test_auctioneer_rotates_over_validators(dep: Deployment) -> None:
    c = dep.chain
    validators = list(c.call(dep.registry, "validator_list"))
    assert validators == list(dep.validators)
    for slot in range(9):
        assert c.call(dep.slots, "auctioneer_of", slot) == validators[slot % len(validators)]


def test_batch_lifecycle_moves_tokens_once_and_pays_rewards(dep: Deployment) -> None:
    c = dep.chain
    slot = 6  # auctioneer validators[2]
    rows = balanced_rows(dep, slot)
    accounts = [r[1] for r in rows] + [dep.validators[2], dep.validators[3]]
    before = _balances(dep, accounts)
    supply = c.call(dep.token, "totalSupply")
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    assert auctioneer == dep.validators[2]
    assert c.call(dep.slots, "slot_state", slot) == CLOSE
    c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    assert c.call(dep.slots, "slot_state", slot) == FOR_SALE
    c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 10_000, sender=auctioneer)
    assert c.call(dep.slots, "slot_state", slot) == RESERVE_NOT_MET
    tree = SettlementTree.build(rows)
    sigs = endorse(dep, slot, tree.root, [dep.validators[3], dep.validators[0], dep.validators[1]])
    c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[3])
    assert c.call(dep.slots, "slot_state", slot) == CLEARED
    receipt = c.transact(dep.slots, "settle_batch", slot, batch_args(tree))
    assert c.call(dep.slots, "slot_state", slot) == SETTLED
    settled = decode_events(dep.slots, receipt, "SlotSettled")
    assert settled == [{"event": "SlotSettled", "slot": slot, "debits": 600_000, "credits": 588_000,
                        "auctioneer_reward": 6_000, "miner_reward": 6_000}]
    transfers = decode_events(dep.token, receipt, "Transfer")
    assert len(transfers) == 2 + 2 + 2  # two debits, two non-zero credits, two rewards
    assert sum(t["value"] for t in transfers if t["receiver"] == dep.slots.address) == 600_000
    after = _balances(dep, accounts)
    # rows: p0 -400000, p1 -200000, p2 +500000, dso +88000, p3 0, the ME row (moves nothing); rewards 1% of
    # ME = 600000 each
    expected_delta = [-400_000, -200_000, 500_000, 88_000, 0, 0, 6_000, 6_000]
    assert [a - b for a, b in zip(after, before, strict=True)] == expected_delta
    assert c.call(dep.token, "totalSupply") == supply
    assert c.call(dep.token, "balanceOf", dep.slots.address) == 0
    # settled exactly once
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, batch_args(tree)), "not CLEARED")


def test_unbalanced_settlement_is_rejected(dep: Deployment) -> None:
    slot = 1
    rows = balanced_rows(dep, slot)
    rows[3] = (slot, dep.dso, 0, 88_001)  # one micro-token too many
    tree = cleared_batch_slot(dep, slot, rows)
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree)),
                    "does not balance")


def test_rows_must_match_the_endorsed_root(dep: Deployment) -> None:
    slot = 2
    rows = balanced_rows(dep, slot)
    tree = cleared_batch_slot(dep, slot, rows)
    args = batch_args(tree)
    # swap who pays and who is paid: balanced, but not what was endorsed
    tampered = [(a, e, -m) if m != 0 and a != ME_LEAF else (a, e, m) for a, e, m in args]
    tampered_sorted = sorted(tampered, key=lambda r: leaf_hash((slot, *r)))
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, tampered_sorted),
                    "do not match")
    # a dropped row
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, args[:-1]),
                    "do not match")
    # right rows, wrong order
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, args[::-1]),
                    "not sorted")


def test_buyer_without_allowance_rejects_the_whole_batch(dep: Deployment) -> None:
    c = dep.chain
    slot = 3
    tree = cleared_batch_slot(dep, slot, balanced_rows(dep, slot))
    c.transact(dep.token, "approve", dep.slots.address, 0, sender=dep.prosumers[1])
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, batch_args(tree)))


def test_endorsement_attacks_are_rejected(dep: Deployment) -> None:
    c = dep.chain
    slot = 4
    open_and_commit(dep, slot)
    root = SettlementTree.build(balanced_rows(dep, slot)).root
    v = dep.validators
    miner = v[0]

    def submit(sigs: list[bytes], sender: str = miner, result_root: bytes = root) -> object:
        return c.transact(dep.slots, "submit_result", slot, result_root, sigs, sender=sender)

    good = endorse(dep, slot, root, v[:3])
    # too few endorsements (threshold 3)
    assert_rejected(dep, lambda: submit(good[:2]), "too few")
    # the same signer twice (replayed signature)
    assert_rejected(dep, lambda: submit([good[0], good[1], good[0]]), "duplicate")
    # a non-validator's signature (a prosumer)
    outsider = endorse(dep, slot, root, [dep.prosumers[0]])[0]
    assert_rejected(dep, lambda: submit([good[0], good[1], outsider]), "not a validator")
    # signatures over another result root
    other = endorse(dep, slot, keccak(b"other"), v[:3])
    assert_rejected(dep, lambda: submit(other), "not a validator")
    # signatures for another slot (replay across slots)
    replay = endorse(dep, slot + 4, root, v[:3])
    assert_rejected(dep, lambda: submit(replay), "not a validator")
    # a corrupted signature (flipped bit in r)
    bad = bytearray(good[2])
    bad[5] ^= 1
    assert_rejected(dep, lambda: submit([good[0], good[1], bytes(bad)]))
    # high-s (malleated) form of a valid signature
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, vv = good[2][:32], int.from_bytes(good[2][32:64], "big"), good[2][64]
    malleated = r + (n - s).to_bytes(32, "big") + bytes([55 - vv])
    assert_rejected(dep, lambda: submit([good[0], good[1], malleated]), "high-s")
    # submitted by a non-validator
    assert_rejected(dep, lambda: submit(good, sender=dep.prosumers[0]), "miner not a validator")
    # the genuine endorsement passes
    submit(good)
    assert c.call(dep.slots, "slot_state", slot) == CLEARED


def test_wrong_state_transitions_are_rejected(dep: Deployment) -> None:
    c = dep.chain
    slot = 5
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    other = next(v for v in dep.validators if v != auctioneer)
    root = keccak(b"r")
    sigs = endorse(dep, slot, root, dep.validators[:3])
    assert_rejected(
        dep, lambda: c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 1, sender=auctioneer),
                    "not FOR_SALE")
    assert_rejected(dep, lambda: c.transact(dep.slots, "submit_result", slot, root, sigs, sender=auctioneer),
                    "not RESERVE_NOT_MET")
    assert_rejected(dep, lambda: c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=other),
                    "not the auctioneer")
    assert_rejected(dep, lambda: c.transact(dep.slots, "open_slot", slot, 7, sender=auctioneer),
                    "unknown mode")
    c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    assert_rejected(dep, lambda: c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer),
                    "not CLOSE")
    assert_rejected(dep, lambda: c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 1, sender=other),
                    "not the auctioneer")
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, []), "not CLEARED")
    assert_rejected(dep, lambda: c.transact(dep.slots, "deposit_escrow", slot, 5, sender=dep.prosumers[0]),
                    "not a claims slot")


def test_open_and_commit_equals_open_slot_then_commit_orders(dep: Deployment) -> None:
    """The one-transaction open_and_commit leaves the slot record and logs the events that open_slot followed by
    commit_orders leave (slots 1 and 5 share their auctioneer, validators[1]), with the reward shares of the time."""
    c = dep.chain
    auctioneer = str(c.call(dep.slots, "auctioneer_of", 1))
    assert auctioneer == str(c.call(dep.slots, "auctioneer_of", 5)) == dep.validators[1]
    two = [c.transact(dep.slots, "open_slot", 1, MODE_BATCH, sender=auctioneer),
           c.transact(dep.slots, "commit_orders", 1, ORDER_ROOT, 77, sender=auctioneer)]
    one = c.transact(dep.slots, "open_and_commit", 5, MODE_BATCH, ORDER_ROOT, 77, sender=auctioneer)
    assert c.call(dep.slots, "slots", 5) == c.call(dep.slots, "slots", 1)
    record = c.call(dep.slots, "slots", 5)
    assert (record[0], record[1], record[2], bytes(record[4]), record[5], record[7], record[8]) == (
        RESERVE_NOT_MET, MODE_BATCH, auctioneer, ORDER_ROOT, 77, 10_000, 10_000)
    for event in ("SlotOpened", "OrdersCommitted"):
        separate = [e for r in two for e in decode_events(dep.slots, r, event)]
        combined = decode_events(dep.slots, one, event)
        assert [{**e, "slot": 5} for e in separate] == combined and len(combined) == 1
    # a claims-mode slot opened and committed at once, by the auctioneer of slot 6
    auctioneer6 = str(c.call(dep.slots, "auctioneer_of", 6))
    c.transact(dep.slots, "open_and_commit", 6, MODE_CLAIMS, ORDER_ROOT, 1, sender=auctioneer6)
    assert c.call(dep.slots, "slots", 6)[:2] == (RESERVE_NOT_MET, MODE_CLAIMS)


def test_open_and_commit_rejections_change_nothing(dep: Deployment) -> None:
    c = dep.chain
    slot = 7
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    other = next(v for v in dep.validators if v != auctioneer)

    def send(sender: str, mode: int = MODE_BATCH, root: bytes = ORDER_ROOT, at: int = slot) -> object:
        return c.transact(dep.slots, "open_and_commit", at, mode, root, 3, sender=sender)

    assert_rejected(dep, lambda: send(other), "not the auctioneer")
    assert_rejected(dep, lambda: send(dep.admin), "not the auctioneer")  # an admin opens, only the auctioneer commits
    assert_rejected(dep, lambda: send(auctioneer, mode=7), "unknown mode")
    assert_rejected(dep, lambda: send(auctioneer, root=bytes(32)), "empty order root")
    c.transact(dep.slots, "open_slot", slot, MODE_BATCH, sender=auctioneer)
    assert_rejected(dep, lambda: send(auctioneer), "not CLOSE")
    send(str(c.call(dep.slots, "auctioneer_of", 3)), at=3)
    assert_rejected(dep, lambda: send(str(c.call(dep.slots, "auctioneer_of", 3)), at=3), "not CLOSE")


def test_submit_and_settle_equals_submit_result_then_settle_batch(dep: Deployment) -> None:
    """One submit_and_settle by the miner leaves the record, balances and events that submit_result followed by
    settle_batch leave (the same rows on slots 2 and 6, which share their auctioneer)."""
    c = dep.chain
    miner = dep.validators[3]
    rewarded = [dep.validators[2], miner]

    def run(slot: int, combined: bool) -> tuple[list[int], list[Any], Any]:
        rows = balanced_rows(dep, slot)
        accounts = [r[1] for r in rows if r[1] != ME_LEAF] + rewarded
        before = _balances(dep, accounts)
        open_and_commit(dep, slot)
        tree = SettlementTree.build(rows)
        sigs = endorse(dep, slot, tree.root, dep.validators[:3])
        if combined:
            receipts = [c.transact(dep.slots, "submit_and_settle", slot, sigs, batch_args(tree), sender=miner)]
        else:
            receipts = [c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=miner),
                        c.transact(dep.slots, "settle_batch", slot, batch_args(tree))]
        events = [{**e, "slot": 0, "result_root": b""} for name in ("ResultEndorsed", "SlotSettled")
                  for r in receipts for e in decode_events(dep.slots, r, name)]
        # the transfers follow the rows' leaf-hash order, which depends on the slot
        events += sorted((e for r in receipts for e in decode_events(dep.token, r, "Transfer")),
                         key=lambda e: (e["sender"], e["receiver"], e["value"]))
        deltas = [a - b for a, b in zip(_balances(dep, accounts), before, strict=True)]
        record = c.call(dep.slots, "slots", slot)
        assert bytes(record[6]) == tree.root
        # every field but the result root (its leaves name the slot) and the blocks (cleared, dispute end)
        return deltas, events, [x for i, x in enumerate(record) if i not in (6, 10, 12)]

    two, one = run(2, False), run(6, True)
    assert two == one and one[2][0] == SETTLED
    assert one[0] == [-400_000, -200_000, 500_000, 88_000, 0, 6_000, 6_000]


def test_submit_and_settle_rejections_change_nothing(dep: Deployment) -> None:
    c = dep.chain
    slot = 1
    rows = balanced_rows(dep, slot)
    tree = SettlementTree.build(rows)
    miner = dep.validators[3]
    sigs = endorse(dep, slot, tree.root, dep.validators[:3])

    def send(signatures: list[bytes], args: list[Any], sender: str = miner) -> object:
        return c.transact(dep.slots, "submit_and_settle", slot, signatures, args, sender=sender)

    assert_rejected(dep, lambda: send(sigs, batch_args(tree)), "not RESERVE_NOT_MET")
    open_and_commit(dep, slot)
    unbalanced = SettlementTree.build([*rows[:3], (slot, dep.dso, 0, 88_001), *rows[4:]])
    assert_rejected(dep, lambda: send(endorse(dep, slot, unbalanced.root, dep.validators[:3]),
                                      batch_args(unbalanced)), "does not balance")
    other = SettlementTree.build([(slot, dep.prosumers[0], 0, -1), (slot, dep.prosumers[1], 0, 1)])
    assert_rejected(dep, lambda: send(sigs, batch_args(other)), "not a validator")  # rows other than endorsed
    assert_rejected(dep, lambda: send(sigs[:2], batch_args(tree)), "too few")
    assert_rejected(dep, lambda: send(sigs, batch_args(tree), sender=dep.prosumers[0]), "miner not a validator")
    c.transact(dep.slots, "set_dispute_window", 5)
    assert_rejected(dep, lambda: send(sigs, batch_args(tree)), "dispute window set")
    c.transact(dep.slots, "set_dispute_window", 0)
    send(sigs, batch_args(tree))
    assert c.call(dep.slots, "slot_state", slot) == SETTLED
    assert_rejected(dep, lambda: c.transact(dep.slots, "settle_batch", slot, batch_args(tree)), "not CLEARED")


def test_claims_settlement(dep: Deployment) -> None:
    c = dep.chain
    slot = 7
    p = dep.prosumers
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_CLAIMS, sender=auctioneer)
    c.transact(dep.slots, "deposit_escrow", slot, 500_000, sender=p[0])
    c.transact(dep.slots, "deposit_escrow", slot, 300_000, sender=p[1])
    c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 4, sender=auctioneer)
    rows = [
        (slot, p[0], 2_000, -400_000),
        (slot, p[1], 0, 0),
        (slot, p[2], -2_000, 380_000),
        (slot, dep.dso, 0, 20_000),
    ]
    tree = SettlementTree.build(rows)
    sigs = endorse(dep, slot, tree.root, dep.validators[1:4])
    c.transact(dep.slots, "submit_result", slot, tree.root, sigs, sender=dep.validators[1])
    before = _balances(dep, [p[0], p[1], p[2], dep.dso])

    def claim(row: tuple[int, str, int, int], proof: list[bytes] | None = None) -> object:
        return c.transact(dep.slots, "claim", *row, tree.proof(row) if proof is None else proof, sender=p[4])

    # a credit before any debit cannot be paid (the pool is empty)
    assert_rejected(dep, lambda: claim(rows[2]), "pool below credit")
    # a wrong amount does not verify
    assert_rejected(dep, lambda: claim((slot, p[2], -2_000, 480_000), tree.proof(rows[2])), "invalid proof")
    claim(rows[0])  # anyone may push p0's debit: refund 100,000 of 500,000 escrow
    assert_rejected(dep, lambda: claim(rows[0]), "already claimed")
    claim(rows[2])
    claim(rows[3])
    claim(rows[1])  # zero leaf: full refund of 300,000
    after = _balances(dep, [p[0], p[1], p[2], dep.dso])
    assert [a - b for a, b in zip(after, before, strict=True)] == [100_000, 300_000, 380_000, 20_000]
    assert c.call(dep.token, "balanceOf", dep.slots.address) == 0


def test_claims_reward_leaves_pay_auctioneer_and_miner(dep: Deployment) -> None:
    """The auctioneer's reward is in its own leaf; the MINER_LEAF (zero address) leaf pays the slot's
    miner, once; the claims pay out exactly the escrow."""
    c = dep.chain
    slot = 5
    p = dep.prosumers
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    miner = dep.validators[3]
    assert c.call(dep.slots, "MINER_LEAF") == MINER_LEAF
    c.transact(dep.slots, "open_slot", slot, MODE_CLAIMS, sender=auctioneer)
    c.transact(dep.slots, "deposit_escrow", slot, 600_000, sender=p[0])
    c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 2, sender=auctioneer)
    rows = [(slot, p[0], 2_000, -500_000), (slot, p[1], -2_000, 480_000), (slot, auctioneer, 0, 5_000),
            (slot, dep.dso, 0, 10_000), (slot, MINER_LEAF, 0, 5_000)]
    tree = SettlementTree.build(rows)
    c.transact(dep.slots, "submit_result", slot, tree.root, endorse(dep, slot, tree.root, dep.validators[:3]),
               sender=miner)
    watched = [p[0], p[1], auctioneer, dep.dso, miner]
    before = _balances(dep, watched)
    for row in rows:
        c.transact(dep.slots, "claim", *row, tree.proof(row), sender=p[4])
    after = _balances(dep, watched)
    assert [a - b for a, b in zip(after, before, strict=True)] == [100_000, 480_000, 5_000, 10_000, 5_000]
    assert sum(after) - sum(before) == 600_000  # the escrow, all of it
    assert c.call(dep.token, "balanceOf", dep.slots.address) == 0
    assert_rejected(dep, lambda: c.transact(dep.slots, "claim", *rows[4], tree.proof(rows[4])), "already claimed")


def test_claim_cannot_exceed_escrow(dep: Deployment) -> None:
    c = dep.chain
    slot = 0
    p = dep.prosumers
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_CLAIMS, sender=auctioneer)
    c.transact(dep.slots, "deposit_escrow", slot, 100, sender=p[0])
    c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 2, sender=auctioneer)
    rows = [(slot, p[0], 1, -101), (slot, p[1], -1, 101)]
    tree = SettlementTree.build(rows)
    c.transact(dep.slots, "submit_result", slot, tree.root, endorse(dep, slot, tree.root, dep.validators[:3]),
               sender=dep.validators[0])
    assert_rejected(dep, lambda: c.transact(dep.slots, "claim", *rows[0], tree.proof(rows[0])),
                    "escrow below")


def test_reward_shares_admin_only_and_bounded(dep: Deployment) -> None:
    c = dep.chain
    assert_rejected(dep, lambda: c.transact(dep.slots, "set_rewards", 1, 1, sender=dep.prosumers[0]),
                    "not admin")
    assert_rejected(dep, lambda: c.transact(dep.slots, "set_rewards", 600_000, 400_001), "exceed")
    c.transact(dep.slots, "set_rewards", 25_000, 0)
    assert c.call(dep.slots, "auctioneer_ppm") == 25_000


def test_overflowing_amount_is_rejected(dep: Deployment) -> None:
    slot = 2
    big = 2**255 - 1
    rows = [(slot, dep.prosumers[0], 0, -big), (slot, dep.prosumers[1], 0, big)]
    tree = cleared_batch_slot(dep, slot, rows)
    # the rewards' product D * ppm overflows uint256: checked arithmetic reverts
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree)))


def test_int256_min_amount_is_rejected(dep: Deployment) -> None:
    slot = 3
    rows = [(slot, dep.prosumers[0], 0, -(2**255)), (slot, dep.prosumers[1], 0, 1)]
    tree = cleared_batch_slot(dep, slot, rows)
    assert_rejected(dep, lambda: dep.chain.transact(dep.slots, "settle_batch", slot, batch_args(tree)))


def test_rejected_call_raises_chain_revert_type(dep: Deployment) -> None:
    try:
        dep.chain.transact(dep.slots, "commit_orders", 99, ORDER_ROOT, 1)
    except ChainRevert as exc:
        assert "not FOR_SALE" in exc.reason
    else:  # pragma: no cover
        raise AssertionError("expected a revert")


def test_cancelled_slot_refunds_escrow(dep: Deployment) -> None:
    c = dep.chain
    slot = 6
    p = dep.prosumers
    auctioneer = str(c.call(dep.slots, "auctioneer_of", slot))
    c.transact(dep.slots, "open_slot", slot, MODE_CLAIMS, sender=auctioneer)
    before = c.call(dep.token, "balanceOf", p[0])
    c.transact(dep.slots, "deposit_escrow", slot, 250_000, sender=p[0])
    c.transact(dep.slots, "commit_orders", slot, ORDER_ROOT, 1, sender=auctioneer)
    assert_rejected(dep, lambda: c.transact(dep.slots, "withdraw_escrow", slot, sender=p[0]), "not CANCELLED")
    assert_rejected(dep, lambda: c.transact(dep.slots, "cancel_slot", slot, sender=auctioneer), "not admin")
    c.transact(dep.slots, "cancel_slot", slot)
    assert c.call(dep.slots, "slot_state", slot) == CANCELLED
    c.transact(dep.slots, "withdraw_escrow", slot, sender=p[0])
    assert c.call(dep.token, "balanceOf", p[0]) == before
    assert_rejected(dep, lambda: c.transact(dep.slots, "withdraw_escrow", slot, sender=p[0]), "no escrow")
    # an endorsed slot cannot be cancelled
    tree = cleared_batch_slot(dep, 7, balanced_rows(dep, 7))
    assert tree.root == c.call(dep.slots, "slots", 7)[6]
    assert_rejected(dep, lambda: c.transact(dep.slots, "cancel_slot", 7), "only an open")
