"""The seam between the ledger and a chain engine, and what both engines share.

A :class:`Chain` deploys compiled contracts, calls view functions, sends signed transactions, takes
snapshots and reverts to them, and reports the block number and state root. Two engines implement it:

- :class:`transactive.ledger.chain.embedded.EmbeddedChain`: an in-process py-evm chain, optionally persisted to a
  data directory (SQLite), restart-safe (reopening resumes with the identical state root);
- :class:`transactive.ledger.chain.rpc.RpcChain`: any Ethereum JSON-RPC node by URL (hardhat, Besu, ...).

Transactions are signed locally with the engine's accounts. ``transact`` first executes the call against
the latest state and raises :class:`ChainRevert` (with the contract's reason) without sending anything if it
would revert, so a rejected action never changes state (not even a nonce). Amounts are integers in base
units; addresses are checksummed strings. Both engines send through :meth:`KeyedSender._send`, which writes each
signed transaction ahead to a journal when one is attached (:mod:`transactive.ledger.chain.intents`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from transactive.ledger.chain.compiler import Artifact, load_artifact
from transactive.ledger.chain.intents import IntentState, TxIntent, TxJournal, slot_argument

log = logging.getLogger(__name__)
DEFAULT_DEV_ACCOUNTS = 12
_ERROR_SELECTOR = keccak(text="Error(string)")[:4]


class ChainRevert(Exception):
    """A transaction or call was rejected by the EVM; ``reason`` is the contract's message if it gave one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Contract:
    """A deployed contract: its address and ABI."""

    name: str
    address: str
    abi: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Log:
    """A raw event log."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """The outcome of a mined transaction."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    logs: tuple[Log, ...] = field(default=())
    contract_address: str | None = None


@runtime_checkable
class Chain(Protocol):
    """What the ledger needs from a chain engine."""

    @property
    def chain_id(self) -> int: ...

    @property
    def accounts(self) -> tuple[str, ...]:
        """Addresses whose keys the engine holds (the first is the default sender)."""
        ...

    def private_key(self, address: str) -> bytes:
        """The 32-byte private key of one of :attr:`accounts` (for off-chain signatures)."""
        ...

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None) -> Contract: ...

    def call(self, contract: Contract, fn: str, *args: Any, sender: str | None = None,
             block: int | None = None) -> Any:
        """A read-only call at the head, or in the state after block number ``block``."""
        ...

    def logs(self, contract: Contract, event: str, *, from_block: int = 0) -> list[dict[str, Any]]:
        """Every ``event`` emitted by ``contract`` in canonical blocks ``from_block`` .. head, oldest first,
        decoded as :func:`decode_events` does, plus ``"blockNumber"``."""
        ...

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Receipt: ...

    def snapshot(self) -> int: ...

    def revert(self, snapshot_id: int) -> None: ...

    def block_number(self) -> int: ...

    def balance(self, address: str) -> int:
        """Ether balance (wei) at the head."""
        ...

    def state_root(self) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SignedTx:
    """A transaction signed by one of the engine's keys, not yet sent: ``raw`` is what the node is given."""

    sender: str
    nonce: int
    raw: bytes
    tx_hash: bytes


class MinedRevert(ChainRevert):
    """The transaction was mined and reverted (its nonce is used); ``block_number``: its block."""

    def __init__(self, reason: str, block_number: int) -> None:
        super().__init__(reason)
        self.block_number = block_number


class KeyedSender:
    """What both engines share: the keys they sign transactions with (``_key_of``: checksummed address ->
    private key), the plain ether transfer, and the one sending path with its write-ahead
    (:mod:`transactive.ledger.chain.intents`): :meth:`_send` signs (the engine's ``_sign_tx``), records the
    intent in the journal (if one is attached with :meth:`use_journal`), hands it to the node (``_submit``, which
    answers the receipt) and records the outcome; :meth:`reconcile` settles the intents left open by a crash
    (the engine's ``_settle_intent``)."""

    _key_of: dict[str, bytes]
    _journal: TxJournal | None = None

    @property
    def chain_id(self) -> int:
        raise NotImplementedError

    @property
    def accounts(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _sign_tx(self, sender: str, to: str | None, data: bytes, value: int) -> SignedTx:
        """Check (a call that would revert raises :class:`ChainRevert`, nothing is signed), then sign."""
        raise NotImplementedError

    def _submit(self, signed: SignedTx) -> Receipt:
        """Hand ``signed`` to the node and wait for its receipt: :class:`MinedRevert` if it was mined and
        reverted, :class:`ChainRevert` if the engine refused it without mining it."""
        raise NotImplementedError

    def _settle_intent(self, intent: TxIntent) -> tuple[IntentState, int | None]:
        """The outcome of an open intent (waiting for it or broadcasting it again): ``(state, block)``."""
        raise NotImplementedError

    def _settle_in_process_intent(self, intent: TxIntent, mined_in: int | None, next_nonce: int
                                  ) -> tuple[IntentState, int | None]:
        """An in-process engine's :meth:`_settle_intent` (one block per transaction, nothing ever pending): mined in
        block ``mined_in``: ``mined``; else its nonce still the sender's next (``next_nonce``): the same signed
        transaction mined now, or ``refused`` if it fails now; else ``dropped``."""
        if mined_in is not None:
            return "mined", mined_in
        if next_nonce != intent.nonce:
            return "dropped", None
        tx_hash = bytes.fromhex(intent.tx_hash[2:])
        try:
            receipt = self._submit(SignedTx(intent.sender, intent.nonce, bytes.fromhex(intent.raw_tx[2:]), tx_hash))
        except ChainRevert:
            return "refused", None
        return "mined", receipt.block_number

    def use_journal(self, journal: TxJournal | None) -> None:
        """Write every transaction's intent to ``journal`` before sending it (None: no write-ahead)."""
        self._journal = journal

    def _send(self, sender: str | None, to: str | None, data: bytes, value: int = 0, *, step: str = "call",
              slot: str | None = None) -> Receipt:
        signed = self._sign_tx(to_checksum_address(sender) if sender else self.accounts[0], to, data, value)
        journal = self._journal
        if journal is None:
            return self._submit(signed)
        tx_hash = "0x" + signed.tx_hash.hex()
        journal.put_tx_intent(TxIntent(self.chain_id, tx_hash, signed.sender, signed.nonce, "0x" + signed.raw.hex(),
                                       step, slot))
        try:
            receipt = self._submit(signed)
        except MinedRevert as exc:
            journal.close_tx_intent(tx_hash, "reverted", exc.block_number)
            raise
        except ChainRevert:
            journal.close_tx_intent(tx_hash, "refused", None)
            raise
        # any other failure (the node unreachable, no receipt in time) leaves the intent open: reconciled later
        journal.close_tx_intent(tx_hash, "mined", receipt.block_number)
        return receipt

    def reconcile(self) -> list[TxIntent]:
        """Settle every open intent of this chain, oldest first (mined: its outcome recorded; pending: waited
        for, bounded; unknown to the node: the same signed transaction sent again); the intents it closed, with
        their outcome. Raises (leaving the rest open) when one cannot be settled now, e.g. still pending."""
        journal = self._journal
        if journal is None:
            return []
        closed: list[TxIntent] = []
        for intent in journal.open_tx_intents(self.chain_id):
            state, block = self._settle_intent(intent)
            journal.close_tx_intent(intent.tx_hash, state, block)
            log.warning("reconciled the open transaction %s (%s, slot %s, nonce %d of %s): %s", intent.tx_hash,
                        intent.step, intent.slot, intent.nonce, intent.sender, state)
            closed.append(replace(intent, state=state, block_number=block))
        return closed

    def private_key(self, address: str) -> bytes:
        return self._key_of[to_checksum_address(address)]

    def add_key(self, private_key: bytes) -> str:
        """Let this chain sign transactions for ``private_key`` too (e.g. a custodial member key); its address."""
        address = address_of(private_key)
        self._key_of[address] = bytes(private_key)
        return address

    def send_value(self, to: str, wei: int, sender: str | None = None) -> Receipt:
        """A plain ether transfer of ``wei`` to ``to`` (gas money for a key added with :meth:`add_key`)."""
        return self._send(sender, to, b"", value=wei, step="send_value")

    def _deploy_data(self, artifact: Artifact, args: Sequence[Any], sender: str | None) -> Contract:
        receipt = self._send(sender, None, encode_constructor(artifact, args), step=f"deploy:{artifact.name}")
        assert receipt.contract_address is not None
        return Contract(name=artifact.name, address=receipt.contract_address, abi=artifact.abi)

    def _transact(self, contract: Contract, fn: str, args: Sequence[Any], sender: str | None) -> Receipt:
        return self._send(sender, contract.address, encode_call(contract.abi, fn, args), step=fn,
                          slot=slot_argument(contract.abi, fn, args))


def contract_at(name: str, address: str) -> Contract:
    """The deployed contract ``name`` (``Registry``, ``EnergyToken``, ``MarketSlots``, ...) at ``address``,
    with the ABI of the packaged source."""
    return Contract(name, address, tuple(load_artifact(name).abi))


def dev_private_keys(count: int = DEFAULT_DEV_ACCOUNTS) -> tuple[bytes, ...]:
    """Deterministic development keys: keccak256("transactive-dev-<i>"). Never use them on a real chain."""
    return tuple(keccak(text=f"transactive-dev-{i}") for i in range(count))


def address_of(private_key: bytes) -> str:
    """Checksummed address of a private key."""
    return str(PrivateKey(private_key).public_key.to_checksum_address())


def abi_type(param: dict[str, Any]) -> str:
    """The canonical ABI type string of one ABI parameter (tuples expanded)."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple'):]}"
    return typ


def _function(abi: Sequence[dict[str, Any]], fn: str, n_args: int) -> dict[str, Any]:
    for item in abi:
        if item.get("type") == "function" and item["name"] == fn and len(item["inputs"]) == n_args:
            return item
    raise AttributeError(f"no function {fn}() with {n_args} arguments in the ABI")


def encode_call(abi: Sequence[dict[str, Any]], fn: str, args: Sequence[Any]) -> bytes:
    """Calldata: 4-byte selector of ``fn`` followed by the ABI-encoded arguments."""
    item = _function(abi, fn, len(args))
    types = [abi_type(p) for p in item["inputs"]]
    selector = keccak(text=f"{fn}({','.join(types)})")[:4]
    return selector + abi_encode(types, list(args))


def encode_constructor(artifact: Artifact, args: Sequence[Any]) -> bytes:
    """Deployment data: bytecode followed by the ABI-encoded constructor arguments."""
    for item in artifact.abi:
        if item.get("type") == "constructor":
            types = [abi_type(p) for p in item["inputs"]]
            return artifact.bytecode + abi_encode(types, list(args))
    if args:
        raise TypeError(f"{artifact.name} takes no constructor arguments")
    return artifact.bytecode


def _normalise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, tuple | list):
        return tuple(_normalise(v) for v in value)
    return value


def decode_result(abi: Sequence[dict[str, Any]], fn: str, n_args: int, data: bytes) -> Any:
    """Decode a function's return data: None, one value, or a tuple of values (addresses checksummed)."""
    item = _function(abi, fn, n_args)
    types = [abi_type(p) for p in item["outputs"]]
    if not types:
        return None
    values = _normalise(abi_decode(types, data))
    return values[0] if len(values) == 1 else values


def event_topic(contract: Contract, name: str) -> bytes:
    """The topic 0 of ``contract``'s event ``name``: keccak of its signature."""
    for item in contract.abi:
        if item.get("type") == "event" and item["name"] == name:
            return bytes(keccak(text=f"{name}({','.join(abi_type(p) for p in item['inputs'])})"))
    raise ValueError(f"{contract.name} has no event {name!r}")


def decode_events(contract: Contract, receipt: Receipt, name: str | None = None) -> list[dict[str, Any]]:
    """The receipt's events emitted by ``contract`` (optionally only those called ``name``), decoded.

    Each event is a dict of its fields plus ``"event"`` (the name); addresses are checksummed.
    """
    by_topic: dict[bytes, dict[str, Any]] = {}
    for item in contract.abi:
        if item.get("type") == "event" and (name is None or item["name"] == name):
            types = ",".join(abi_type(p) for p in item["inputs"])
            by_topic[keccak(text=f"{item['name']}({types})")] = item
    out: list[dict[str, Any]] = []
    for log in receipt.logs:
        if log.address != contract.address or not log.topics or log.topics[0] not in by_topic:
            continue
        item = by_topic[log.topics[0]]
        indexed = [p for p in item["inputs"] if p.get("indexed")]
        plain = [p for p in item["inputs"] if not p.get("indexed")]
        values: dict[str, Any] = {"event": item["name"]}
        for param, topic in zip(indexed, log.topics[1:], strict=True):
            values[param["name"]] = _normalise(abi_decode([abi_type(param)], topic)[0])
        decoded = abi_decode([abi_type(p) for p in plain], log.data)
        for param, value in zip(plain, decoded, strict=True):
            values[param["name"]] = _normalise(value)
        out.append(values)
    return out


def revert_reason(data: bytes) -> str:
    """The reason string of revert data (``Error(string)``), or a hex dump / 'reverted'."""
    if data[:4] == _ERROR_SELECTOR:
        try:
            return str(abi_decode(["string"], data[4:])[0])
        except Exception:  # pragma: no cover - malformed revert data
            return "reverted"
    return "reverted" if not data else f"reverted: 0x{data.hex()}"
