"""Who may become a slot's miner (seed 001 Fig. 4, SEED-NOTES §7): only validators that endorsed the accepted
root, in list order after the auctioneer; a dissenter or a silent validator never submits. One rule for the
simulated day (``run_slot``), the networked validators and the service's desk (``endorse_and_submit``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.ledger.clearance.protocol import Validator, collect_roots, miner_order

DOMAIN = Domain(chain_id=7, verifying_contract="0x" + "22" * 20)
KEYS = [bytes([0] * 31 + [k + 1]) for k in range(7)]
VALIDATORS = [Validator(k) for k in KEYS]
ORDER_ROOT, GOOD, BAD = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 7), slot=st.integers(0, 10**6), data=st.data())
def test_only_endorsers_of_the_accepted_root_mine_after_the_auctioneer(n: int, slot: int, data: st.DataObject) -> None:
    vs = VALIDATORS[:n]
    addresses = [v.address for v in vs]
    # each validator: 0 silent, 1 endorses the good root, 2 dissents (signs another root)
    kinds = data.draw(st.lists(st.sampled_from([0, 1, 2]), min_size=n, max_size=n))
    if kinds.count(2) >= kinds.count(1):  # the good root must have the most signatures: fewer dissenters
        kinds = [1 if kind == 2 else kind for kind in kinds] if 1 not in kinds else [
            0 if kind == 2 and j % 2 else kind for j, kind in enumerate(kinds)]
        if kinds.count(2) >= kinds.count(1):
            kinds = [1 if kind == 2 else kind for kind in kinds]
        if 1 not in kinds:
            kinds[0] = 1
    k = data.draw(st.integers(1, kinds.count(1)))
    answers = [v.sign_root(DOMAIN, slot, ORDER_ROOT, GOOD if kind == 1 else BAD)
               for v, kind in zip(vs, kinds, strict=True) if kind]
    collected = collect_roots(DOMAIN, slot, ORDER_ROOT, answers, validators=addresses, k=k)
    assert collected.result_root == GOOD
    order = miner_order(slot, addresses, collected)
    # brute force: walk the ring from the auctioneer's successor, keep who signed the good root
    expected = [addresses[(slot + 1 + j) % n] for j in range(n) if kinds[(slot + 1 + j) % n] == 1]
    assert order == expected
    dissenters = {a for a, kind in zip(addresses, kinds, strict=True) if kind == 2}
    assert set(collected.dissenters) == dissenters and not dissenters & set(order)


def test_a_dissenter_next_after_the_auctioneer_is_skipped() -> None:
    addresses = [v.address for v in VALIDATORS[:4]]
    slot = 5  # auctioneer validators[1]; validators[2] dissents, so validators[3] mines, then 0 and 1
    answers = [VALIDATORS[i].sign_root(DOMAIN, slot, ORDER_ROOT, BAD if i == 2 else GOOD) for i in range(4)]
    collected = collect_roots(DOMAIN, slot, ORDER_ROOT, answers, validators=addresses, k=3)
    assert collected.dissenters == (addresses[2],)
    assert miner_order(slot, addresses, collected) == [addresses[3], addresses[0], addresses[1]]
