"""RevmChain: an in-process revm chain (``pyrevm``, Cancun rules), optionally persisted as a journal.

It behaves for its callers like :class:`~transactive.ledger.chain.embedded.EmbeddedChain` (same chain id 1337,
development accounts, genesis funding and timestamp, one transaction per block, block timestamps
``max(now, parent + 1)``, the EIP-1559 base fee of py-evm charged to the sender, a rejected transaction changes
nothing), at a fraction of py-evm's cost per transaction.

revm keeps no blocks, receipts or state trie; this engine keeps the canonical blocks itself (one
:class:`MinedBlock` per block: sender, recipient, calldata, value, timestamp, base fee, gas used, logs). With a
data directory they are journaled in ``<data_dir>/chain-revm.sqlite`` (one row per block, each block one SQLite
transaction, file mode 0600, the directory's ``chain.lock`` like the py-evm engine); opening it replays the
journal into a fresh EVM (no signatures: the journal holds the sender), so a restart resumes at the same head
with the same state.

``state_root`` is not a trie root (revm has none): it is the head's *history digest*,
``digest(n) = keccak256(digest(n - 1) || block n's record)`` from ``digest(0) = keccak256(genesis
allocation)``. Two revm chains that mined the same transactions with the same outcomes have the same digest;
any mined transaction changes it; a revert restores it. It is not comparable with the py-evm engine's root.

Gas: both engines apply the Cancun schedule, the same intrinsic gas (21,000 + calldata) and the same refund rule
(EIP-3529: at most a fifth of the gas used), but pyrevm runs every transaction in one journaled state that it
never finalises (its ``commit`` only drops a checkpoint), where py-evm starts each transaction cold. So on revm
an account or storage slot that an EARLIER transaction of this EVM touched is warm (EIP-2929) and a slot's
"original value" (EIP-2200) is its value when first loaded, transactions ago. ``gas_used`` is py-evm's minus
exactly those terms: a slot read again 100 instead of 2,100; a slot written again a "dirty" write, 100 instead
of 2,100 + 2,900 (and writing back the value first loaded refunds 19,900, capped, instead of py-evm's 4,800 for a
cleared slot); an account read again 100 instead of 2,600 -- so never more than py-evm's, equal for a transaction
touching nothing touched before (tests/unit/ledger/test_revm_chain.py checks each term). Not made equal: pyrevm
offers no way to finalise or clear its journal, and a fresh EVM per transaction would need the whole storage
re-inserted, which pyrevm cannot enumerate. It is a deterministic function of the canonical transactions (a
replay reproduces it exactly; view calls, balance reads and rejected transactions run in a reverted checkpoint
and leave no account or slot warm). The fees charged (gas x base fee) and hence the base fees of later blocks
follow revm's figures; compare gas between engines only on py-evm.

Snapshots are block numbers: :meth:`RevmChain.revert` drops the later blocks (in the journal too) and rebuilds
the EVM by replaying the blocks it keeps. ``call(..., block=n)`` runs on a second EVM replayed up to block n (a
forward cursor: calls for increasing blocks replay each block once).
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrevm
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from transactive.files import private_dir, private_file
from transactive.ledger.chain.base import (
    ChainRevert,
    Contract,
    KeyedSender,
    Log,
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
from transactive.ledger.chain.embedded import (
    _FUNDING_WEI,
    BLOCK_GAS_LIMIT,
    EMBEDDED_CHAIN_ID,
    GENESIS_TIMESTAMP,
    TX_GAS_LIMIT,
    lock_data_dir,
    unlock_data_dir,
)
from transactive.ledger.chain.intents import IntentState, TxIntent

JOURNAL_FILE = "chain-revm.sqlite"
JOURNAL_FORMAT = "transactive.revm-journal/1"
SPEC = "CANCUN"
INITIAL_BASE_FEE_WEI = 10**9  # py-evm's London genesis base fee
_ZERO = "0x" + "00" * 20
RECORD_TYPES = ("uint64", "uint64", "uint256", "address", "bytes", "bytes", "uint256", "uint64",
                "(address,bytes32[],bytes)[]", "bytes32")
"""A mined block's record: number, timestamp, base fee, sender, recipient, calldata, value, gas used, logs, tx hash."""
TX_TYPES = ("uint256", "bool", "address", "uint256", "bytes", "uint256", "address")
"""A revm transaction's raw form: nonce, is a creation, recipient (zero for a creation), value (wei), calldata,
chain id, sender."""
_REVERT_OUTPUT = re.compile(r"output: 0x([0-9a-fA-F]*)")


@dataclass(frozen=True)
class MinedBlock:
    """One mined block: its only transaction and its outcome. ``to`` None: a contract creation."""

    number: int
    timestamp: int
    base_fee_wei: int
    sender: str
    to: str | None
    data: bytes
    value_wei: int
    gas_used: int
    logs: tuple[Log, ...]
    contract_address: str | None
    tx_hash: bytes

    def record(self) -> bytes:
        """The canonical bytes of this block (what the history digest hashes): every field, ABI-encoded
        (:data:`RECORD_TYPES`; a creation's ``to`` is empty bytes)."""
        logs = [(x.address, list(x.topics), x.data) for x in self.logs]
        return abi_encode(RECORD_TYPES, [self.number, self.timestamp, self.base_fee_wei, self.sender,
                                         b"" if self.to is None else bytes.fromhex(self.to[2:]), self.data,
                                         self.value_wei, self.gas_used, logs, self.tx_hash])


def next_base_fee(parent_base_fee_wei: int, parent_gas_used: int, gas_limit: int = BLOCK_GAS_LIMIT) -> int:
    """EIP-1559: the child's base fee (wei) from its parent's base fee and gas used (target = limit / 2)."""
    target = gas_limit // 2
    if parent_gas_used == target:
        return parent_base_fee_wei
    if parent_gas_used > target:
        return parent_base_fee_wei + max(parent_base_fee_wei * (parent_gas_used - target) // target // 8, 1)
    return parent_base_fee_wei - parent_base_fee_wei * (target - parent_gas_used) // target // 8


def _failure(exc: RuntimeError) -> ChainRevert:
    """pyrevm's error (the Debug text of revm's result) as a ChainRevert with the contract's reason."""
    text = str(exc)
    if text.startswith("Revert"):
        match = _REVERT_OUTPUT.search(text)
        return ChainRevert(revert_reason(bytes.fromhex(match.group(1)) if match else b""))
    if text.startswith("Halt"):
        return ChainRevert(revert_reason(b""))
    return ChainRevert(f"rejected: {text}")


@functools.lru_cache(maxsize=1024)
def _log_address(address: str) -> str:
    """A log's emitting contract in checksum form (memoised: the same few contracts emit every log, and
    eth_utils' checksum hashes each time)."""
    return to_checksum_address(address)


class _Machine:
    """A pyrevm EVM at the state after block ``head`` of a list of :class:`MinedBlock`."""

    def __init__(self, accounts: Sequence[str]) -> None:
        self.evm = pyrevm.EVM(env=pyrevm.Env(cfg=pyrevm.CfgEnv(chain_id=EMBEDDED_CHAIN_ID)),
                              gas_limit=BLOCK_GAS_LIMIT, spec_id=SPEC)
        for account in accounts:  # into the database, not the journal: cold, like every account at a block's start
            self.evm.insert_account_info(account, pyrevm.AccountInfo(balance=_FUNDING_WEI))  # type: ignore[call-arg]
        self.head = 0

    def _env(self, number: int, timestamp: int) -> None:
        self.evm.set_block_env(pyrevm.BlockEnv(number=number, timestamp=timestamp, coinbase=_ZERO,
                                               gas_limit=BLOCK_GAS_LIMIT, basefee=0))

    def execute(self, number: int, timestamp: int, base_fee_wei: int, *, sender: str, to: str | None,
                data: bytes, value_wei: int, gas_used: int | None = None
                ) -> tuple[int, tuple[Log, ...], str | None, int]:
        """Mine one transaction as block ``number``: (gas used, logs, created address, the sender's nonce).
        ChainRevert (and nothing changed, not even an account made warm) if it fails. ``gas_used``: the figure
        the journal recorded (a replay)."""
        self._env(number, timestamp)
        evm = self.evm
        checkpoint = evm.snapshot()
        before = evm.basic(sender)  # inside the checkpoint: a rejected transaction leaves its sender cold
        try:
            if to is None:
                created: str | None = to_checksum_address(evm.deploy(sender, data, value=value_wei, gas=TX_GAS_LIMIT))
            else:
                evm.message_call(sender, to, calldata=data, value=value_wei, gas=TX_GAS_LIMIT,
                                 gas_price=base_fee_wei)
                created = None
        except RuntimeError as exc:
            evm.revert(checkpoint)
            raise _failure(exc) from None
        evm.commit()
        result = evm.result
        assert result is not None
        used = int(result.gas_used) if gas_used is None else gas_used
        # the transaction's fee (base fee burnt, no tip) and the sender's nonce: what a message call skips
        info = evm.basic(sender)
        nonce = int(before.nonce) + 1
        paid = pyrevm.AccountInfo(balance=int(info.balance) - used * base_fee_wei,  # type: ignore[call-arg]
                                  nonce=nonce, code_hash=info.code_hash, code=info.code)  # (the stub lacks balance)
        evm.insert_account_info(sender, paid)
        evm.reset_transient_storage()
        logs = tuple(Log(address=_log_address(x.address), topics=tuple(bytes(t) for t in x.data[0]),
                         data=bytes(x.data[1])) for x in result.logs)
        self.head = number
        return used, logs, created, nonce - 1

    def replay(self, block: MinedBlock) -> None:
        """Apply a mined block again (its recorded gas charged); it must succeed as it did."""
        self.execute(block.number, block.timestamp, block.base_fee_wei, sender=block.sender, to=block.to,
                     data=block.data, value_wei=block.value_wei, gas_used=block.gas_used)

    def nonce(self, address: str) -> int:
        """The next nonce of ``address`` (read in a reverted checkpoint: the account stays cold)."""
        checkpoint = self.evm.snapshot()
        try:
            return int(self.evm.basic(address).nonce)
        finally:
            self.evm.revert(checkpoint)

    def balance(self, address: str) -> int:
        """Ether balance (wei) of ``address`` (read in a reverted checkpoint: the account stays cold)."""
        checkpoint = self.evm.snapshot()
        try:
            return int(self.evm.get_balance(address))
        finally:
            self.evm.revert(checkpoint)

    def call(self, sender: str, to: str, data: bytes, timestamp: int) -> bytes:
        """A read-only call in a pending block on top of :attr:`head` (nothing kept, not even warm slots)."""
        self._env(self.head + 1, timestamp)
        checkpoint = self.evm.snapshot()
        try:
            return bytes(self.evm.message_call(sender, to, calldata=data, gas=TX_GAS_LIMIT, gas_price=0))
        except RuntimeError as exc:
            raise _failure(exc) from None
        finally:
            self.evm.revert(checkpoint)
            self.evm.reset_transient_storage()


class _Journal:
    """The SQLite journal of mined blocks (``chain-revm.sqlite``): each block one row and one transaction."""

    def __init__(self, directory: Path, *, read_only: bool) -> None:
        path = directory / JOURNAL_FILE
        self._read_only = read_only
        if read_only and not path.is_file():
            raise FileNotFoundError(f"no chain journal {path}")
        self._lock = lock_data_dir(directory, read_only=read_only)
        try:
            if read_only:
                wal = path.with_name(path.name + "-wal").exists()
                mode = "mode=ro" if wal else "mode=ro&immutable=1"
                self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
                self.meta()  # garbage bytes or another database fail here (DatabaseError)
            else:
                self._conn = sqlite3.connect(str(private_file(path)), check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                with self._conn:
                    self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    self._conn.execute(
                        "CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL,"
                        " base_fee TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT, data BLOB NOT NULL,"
                        " value TEXT NOT NULL, gas_used INTEGER NOT NULL, logs TEXT NOT NULL, created TEXT,"
                        " tx_hash BLOB NOT NULL)")
        except BaseException:
            if hasattr(self, "_conn"):
                self._conn.close()
            unlock_data_dir(self._lock)
            raise

    def meta(self) -> dict[str, str]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.Error as exc:
            raise sqlite3.DatabaseError(f"not a revm chain journal: {exc}") from exc
        return {str(k): str(v) for k, v in rows}

    def start(self, n_accounts: int) -> None:
        with self._conn:
            self._conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                   [("format", JOURNAL_FORMAT), ("chain_id", str(EMBEDDED_CHAIN_ID)),
                                    ("funded_accounts", str(n_accounts))])

    def blocks(self) -> list[MinedBlock]:
        rows = self._conn.execute(
            "SELECT number, timestamp, base_fee, sender, recipient, data, value, gas_used, logs, created, tx_hash"
            " FROM blocks ORDER BY number").fetchall()
        return [MinedBlock(int(r[0]), int(r[1]), int(r[2]), str(r[3]), r[4], bytes(r[5]), int(r[6]), int(r[7]),
                           tuple(Log(a, tuple(bytes.fromhex(t) for t in ts), bytes.fromhex(d))
                                 for a, ts, d in json.loads(r[8])), r[9], bytes(r[10])) for r in rows]

    def append(self, b: MinedBlock) -> None:
        logs = json.dumps([[x.address, [t.hex() for t in x.topics], x.data.hex()] for x in b.logs])
        with self._conn:
            self._conn.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (b.number, b.timestamp, str(b.base_fee_wei), b.sender, b.to, b.data, str(b.value_wei),
                                b.gas_used, logs, b.contract_address, b.tx_hash))

    def truncate(self, head: int) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM blocks WHERE number > ?", (head,))

    def close(self) -> None:
        self._conn.close()
        unlock_data_dir(self._lock)


class RevmChain(KeyedSender):
    """In-process revm chain; ``data_dir`` journals it (``None``: in memory). ``read_only``: replay an existing
    journal without writing (the audit): ``FileNotFoundError`` without ``chain-revm.sqlite``,
    ``sqlite3.DatabaseError`` when that is not a journal; its calls run, its transactions fail."""

    def __init__(self, data_dir: str | Path | None = None, n_accounts: int = 12, *, read_only: bool = False) -> None:
        self._keys = dev_private_keys(n_accounts)
        self._accounts = tuple(address_of(k) for k in self._keys)
        self._key_of = dict(zip(self._accounts, self._keys, strict=True))
        self._read_only = read_only
        self._blocks_db: _Journal | None = None
        funded = n_accounts
        recorded: list[MinedBlock] = []
        if data_dir is not None:
            directory = Path(data_dir) if read_only else private_dir(Path(data_dir))
            self._blocks_db = _Journal(directory, read_only=read_only)
            meta = self._blocks_db.meta()
            if not meta:
                if read_only:
                    self.close()
                    raise sqlite3.DatabaseError(f"{data_dir}: the chain journal holds no chain")
                self._blocks_db.start(n_accounts)
            elif meta.get("format") != JOURNAL_FORMAT:
                self.close()
                raise sqlite3.DatabaseError(f"{data_dir}: unknown chain journal format {meta.get('format')!r}")
            else:
                funded = int(meta["funded_accounts"])
                recorded = self._blocks_db.blocks()
        self._funded = tuple(address_of(k) for k in dev_private_keys(funded))
        self._genesis_digest = keccak(abi_encode(["string", "uint256", "uint256", "address[]", "uint256"], [
            JOURNAL_FORMAT, EMBEDDED_CHAIN_ID, GENESIS_TIMESTAMP, list(self._funded), _FUNDING_WEI]))
        self._blocks: list[MinedBlock] = []
        self._digests = [self._genesis_digest]
        self._machine = _Machine(self._funded)
        self._cursor: _Machine | None = None  # the state as of an earlier block (call(..., block=n))
        for block in recorded:
            self._machine.replay(block)
            self._keep(block)

    # -- Chain protocol ------------------------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        return EMBEDDED_CHAIN_ID

    @property
    def accounts(self) -> tuple[str, ...]:
        return self._accounts

    def block_number(self) -> int:
        return len(self._blocks)

    def state_root(self) -> bytes:
        """The head's history digest (module docstring), 32 bytes."""
        return bytes(self._digests[-1])

    def snapshot(self) -> int:
        return self.block_number()

    def revert(self, snapshot_id: int) -> None:
        if not 0 <= snapshot_id <= self.block_number():
            raise ValueError(f"snapshot_id: no block {snapshot_id} on this chain (head {self.block_number()})")
        if snapshot_id == self.block_number():
            return
        if self._blocks_db is not None:
            self._writable().truncate(snapshot_id)
        del self._blocks[snapshot_id:]
        del self._digests[snapshot_id + 1:]
        self._machine = self._replayed(snapshot_id)
        if self._cursor is not None and self._cursor.head > snapshot_id:
            self._cursor = None

    def close(self) -> None:
        if self._blocks_db is not None:
            self._blocks_db.close()
            self._blocks_db = None

    def balance(self, address: str) -> int:
        """Ether balance (wei) of an address at the head."""
        return self._machine.balance(to_checksum_address(address))

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None) -> Contract:
        return self._deploy_data(artifact, args, sender)

    def call(self, contract: Contract, fn: str, *args: Any, sender: str | None = None,
             block: int | None = None) -> Any:
        data = encode_call(contract.abi, fn, args)
        machine = self._machine if block is None or block == self.block_number() else self._at(block)
        timestamp = max(int(time.time()), self._timestamp(machine.head) + 1)
        out = machine.call(to_checksum_address(sender or self._accounts[0]), contract.address, data, timestamp)
        return decode_result(contract.abi, fn, len(args), out)

    def logs(self, contract: Contract, event: str, *, from_block: int = 0) -> list[dict[str, Any]]:
        topic = event_topic(contract, event)
        out: list[dict[str, Any]] = []
        for mined in self._blocks[max(from_block - 1, 0):]:
            logs = tuple(x for x in mined.logs if x.topics and x.topics[0] == topic)
            for decoded in decode_events(contract, Receipt(b"", mined.number, 0, logs), event):
                out.append({**decoded, "blockNumber": mined.number})
        return out

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Receipt:
        return self._transact(contract, fn, args, sender)

    # -- internals -----------------------------------------------------------------------------------
    def _timestamp(self, number: int) -> int:
        return GENESIS_TIMESTAMP if number == 0 else self._blocks[number - 1].timestamp

    def _base_fee(self, number: int) -> int:
        """The base fee (wei) of block ``number`` (the next block's when it is head + 1)."""
        if number == 0:
            return INITIAL_BASE_FEE_WEI
        parent = self._blocks[number - 2] if number >= 2 else None
        if parent is None:
            return next_base_fee(INITIAL_BASE_FEE_WEI, 0)
        return next_base_fee(parent.base_fee_wei, parent.gas_used)

    def _replayed(self, head: int) -> _Machine:
        machine = _Machine(self._funded)
        for mined in self._blocks[:head]:
            machine.replay(mined)
        return machine

    def _at(self, block: int) -> _Machine:
        """A machine in the state after ``block`` (< head): the cursor, moved forward (or rebuilt if it is past
        ``block``)."""
        if not 0 <= block <= self.block_number():
            raise ValueError(f"block: no block {block} on this chain (head {self.block_number()})")
        if self._cursor is None or self._cursor.head > block:
            self._cursor = _Machine(self._funded)
        for mined in self._blocks[self._cursor.head:block]:
            self._cursor.replay(mined)
        return self._cursor

    def _keep(self, block: MinedBlock) -> None:
        self._blocks.append(block)
        self._digests.append(keccak(self._digests[-1] + block.record()))

    def _writable(self) -> _Journal:
        if self._read_only:
            raise sqlite3.OperationalError("attempt to write a readonly database (chain opened read-only)")
        assert self._blocks_db is not None
        return self._blocks_db

    # -- the shared sending path (KeyedSender._send: write-ahead, then _submit) ------------------------------
    def _sign_tx(self, sender: str, to: str | None, data: bytes, value: int) -> SignedTx:
        """No signature (the engine holds the keys): the transaction's fields ABI-encoded (:data:`TX_TYPES`) are
        its raw form and their keccak its hash, so an intent written ahead can be sent again byte for byte."""
        if sender not in self._key_of:  # like the py-evm engine: only a sender whose key the chain holds
            raise KeyError(sender)
        if self._read_only:
            self._writable()
        nonce = self._machine.nonce(sender)
        raw = abi_encode(TX_TYPES, [nonce, to is None, _ZERO if to is None else to_checksum_address(to), value, data,
                                    EMBEDDED_CHAIN_ID, sender])
        return SignedTx(sender, nonce, raw, keccak(raw))

    def _submit(self, signed: SignedTx) -> Receipt:
        """Mine ``signed`` as the next block and journal it; :class:`ChainRevert` (nothing kept) if it fails or
        its nonce is not the sender's next."""
        nonce, create, to, value, data, chain_id, sender = abi_decode(TX_TYPES, signed.raw)
        sender = to_checksum_address(sender)
        if chain_id != EMBEDDED_CHAIN_ID or nonce != self._machine.nonce(sender):
            raise ChainRevert(f"nonce {nonce} of {sender} is not its next (or another chain's transaction)")
        number = self.block_number() + 1
        timestamp = max(int(time.time()), self._timestamp(number - 1) + 1)
        base_fee = self._base_fee(number)
        recipient = None if create else to_checksum_address(to)
        gas_used, logs, created, _ = self._machine.execute(number, timestamp, base_fee, sender=sender, to=recipient,
                                                           data=bytes(data), value_wei=int(value))
        mined = MinedBlock(number, timestamp, base_fee, sender, recipient, bytes(data), int(value), gas_used, logs,
                           created, signed.tx_hash)
        if self._blocks_db is not None:
            try:
                self._blocks_db.append(mined)
            except BaseException:
                self._machine = self._replayed(self.block_number())  # not mined: back to the journaled head
                raise
        self._keep(mined)
        return Receipt(tx_hash=signed.tx_hash, block_number=number, gas_used=gas_used, logs=logs,
                       contract_address=created)

    def _settle_intent(self, intent: TxIntent) -> tuple[IntentState, int | None]:
        """In a block: ``mined``; else its nonce still next: mined now (the same transaction) or ``refused`` if it
        fails now; else ``dropped``. Nothing is ever pending (one block per transaction, journaled at once)."""
        tx_hash = bytes.fromhex(intent.tx_hash[2:])
        mined_in = next((mined.number for mined in reversed(self._blocks) if mined.tx_hash == tx_hash), None)
        return self._settle_in_process_intent(intent, mined_in, self._machine.nonce(to_checksum_address(intent.sender)))
