"""Both in-process engines (py-evm EmbeddedChain, revm RevmChain): persistence (identical state root after
reopening), snapshots, reverts change nothing, the data directory lock, resuming after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from transactive.ledger.chain.base import Chain, ChainRevert, Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.connect import ENGINES, open_local_chain
from transactive.ledger.chain.embedded import DataDirInUse, EmbeddedChain
from transactive.ledger.chain.revm import RevmChain
from transactive.ledger.testing import ROLE_PROSUMER, ROLE_VALIDATOR, bus


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_(engine: str, data_dir: Path | None = None) -> EmbeddedChain | RevmChain:
    """A new chain of ``engine`` (in memory without ``data_dir``), or the one in ``data_dir``."""
    return open_local_chain(data_dir, engine=engine)


def test_is_a_chain(engine: str) -> None:
    chain = open_(engine)
    assert isinstance(chain, Chain)
    assert chain.block_number() == 0


def test_genesis_is_deterministic(engine: str) -> None:
    assert open_(engine).state_root() == open_(engine).state_root()


def test_reopening_resumes_with_identical_state(engine: str, tmp_path: Path) -> None:
    chain = open_(engine, tmp_path)
    registry = chain.deploy(load_artifact("Registry"))
    member = chain.accounts[3]
    chain.transact(registry, "set_member", member, ROLE_PROSUMER | ROLE_VALIDATOR, bus("bus-7"))
    head, root = chain.block_number(), chain.state_root()
    assert head == 2
    chain.close()

    reopened = open_(engine, tmp_path)
    assert reopened.block_number() == head
    assert reopened.state_root() == root
    assert reopened.call(registry, "bus", member) == bus("bus-7")
    # and it keeps going from there
    reopened.transact(registry, "set_member", chain.accounts[4], ROLE_PROSUMER, bus("bus-8"))
    assert reopened.block_number() == head + 1
    assert reopened.state_root() != root
    reopened.close()


def test_revert_persists_across_reopen(engine: str, tmp_path: Path) -> None:
    chain = open_(engine, tmp_path)
    registry = chain.deploy(load_artifact("Registry"))
    snap, root = chain.snapshot(), chain.state_root()
    chain.transact(registry, "set_member", chain.accounts[1], ROLE_PROSUMER, bus("a"))
    chain.revert(snap)
    assert chain.state_root() == root
    chain.close()
    reopened = open_(engine, tmp_path)
    assert reopened.state_root() == root
    assert reopened.call(registry, "roles", chain.accounts[1]) == 0
    reopened.close()


def test_same_transactions_same_state_root(engine: str) -> None:
    roots = []
    for _ in range(2):
        chain = open_(engine)
        registry = chain.deploy(load_artifact("Registry"))
        chain.transact(registry, "set_member", chain.accounts[2], ROLE_PROSUMER, bus("x"))
        roots.append(chain.state_root())
    assert roots[0] == roots[1]


def test_rejected_transaction_mines_nothing(engine: str) -> None:
    chain = open_(engine)
    registry = chain.deploy(load_artifact("Registry"))
    block, root = chain.block_number(), chain.state_root()
    with pytest.raises(ChainRevert, match="not admin"):
        chain.transact(registry, "set_threshold", 1, sender=chain.accounts[5])
    assert (chain.block_number(), chain.state_root()) == (block, root)
    # the sender's nonce did not move either: its next transaction is accepted
    chain.transact(registry, "is_member", chain.accounts[0], sender=chain.accounts[5])
    assert chain.block_number() == block + 1


def test_data_directory_is_locked_while_open(engine: str, tmp_path: Path) -> None:
    chain = open_(engine, tmp_path)
    with pytest.raises(DataDirInUse, match="in use"):
        open_(engine, tmp_path)
    chain.close()
    open_(engine, tmp_path).close()


_CRASHING_WRITER = """
import os, sys
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.connect import open_local_chain
chain = open_local_chain(sys.argv[1], engine=sys.argv[2])
registry = chain.deploy(load_artifact("Registry"))
chain.transact(registry, "set_member", chain.accounts[2], 1, b"x" * 32)
print(chain.block_number(), chain.state_root().hex(), registry.address, flush=True)
os._exit(9)  # a crash: no close(), no checkpoint, no cleanup
"""


def test_resumes_after_a_crash(engine: str, tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[3] / "src"
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(tmp_path), engine],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)}, check=False,
    )
    assert done.returncode == 9, done.stderr
    block, root_hex, address = done.stdout.split()
    chain = open_(engine, tmp_path)
    assert chain.block_number() == int(block)
    assert chain.state_root().hex() == root_hex
    registry = Contract(name="Registry", address=address, abi=load_artifact("Registry").abi)
    assert chain.call(registry, "roles", chain.accounts[2]) == 1
    chain.close()


def test_the_sqlite_read_cache_equals_the_table(tmp_path: Path) -> None:
    """The key-value store's read cache is write-through: a value read, overwritten or deleted reads as the
    table holds it, a rolled-back write is gone (not served from the cache), and a persisted chain reads the
    same state with a cold cache (a reopened chain) as with a warm one."""
    from transactive.ledger.chain.embedded import _SqliteDB

    db = _SqliteDB(tmp_path / "kv.sqlite")
    try:
        db[b"k"] = b"one"
        db.commit()
        assert db[b"k"] == b"one" and db.exists(b"k")
        db[b"k"] = b"two"
        assert db[b"k"] == b"two"
        db.rollback()  # the uncommitted overwrite is undone in the table: the cache must not keep it
        assert db[b"k"] == b"one"
        del db[b"k"]
        assert not db.exists(b"k")
        with pytest.raises(KeyError):
            db[b"k"]
        db.commit()
    finally:
        db.close()
    chain = EmbeddedChain(tmp_path / "chain")
    registry = chain.deploy(load_artifact("Registry"))
    member = chain.accounts[3]
    chain.transact(registry, "set_member", member, ROLE_PROSUMER, bus("bus-7"))
    warm = (chain.call(registry, "roles", member), chain.state_root())
    chain.close()
    reopened = EmbeddedChain(tmp_path / "chain")
    try:
        assert (reopened.call(registry, "roles", member), reopened.state_root()) == warm == (ROLE_PROSUMER, warm[1])
    finally:
        reopened.close()
