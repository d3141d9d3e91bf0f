"""RpcChain: the ledger on any Ethereum JSON-RPC node (hardhat, Besu/QBFT, an Energy Web-style PoA chain).

Point it at a URL: ``RpcChain("http://127.0.0.1:8545", private_keys=[...])``. Transactions are signed
locally (legacy EIP-155 transactions with the node's ``eth_gasPrice``), so the node needs no unlocked
accounts. Without ``private_keys`` the development keys are used and, if their balance is low, funded from
the node's first unlocked account (what hardhat and other development nodes offer).

Before sending, ``transact`` runs ``eth_call`` on the pending block (the context the transaction would be
mined in) and raises :class:`ChainRevert` if the call reverts, so a rejected action sends nothing.
``snapshot``/``revert`` use ``evm_snapshot`` / ``evm_revert`` (hardhat, anvil, ganache); a production node
does not offer them and raises ``NotImplementedError``.

With a journal (:meth:`~transactive.ledger.chain.base.KeyedSender.use_journal`) every signed transaction is
written ahead before ``eth_sendRawTransaction`` (:mod:`transactive.ledger.chain.intents`); an open one is
reconciled by its receipt, waited for while it is in the node's pool (:attr:`RpcChain.pending_wait_s`), or
broadcast again as signed when the node does not know it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from transactive.ledger.chain.base import (
    ChainRevert,
    Contract,
    KeyedSender,
    Log,
    MinedRevert,
    Receipt,
    SignedTx,
    address_of,
    decode_events,
    decode_result,
    dev_private_keys,
    encode_call,
    event_topic,
    revert_reason,
)
from transactive.ledger.chain.compiler import Artifact
from transactive.ledger.chain.intents import IntentState, TxIntent

_MIN_BALANCE_WEI = 10 * 10**18
_FUND_WEI = 100 * 10**18


class RpcError(RuntimeError):
    """The node answered a JSON-RPC request with an error that is not a revert."""


def _hex(value: int) -> str:
    return hex(value)


def _revert_data(error: Any) -> bytes | None:
    """Extract revert data from a JSON-RPC error object (nodes nest it differently)."""
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, dict):
        data = data.get("data", data.get("result"))
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if "revert" in message.lower():
        return b""
    return None


class RpcChain(KeyedSender):
    """The ledger's chain seam over JSON-RPC (web3.py HTTP transport)."""

    def __init__(
        self, url: str, private_keys: Sequence[bytes] | None = None, timeout_s: float = 30.0, *,
        fund_dev_accounts: bool = True,
    ) -> None:
        """``fund_dev_accounts=False``: send nothing on connecting (a read-only user such as the audit)."""
        from web3 import HTTPProvider

        self.url = url
        self.receipt_wait_s = 30.0  # how long a send waits for its receipt (else RpcError; its intent stays open)
        self.pending_wait_s = 60.0  # how long reconcile waits for an open transaction in the node's pool
        self._provider = HTTPProvider(url, request_kwargs={"timeout": timeout_s})
        self._keys = tuple(private_keys) if private_keys else dev_private_keys()
        self._accounts = tuple(address_of(k) for k in self._keys)
        self._key_of = dict(zip(self._accounts, self._keys, strict=True))
        self._chain_id = int(self._rpc("eth_chainId", []), 16)
        if private_keys is None and fund_dev_accounts:
            self._fund_dev_accounts()

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self._provider.make_request(method, params)
        if "error" in response:
            raise RpcError(f"{method}: {response['error']}")
        return response["result"]

    def _fund_dev_accounts(self) -> None:
        node_accounts = self._rpc("eth_accounts", [])
        if not node_accounts:
            return
        for account in self._accounts:
            if int(self._rpc("eth_getBalance", [account, "latest"]), 16) < _MIN_BALANCE_WEI:
                funding = {"from": node_accounts[0], "to": account, "value": _hex(_FUND_WEI)}
                tx_hash = self._rpc("eth_sendTransaction", [funding])
                self._wait(tx_hash)

    def _wait(self, tx_hash: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            receipt = self._rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise RpcError(f"transaction {tx_hash} not mined after {timeout_s:g} s")
            time.sleep(0.05)

    # -- Chain protocol ------------------------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def accounts(self) -> tuple[str, ...]:
        return self._accounts

    def block_number(self) -> int:
        return int(self._rpc("eth_blockNumber", []), 16)

    def state_root(self) -> bytes:
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        return bytes.fromhex(str(block["stateRoot"])[2:])

    def snapshot(self) -> int:
        try:
            return int(self._rpc("evm_snapshot", []), 16)
        except RpcError as exc:
            raise NotImplementedError(f"the node at {self.url} offers no evm_snapshot") from exc

    def revert(self, snapshot_id: int) -> None:
        if not self._rpc("evm_revert", [_hex(snapshot_id)]):
            raise RpcError(f"evm_revert({snapshot_id}) failed")

    def close(self) -> None:
        """Nothing to release (HTTP)."""

    def balance(self, address: str) -> int:
        """Ether balance (wei) of an address at the latest block."""
        return int(self._rpc("eth_getBalance", [address, "latest"]), 16)

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None) -> Contract:
        return self._deploy_data(artifact, args, sender)

    def call(self, contract: Contract, fn: str, *args: Any, sender: str | None = None,
             block: int | None = None) -> Any:
        data = encode_call(contract.abi, fn, args)
        out = self._eth_call(sender or self._accounts[0], contract.address, data,
                             "latest" if block is None else hex(block))
        return decode_result(contract.abi, fn, len(args), out)

    def logs(self, contract: Contract, event: str, *, from_block: int = 0) -> list[dict[str, Any]]:
        topic = event_topic(contract, event)
        entries = self._rpc("eth_getLogs", [{"address": contract.address, "fromBlock": hex(from_block),
                                             "toBlock": "latest", "topics": ["0x" + topic.hex()]}])
        out: list[dict[str, Any]] = []
        for e in entries:
            number = int(e["blockNumber"], 16)
            log = Log(address=to_checksum_address(e["address"]),
                      topics=tuple(bytes.fromhex(t[2:]) for t in e["topics"]), data=bytes.fromhex(e["data"][2:]))
            receipt = Receipt(b"", number, 0, (log,))
            out += [{**d, "blockNumber": number} for d in decode_events(contract, receipt, event)]
        return out

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Receipt:
        return self._transact(contract, fn, args, sender)

    # -- internals -----------------------------------------------------------------------------------
    def _eth_call(self, sender: str, to: str | None, data: bytes, block: str = "latest") -> bytes:
        params: dict[str, Any] = {"from": sender, "data": "0x" + data.hex()}
        if to is not None:
            params["to"] = to
        response = self._provider.make_request("eth_call", [params, block])
        if "error" in response:
            revert = _revert_data(response["error"])
            if revert is None:
                raise RpcError(f"eth_call: {response['error']}")
            raise ChainRevert(revert_reason(revert))
        return bytes.fromhex(str(response["result"])[2:])

    def _sign_tx(self, sender: str, to: str | None, data: bytes, value: int) -> SignedTx:
        if not value:
            # raises ChainRevert without sending anything; "pending": in the context of the block the transaction
            # would be mined in (block.number = latest + 1), as eth_estimateGas and the mined transaction see it
            self._eth_call(sender, to, data, "pending")
        params: dict[str, Any] = {"from": sender, "data": "0x" + data.hex()}
        if value:
            params["value"] = _hex(value)
        if to is not None:
            params["to"] = to
        estimate = self._provider.make_request("eth_estimateGas", [params])
        if "error" in estimate:
            revert = _revert_data(estimate["error"])
            if revert is None:
                raise RpcError(f"eth_estimateGas: {estimate['error']}")
            raise ChainRevert(revert_reason(revert))
        gas = int(estimate["result"], 16)
        tx: dict[str, Any] = {
            "nonce": int(self._rpc("eth_getTransactionCount", [sender, "pending"]), 16),
            "gasPrice": int(self._rpc("eth_gasPrice", []), 16),
            "gas": gas + gas // 5,
            "value": value,
            "data": data,
            "chainId": self._chain_id,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, self._key_of[sender])
        return SignedTx(sender, tx["nonce"], bytes(signed.raw_transaction), bytes(signed.hash))

    def _submit(self, signed: SignedTx) -> Receipt:
        tx_hash = self._rpc("eth_sendRawTransaction", ["0x" + signed.raw.hex()])
        return self._receipt(str(tx_hash), self._wait(tx_hash, self.receipt_wait_s))

    def _settle_intent(self, intent: TxIntent) -> tuple[IntentState, int | None]:
        """Mined: its outcome; in the pool: waited for (at most :attr:`pending_wait_s`, else :class:`RpcError`);
        unknown to the node: the same raw transaction broadcast again and waited for, or ``dropped`` when its
        nonce is taken by another transaction (it can never be mined)."""
        h = intent.tx_hash
        found = self._rpc("eth_getTransactionReceipt", [h])
        if found is None and self._rpc("eth_getTransactionByHash", [h]) is None:
            response = self._provider.make_request("eth_sendRawTransaction", [intent.raw_tx])
            if "error" in response and self._rpc("eth_getTransactionByHash", [h]) is None:
                if int(self._rpc("eth_getTransactionCount", [intent.sender, "latest"]), 16) > intent.nonce:
                    return "dropped", None
                raise RpcError(f"broadcasting the open transaction {h} again: {response['error']}")
        if found is None:
            found = self._wait(h, self.pending_wait_s)
        block = int(found["blockNumber"], 16)
        return ("mined" if int(found["status"], 16) == 1 else "reverted"), block

    def _receipt(self, tx_hash: str, receipt: dict[str, Any]) -> Receipt:
        block = int(receipt["blockNumber"], 16)
        if int(receipt["status"], 16) != 1:
            raise MinedRevert("reverted (mined)", block)
        created = receipt.get("contractAddress")
        logs = tuple(
            Log(
                address=to_checksum_address(entry["address"]),
                topics=tuple(bytes.fromhex(t[2:]) for t in entry["topics"]),
                data=bytes.fromhex(entry["data"][2:]),
            )
            for entry in receipt.get("logs", [])
        )
        return Receipt(
            tx_hash=bytes.fromhex(tx_hash[2:]),
            block_number=block,
            gas_used=int(receipt["gasUsed"], 16),
            logs=logs,
            contract_address=to_checksum_address(created) if created else None,
        )
