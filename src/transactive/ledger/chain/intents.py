"""Write-ahead transaction intents: a signed transaction is recorded durably before it is sent, so that a process
killed at any point of a send never loses nor doubles it (``docs/deployment.md``, "A crash at each step").

A :class:`~transactive.ledger.chain.base.KeyedSender` engine given a :class:`TxJournal` (the SQL store) writes
a :class:`TxIntent` (sender, nonce, the signed raw transaction and its hash, the contract function and the
on-chain slot it acts on) before it hands the transaction to the node, and closes it with its outcome once it
has the receipt. Whoever next takes the chain-writer lock reconciles every intent still open
(:meth:`~transactive.ledger.chain.base.KeyedSender.reconcile`) before it reads the chain to decide what to send:

* mined: its receipt's outcome is recorded (``mined`` or ``reverted``);
* in the node's pool (pending): waited for, bounded (still pending after the bound: the step fails and is
  retried, nothing else is sent meanwhile);
* unknown to the node: the same signed raw transaction is broadcast again (same sender, nonce and hash, so it
  can be mined at most once), then waited for; if its nonce is taken by another transaction it can never be
  mined and is closed ``dropped``.

Import-light (no chain engine): the store imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

IntentState = Literal["open", "mined", "reverted", "refused", "dropped"]
INTENT_STATES: tuple[IntentState, ...] = ("open", "mined", "reverted", "refused", "dropped")
# mined: on chain and succeeded; reverted: on chain, reverted (its nonce is used); refused: the engine rejected it
# without mining it (the embedded chain's revert); dropped: never mined, its nonce taken by another transaction


@dataclass(frozen=True)
class TxIntent:
    """A signed transaction recorded before it is sent.

    ``tx_hash`` and ``raw_tx`` are ``0x`` hex; ``step`` is the contract function called (``deploy:<Contract>``
    for a deployment, ``send_value`` for an ether transfer); ``slot`` the on-chain slot number (decimal) when the
    function's first argument is ``slot`` (MarketSlots' steps), else None; ``block_number`` once mined."""

    chain_id: int
    tx_hash: str
    sender: str
    nonce: int
    raw_tx: str
    step: str
    slot: str | None = None
    state: IntentState = "open"
    block_number: int | None = None
    created_at: str = ""
    updated_at: str = ""


class TxJournal(Protocol):
    """Where a chain engine writes its intents (:class:`transactive.store.SqlStore`). Every write is durable when
    it returns."""

    def put_tx_intent(self, intent: TxIntent) -> None:
        """Record ``intent`` (state ``open``)."""
        ...

    def close_tx_intent(self, tx_hash: str, state: IntentState, block_number: int | None) -> None:
        """Record the outcome of the intent ``tx_hash``."""
        ...

    def open_tx_intents(self, chain_id: int) -> list[TxIntent]:
        """The intents of chain ``chain_id`` still ``open``, oldest first (by sender and nonce)."""
        ...

    def tx_intents(self, slot: str) -> list[TxIntent]:
        """Every intent acting on the on-chain slot ``slot`` (decimal), oldest first."""
        ...


def slot_argument(abi: Sequence[dict[str, Any]], fn: str, args: Sequence[Any]) -> str | None:
    """The on-chain slot a call acts on: its first argument (decimal) when the function's first input is named
    ``slot``, else None."""
    for item in abi:
        if item.get("type") == "function" and item["name"] == fn and len(item["inputs"]) == len(args):
            inputs = item["inputs"]
            if inputs and inputs[0].get("name") == "slot" and isinstance(args[0], int):
                return str(args[0])
            return None
    return None
