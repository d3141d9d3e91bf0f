"""EmbeddedChain: an in-process py-evm chain (Cancun rules), optionally persisted to a data directory.

One transaction per block (automine, like a development node). Blocks, receipts and the state trie are
stored in ``<data_dir>/chain.sqlite`` (one key-value table); each block is committed as one SQLite
transaction, so after a crash or a restart the chain resumes at the last mined block with the identical
state root. Without a data directory everything stays in memory.

The genesis is deterministic (fixed timestamp, the development accounts funded with 10^9 ether each), so
two embedded chains that receive the same transactions reach the same state root.

Snapshots are block hashes: :meth:`EmbeddedChain.revert` makes that block the canonical head again (the
later blocks become orphans and their state is unreachable).

Example:
    >>> chain = EmbeddedChain()  # doctest: +SKIP
    >>> chain.block_number()  # doctest: +SKIP
    0
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from pathlib import Path
from typing import Any

from eth._utils.address import generate_contract_address
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.backends.memory import MemoryDB
from eth.db.chain import ChainDB
from eth.exceptions import CanonicalHeadNotFound, TransactionNotFound
from eth.vm.forks.cancun import CancunVM
from eth.vm.spoof import SpoofTransaction
from eth_account import Account
from eth_utils.address import to_canonical_address, to_checksum_address

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
from transactive.ledger.chain.intents import IntentState, TxIntent

EMBEDDED_CHAIN_ID = 1337
GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
BLOCK_GAS_LIMIT = 60_000_000
TX_GAS_LIMIT = 30_000_000
_FUNDING_WEI = 10**9 * 10**18
_GENESIS_PARENT = b"\x00" * 32
READ_CACHE_BYTES = 64 * 2**20  # the SQLite store's read cache (values; a simulated day's chain holds ~5 MB)


class DataDirInUse(RuntimeError):
    """Another EmbeddedChain (in this or another process) has the data directory open."""


def lock_data_dir(directory: Path, *, read_only: bool = False) -> Any:
    """Lock a chain data directory (``flock`` on ``directory/chain.lock``, both engines): exclusive for a
    writer, shared for a reader; the open lock file (release with :func:`unlock_data_dir`), or None for a
    reader of a directory without a lock file (nothing is created). :class:`DataDirInUse` when taken."""
    lock_path = directory / "chain.lock"
    if read_only and not lock_path.exists():
        return None
    lock = open(lock_path, "rb" if read_only else "a+b")  # noqa: SIM115 - held while open
    try:
        fcntl.flock(lock, (fcntl.LOCK_SH if read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise DataDirInUse(f"chain data directory {directory} is in use by another process") from exc
    return lock


def unlock_data_dir(lock: Any) -> None:
    """Release a lock taken by :func:`lock_data_dir` (None: nothing to release)."""
    if lock is not None:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


class _SqliteDB(BaseDB):
    """py-evm key-value database on one SQLite table; writes are committed by :meth:`commit`.

    Reads are cached in memory (write-through, so the cache always equals the committed-or-pending table;
    emptied on a rollback and when it exceeds :data:`READ_CACHE_BYTES`).

    The directory is locked (``flock`` on ``chain.lock``) while open: two writers would fork the chain.
    The kernel releases the lock when the process dies, so a crash never leaves it stale.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self._read_only = read_only
        self._lock = lock_data_dir(path.parent, read_only=read_only)
        # any thread may use the chain, one at a time (callers serialise; e.g. the service's ledger lock)
        if read_only:  # the file must exist; SQLite refuses every write (``sqlite3.OperationalError``)
            # no write-ahead log (closed cleanly) and no writer (the lock): immutable, so SQLite creates no
            # -wal/-shm files either; else the log is read (SQLite may create the -shm index)
            wal = path.with_name(path.name + "-wal").exists()
            mode = "mode=ro" if wal else "mode=ro&immutable=1"
            self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
            try:
                self._conn.execute("SELECT count(*) FROM kv").fetchone()  # garbage bytes fail (DatabaseError)
            except sqlite3.Error:
                self._conn.close()
                if self._lock is not None:
                    self._lock.close()
                raise
        else:
            self._conn = sqlite3.connect(str(path), check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
            )
            self._conn.commit()
        # every value read or written since the last clear: py-evm reads the same trie nodes (the state root's
        # top levels, the contracts' storage roots) in every transaction and call, each a SELECT otherwise
        self._cache: dict[bytes, bytes] = {}
        self._cache_bytes = 0

    def __getitem__(self, key: bytes) -> bytes:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        value = bytes(row[0])
        self._remember(key, value)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))
        self._remember(key, bytes(value))

    def __delitem__(self, key: bytes) -> None:
        self._cache_bytes -= len(self._cache.pop(key, b""))
        cur = self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))
        if cur.rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        if key in self._cache:
            return True
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def _remember(self, key: bytes, value: bytes) -> None:
        """Keep ``value`` in the read cache (write-through; emptied when over :data:`READ_CACHE_BYTES`)."""
        self._cache_bytes += len(value) - len(self._cache.get(key, b""))
        self._cache[key] = value
        if self._cache_bytes > READ_CACHE_BYTES:
            self._cache.clear()
            self._cache_bytes = 0

    def commit(self) -> None:
        if not self._read_only:
            self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()
        self._cache.clear()  # it may hold writes that were just rolled back
        self._cache_bytes = 0

    def close(self) -> None:
        self.commit()
        self._conn.close()
        unlock_data_dir(self._lock)


def _chain_class() -> Any:
    return MiningChain.configure(
        __name__="TransactiveEmbeddedChain", vm_configuration=((0, CancunVM),), chain_id=EMBEDDED_CHAIN_ID
    )


class EmbeddedChain(KeyedSender):
    """In-process py-evm chain; ``data_dir`` persists it (``None``: in memory). ``read_only``: open an
    existing ``data_dir`` without writing anything into it (the audit): ``FileNotFoundError`` when it has
    no ``chain.sqlite``, ``sqlite3.DatabaseError`` when that is not a chain database (no genesis is
    written); its calls run, its transactions fail."""

    def __init__(self, data_dir: str | Path | None = None, n_accounts: int = 12, *, read_only: bool = False) -> None:
        self._keys = dev_private_keys(n_accounts)
        self._accounts = tuple(address_of(k) for k in self._keys)
        self._key_of = dict(zip(self._accounts, self._keys, strict=True))
        self._kv: _SqliteDB | None = None
        if data_dir is None:
            raw: Any = MemoryDB()
        elif read_only:
            path = Path(data_dir) / "chain.sqlite"
            if not path.is_file():
                raise FileNotFoundError(f"no chain database {path}")
            self._kv = _SqliteDB(path, read_only=True)
            raw = self._kv
        else:
            directory = private_dir(Path(data_dir))  # 0700, the database 0600: the chain's state
            self._kv = _SqliteDB(private_file(directory / "chain.sqlite"))
            raw = self._kv
        self._db = AtomicDB(raw)
        klass = _chain_class()
        try:
            ChainDB(self._db).get_canonical_head()
            self._chain = klass(self._db)
        except CanonicalHeadNotFound:
            if read_only:
                self.close()
                raise sqlite3.DatabaseError(f"{data_dir}: the chain database holds no chain") from None
            self._chain = klass.from_genesis(self._db, self._genesis_params(), self._genesis_state())
        self._commit()

    # -- set-up ---------------------------------------------------------------------------------------
    def _genesis_params(self) -> dict[str, Any]:
        return {
            "difficulty": 0,
            "gas_limit": BLOCK_GAS_LIMIT,
            "timestamp": GENESIS_TIMESTAMP,
            "coinbase": b"\x00" * 20,
            "extra_data": b"transactive",
            "nonce": b"\x00" * 8,
        }

    def _genesis_state(self) -> dict[bytes, dict[str, Any]]:
        return {
            to_canonical_address(a): {"balance": _FUNDING_WEI, "nonce": 0, "code": b"", "storage": {}}
            for a in self._accounts
        }

    def _commit(self) -> None:
        if self._kv is not None:
            self._kv.commit()

    # -- Chain protocol ------------------------------------------------------------------------------
    @property
    def chain_id(self) -> int:
        return EMBEDDED_CHAIN_ID

    @property
    def accounts(self) -> tuple[str, ...]:
        return self._accounts

    def block_number(self) -> int:
        return int(self._chain.get_canonical_head().block_number)

    def state_root(self) -> bytes:
        return bytes(self._chain.get_canonical_head().state_root)

    def snapshot(self) -> int:
        head = self._chain.get_canonical_head()
        return int.from_bytes(head.hash, "big")

    def revert(self, snapshot_id: int) -> None:
        block_hash = snapshot_id.to_bytes(32, "big")
        header = self._chain.chaindb.get_block_header_by_hash(block_hash)
        self._chain.chaindb._set_as_canonical_chain_head(self._chain.chaindb.db, header, _GENESIS_PARENT)
        self._chain = type(self._chain)(self._db)
        self._commit()

    def close(self) -> None:
        if self._kv is not None:
            self._kv.close()
            self._kv = None

    def balance(self, address: str) -> int:
        """Ether balance (wei) of an address at the head."""
        state = self._chain.get_vm(self._chain.get_canonical_head()).state
        return int(state.get_balance(to_canonical_address(address)))

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None) -> Contract:
        return self._deploy_data(artifact, args, sender)

    def call(self, contract: Contract, fn: str, *args: Any, sender: str | None = None,
             block: int | None = None) -> Any:
        data = encode_call(contract.abi, fn, args)
        out = self._call(sender or self._accounts[0], to_canonical_address(contract.address), data, block)
        return decode_result(contract.abi, fn, len(args), out)

    def logs(self, contract: Contract, event: str, *, from_block: int = 0) -> list[dict[str, Any]]:
        topic = event_topic(contract, event)
        out: list[dict[str, Any]] = []
        for number in range(from_block, self.block_number() + 1):
            block = self._chain.get_canonical_block_by_number(number)
            for receipt in block.get_receipts(self._chain.chaindb):
                logs = tuple(Log(address=to_checksum_address(e.address),
                                 topics=tuple(t.to_bytes(32, "big") for t in e.topics), data=bytes(e.data))
                             for e in receipt.logs if e.topics and e.topics[0].to_bytes(32, "big") == topic)
                for decoded in decode_events(contract, Receipt(b"", number, 0, logs), event):
                    out.append({**decoded, "blockNumber": number})
        return out

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Receipt:
        return self._transact(contract, fn, args, sender)

    # -- internals -----------------------------------------------------------------------------------
    def _call(self, sender: str, to: bytes, data: bytes, block: int | None = None) -> bytes:
        head = (self._chain.get_canonical_head() if block is None
                else self._chain.get_canonical_block_header_by_number(block))
        vm = self._chain.get_vm(self._chain.header if block is None else head)
        state = vm.state
        nonce = state.get_nonce(to_canonical_address(sender))
        unsigned = vm.create_unsigned_transaction(
            nonce=nonce, gas_price=0, gas=TX_GAS_LIMIT, to=to, value=0, data=data
        )
        tx = SpoofTransaction(unsigned, from_=to_canonical_address(sender))
        with self._chain.get_vm(head).in_costless_state() as costless:
            computation = costless.costless_execute_transaction(tx)
        if computation.is_error:
            raise ChainRevert(revert_reason(bytes(computation.output)))
        return bytes(computation.output)

    def _sign_tx(self, sender: str, to: str | None, data: bytes, value: int) -> SignedTx:
        chain = self._chain
        nonce = int(chain.get_vm(chain.header).state.get_nonce(to_canonical_address(sender)))
        signed = Account.sign_transaction(
            {
                "nonce": nonce,
                "gasPrice": int(chain.header.base_fee_per_gas),
                "gas": TX_GAS_LIMIT,
                "to": to_checksum_address(to) if to else b"",
                "value": value,
                "data": data,
                "chainId": EMBEDDED_CHAIN_ID,
            },
            self._key_of[sender],
        )
        return SignedTx(sender, nonce, bytes(signed.raw_transaction), bytes(signed.hash))

    def _settle_intent(self, intent: TxIntent) -> tuple[IntentState, int | None]:
        """In a canonical block: ``mined`` (a transaction that would revert is never mined here); else its
        nonce still next: mined now (the same signed transaction), or ``refused`` if it reverts now; else
        ``dropped``. Nothing is ever pending: a block is mined and committed with its one transaction."""
        mined_in: int | None = None
        try:
            number, _ = self._chain.chaindb.get_transaction_index(bytes.fromhex(intent.tx_hash[2:]))
            mined_in = int(number)
        except TransactionNotFound:
            pass
        next_nonce = int(self._chain.get_vm(self._chain.header).state.get_nonce(to_canonical_address(intent.sender)))
        return self._settle_in_process_intent(intent, mined_in, next_nonce)

    def _submit(self, signed: SignedTx) -> Receipt:
        """Mine ``signed`` in a block of its own and commit it; :class:`ChainRevert` (nothing persisted) if it
        reverts."""
        chain = self._chain
        vm = chain.get_vm(chain.header)
        tx = vm.get_transaction_builder().decode(signed.raw)
        parent = chain.get_canonical_head()
        timestamp = max(int(time.time()), int(parent.timestamp) + 1)
        header = chain.create_header_from_parent(parent, timestamp=timestamp, gas_limit=BLOCK_GAS_LIMIT)
        vm = chain.get_vm(header)
        new_header, receipts, computations = vm.apply_all_transactions([tx], header)
        computation = computations[0]
        if computation.is_error:
            # nothing was persisted as canonical: the pending header stays on the old head
            raise ChainRevert(revert_reason(bytes(computation.output)))
        block = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), new_header, [tx], receipts, withdrawals=()
        )
        mined = vm.mine_block(block).block
        chain.persist_block(mined)
        chain.header = chain.create_header_from_parent(mined.header, gas_limit=BLOCK_GAS_LIMIT)
        self._commit()
        receipt = receipts[0]
        created = None
        if not tx.to:
            created = to_checksum_address(generate_contract_address(to_canonical_address(signed.sender), signed.nonce))
        gas_used = int(receipt.gas_used)
        logs = tuple(
            Log(
                address=to_checksum_address(entry.address),
                topics=tuple(t.to_bytes(32, "big") for t in entry.topics),
                data=bytes(entry.data),
            )
            for entry in receipt.logs
        )
        return Receipt(
            tx_hash=bytes(tx.hash),
            block_number=int(mined.header.block_number),
            gas_used=gas_used,
            logs=logs,
            contract_address=created,
        )
