"""The chain seam's history reads, on both engines: ``call(..., block=N)`` answers with the state after block N,
``logs(contract, event)`` lists a contract's events with their block numbers (what ``ledger verify`` uses to
enumerate slots and mints and to read the Registry in force when a slot cleared)."""

from __future__ import annotations

from ledger_helpers import open_and_commit

from transactive.ledger.testing import Deployment


def test_call_at_a_past_block_sees_the_old_state(dep: Deployment) -> None:
    chain = dep.chain
    before = int(chain.call(dep.registry, "threshold"))
    block = chain.block_number()
    chain.transact(dep.registry, "set_threshold", before - 1, sender=dep.admin)
    assert int(chain.call(dep.registry, "threshold")) == before - 1
    assert int(chain.call(dep.registry, "threshold", block=block)) == before
    assert int(chain.call(dep.registry, "threshold", block=chain.block_number())) == before - 1


def test_logs_list_events_with_their_blocks(dep: Deployment) -> None:
    chain = dep.chain
    start = chain.block_number() + 1
    open_and_commit(dep, 41)
    open_and_commit(dep, 43)
    opened = chain.logs(dep.slots, "SlotOpened", from_block=start)
    assert [int(e["slot"]) for e in opened] == [41, 43]
    assert all(start <= e["blockNumber"] <= chain.block_number() for e in opened)
    assert opened[0]["blockNumber"] < opened[1]["blockNumber"]
    minted = chain.logs(dep.token, "Transfer")  # deploy_suite's mints, from the zero address
    assert minted and all(int(e["sender"], 16) == 0 for e in minted[:3])
