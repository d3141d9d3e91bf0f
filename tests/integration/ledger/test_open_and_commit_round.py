"""clearance.protocol's round on both engines: a fresh slot is opened and committed by one
MarketSlots.open_and_commit transaction without reading the slot first; a round resumed at any later state
(opened only, committed, cleared) reads the state and sends only what is missing; a claims-mode round with
an escrow step between open and commit still takes the two calls; ``submit`` with rows submits and settles in
one transaction, and falls back to ``submit_result`` alone while a dispute window is set."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_helpers import ORDER_ROOT, balanced_rows, endorse

from transactive.ledger.chain.base import Chain
from transactive.ledger.clearance.protocol import (
    ClearanceError,
    Collected,
    open_and_commit,
    settled_by,
    settlement_rows,
    submit,
)
from transactive.ledger.messages.commitments import ResultEntry, result_tree
from transactive.ledger.testing import CLEARED, FOR_SALE, MODE_BATCH, MODE_CLAIMS, RESERVE_NOT_MET, SETTLED, Deployment


class Counting:
    """The deployment's chain, counting ``slots`` reads and naming every transaction sent."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.reads = 0
        self.sent: list[str] = []

    def call(self, contract: Any, fn: str, *args: Any, **kw: Any) -> Any:
        self.reads += fn == "slots"
        return self.chain.call(contract, fn, *args, **kw)

    def transact(self, contract: Any, fn: str, *args: Any, **kw: Any) -> Any:
        receipt = self.chain.transact(contract, fn, *args, **kw)
        self.sent.append(fn)
        return receipt


def _round(dep: Deployment, slot: int, mode: int = MODE_BATCH, **kw: Any) -> tuple[int, Counting, list[str]]:
    counting = Counting(dep.chain)
    told: list[str] = []
    auctioneer = str(dep.chain.call(dep.slots, "auctioneer_of", slot))
    chain: Any = counting  # the Chain methods open_and_commit uses
    state = open_and_commit(chain, dep.slots, slot, mode=mode, order_root=ORDER_ROOT, count=9, auctioneer=auctioneer,
                            sent=lambda step, _: told.append(step), **kw)
    return state, counting, told


def test_a_fresh_slot_takes_one_transaction_and_no_read(dep: Deployment) -> None:
    state, counting, told = _round(dep, 8)
    assert (state, counting.reads, counting.sent, told) == (RESERVE_NOT_MET, 0, ["open_and_commit"],
                                                            ["open_and_commit"])
    record = dep.chain.call(dep.slots, "slots", 8)
    assert (record[0], record[1], bytes(record[4]), record[5]) == (RESERVE_NOT_MET, MODE_BATCH, ORDER_ROOT, 9)


def test_a_resumed_round_sends_only_what_is_missing(dep: Deployment) -> None:
    c = dep.chain
    auctioneer = str(c.call(dep.slots, "auctioneer_of", 9))
    c.transact(dep.slots, "open_slot", 9, MODE_BATCH, sender=auctioneer)  # stopped after opening
    state, counting, told = _round(dep, 9)
    assert (state, counting.reads, told) == (RESERVE_NOT_MET, 2, ["commit_orders"])  # state, then the mode check
    state, counting, told = _round(dep, 9)  # committed already: nothing to send
    assert (state, counting.sent) == (RESERVE_NOT_MET, [])
    c.transact(dep.slots, "open_slot", 10, MODE_CLAIMS, sender=str(c.call(dep.slots, "auctioneer_of", 10)))
    with pytest.raises(ClearanceError, match="already open in mode 2"):  # opened in another mode
        _round(dep, 10)


def test_a_claims_round_with_escrow_takes_the_two_calls(dep: Deployment) -> None:
    escrowed: list[int] = []

    def escrow() -> None:  # runs while the slot is FOR_SALE
        escrowed.append(int(dep.chain.call(dep.slots, "slots", 11)[0]))

    state, _, told = _round(dep, 11, MODE_CLAIMS, before_commit=escrow)
    assert (state, escrowed, told) == (RESERVE_NOT_MET, [FOR_SALE], ["open_slot", "commit_orders"])


@pytest.mark.parametrize("window", [0, 3])
def test_submit_with_rows_settles_at_once_unless_a_dispute_window_is_set(dep: Deployment, window: int) -> None:
    c = dep.chain
    slot = 12
    entries = [ResultEntry(a, e, m) for _, a, e, m in balanced_rows(dep, slot)]
    root = result_tree(slot, entries).root
    c.transact(dep.slots, "set_dispute_window", window)
    _round(dep, slot)
    signers = dep.validators[:3]
    collected = Collected(slot, ORDER_ROOT, root, tuple(entries), tuple(signers),
                          tuple(endorse(dep, slot, root, signers)), ())
    miner, receipt = submit(c, dep.slots, collected, [dep.validators[3], *signers], 3,
                            rows=settlement_rows(slot, entries))
    record = c.call(dep.slots, "slots", slot)
    assert (miner, record[3], bytes(record[6])) == (dep.validators[3], dep.validators[3], root)
    assert settled_by(dep.slots, receipt) == (window == 0)
    assert record[0] == (SETTLED if window == 0 else CLEARED)
