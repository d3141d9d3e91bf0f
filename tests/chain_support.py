"""A hardhat node that mines like a QBFT network with a block period (automine off: a sent transaction waits in
the pool until the next block), with blocks mined deterministically, and a process that dies right after it
broadcast a transaction (before it is mined). Import the fixture into a test module
(``from chain_support import hardhat_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from transactive.ledger.chain.base import Contract, Receipt
from transactive.ledger.chain.rpc import RpcChain
from transactive.ledger.testing import HardhatNode, node_unavailable_reason


class Died(Exception):
    """The process 'dies' here."""


@pytest.fixture(scope="module")
def hardhat_url() -> Iterator[str]:
    reason = node_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    node = HardhatNode().start()
    try:
        yield node.url
    finally:
        node.stop()


class PoolNode(RpcChain):
    """An :class:`RpcChain` on a hardhat node with automine off. A block (with every pooled transaction) is mined
    right after this client broadcasts a transaction, and after it has found a receipt missing
    ``polls_per_block`` times (a block period passing), so the tests never depend on timing.

    ``die_after``: the step (a contract function, ``send_value``) after whose broadcast the process dies
    (:class:`Died`, once), leaving the transaction in the pool, unmined; :attr:`died_with` is its hash."""

    def __init__(self, url: str, *, die_after: str | None = None, polls_per_block: int = 3) -> None:
        self.die_after, self.polls_per_block = die_after, polls_per_block
        self.died_with: str | None = None
        self._step: str | None = None
        self._polls = 0
        super().__init__(url)
        self._rpc("evm_setAutomine", [False])

    def mine(self) -> None:
        self._polls = 0
        super()._rpc("evm_mine", [])

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Receipt:
        self._step = fn
        try:
            return super().transact(contract, fn, *args, sender=sender)
        finally:
            self._step = None

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Receipt:
        self._step = "send_value"
        try:
            return super().send_value(to, wei, sender)
        finally:
            self._step = None

    def _rpc(self, method: str, params: list[Any]) -> Any:
        out = super()._rpc(method, params)
        if method == "eth_sendRawTransaction":
            if self.die_after is not None and self._step == self.die_after:
                self.die_after, self.died_with = None, str(out)
                raise Died(f"right after broadcasting {self._step}")
            self.mine()
        elif method == "eth_getTransactionReceipt" and out is None:
            self._polls += 1
            if self._polls >= self.polls_per_block:
                self.mine()
        return out

    def pending(self, tx_hash: str) -> bool:
        """Whether ``tx_hash`` waits in the node's pool (known, not mined)."""
        tx = super()._rpc("eth_getTransactionByHash", [tx_hash])
        return tx is not None and tx.get("blockNumber") is None
