"""Write-ahead transaction intents on a JSON-RPC node (hardhat with automine off, as a QBFT network with a block
period): a process killed right after broadcasting a transaction leaves it in the node's pool; whoever resumes
waits for it (bounded), or broadcasts the same signed transaction again when the node lost it, or closes it
``dropped`` when its nonce was taken: never mined twice, never lost."""

from __future__ import annotations

import secrets

import pytest

from chain_support import Died, PoolNode, hardhat_url  # noqa: F401 - fixture
from transactive.ledger.chain.rpc import RpcError
from transactive.store import SqlStore, open_store


def _payee() -> str:
    return "0x" + secrets.token_hex(20)


def _killed_while_pooled(url: str, store: SqlStore, payee: str, wei: int) -> str:
    dying = PoolNode(url, die_after="send_value")
    dying.use_journal(store)
    with pytest.raises(Died):
        dying.send_value(payee, wei)
    assert dying.died_with is not None and dying.pending(dying.died_with)
    (intent,) = store.open_tx_intents(dying.chain_id)
    assert intent.tx_hash == dying.died_with and intent.step == "send_value"  # written before the broadcast
    return intent.tx_hash


def _resumed(url: str, store: SqlStore, **kw: int) -> PoolNode:
    chain = PoolNode(url, **kw)
    chain.use_journal(store)
    return chain


def test_a_pooled_transaction_is_waited_for_on_resume(hardhat_url: str) -> None:  # noqa: F811
    store, payee = open_store(url="sqlite://"), _payee()
    tx_hash = _killed_while_pooled(hardhat_url, store, payee, 5)
    chain = _resumed(hardhat_url, store)
    assert chain.balance(payee) == 0
    (closed,) = chain.reconcile()
    assert (closed.tx_hash, closed.state) == (tx_hash, "mined")
    assert chain.balance(payee) == 5 and chain.reconcile() == []
    chain.send_value(payee, 1)  # the sender's next nonce follows it
    assert chain.balance(payee) == 6


def test_still_pooled_after_the_bound_the_resume_fails_and_sends_nothing(hardhat_url: str) -> None:  # noqa: F811
    store, payee = open_store(url="sqlite://"), _payee()
    tx_hash = _killed_while_pooled(hardhat_url, store, payee, 5)
    chain = _resumed(hardhat_url, store, polls_per_block=10**9)  # no block is mined
    chain.pending_wait_s = 0.2
    with pytest.raises(RpcError, match="not mined"):
        chain.reconcile()
    assert [i.tx_hash for i in store.open_tx_intents(chain.chain_id)] == [tx_hash] and chain.pending(tx_hash)
    chain.mine()  # the next block
    assert [i.state for i in chain.reconcile()] == ["mined"] and chain.balance(payee) == 5


def test_a_transaction_the_node_lost_is_broadcast_again_as_signed(hardhat_url: str) -> None:  # noqa: F811
    store, payee = open_store(url="sqlite://"), _payee()
    tx_hash = _killed_while_pooled(hardhat_url, store, payee, 5)
    chain = _resumed(hardhat_url, store)
    assert chain._rpc("hardhat_dropTransaction", [tx_hash])  # e.g. a node restarted without its pool
    assert chain._rpc("eth_getTransactionByHash", [tx_hash]) is None
    (closed,) = chain.reconcile()
    assert (closed.tx_hash, closed.state) == (tx_hash, "mined")  # the same hash: the same signed transaction
    assert chain.balance(payee) == 5


def test_a_lost_transaction_whose_nonce_was_taken_is_dropped(hardhat_url: str) -> None:  # noqa: F811
    store, payee = open_store(url="sqlite://"), _payee()
    tx_hash = _killed_while_pooled(hardhat_url, store, payee, 5)
    chain = _resumed(hardhat_url, store)
    assert chain._rpc("hardhat_dropTransaction", [tx_hash])
    chain.use_journal(None)
    chain.send_value(payee, 2)  # another transaction at the same nonce (sent without the journal)
    chain.use_journal(store)
    (closed,) = chain.reconcile()
    assert closed.state == "dropped" and chain.balance(payee) == 2
