"""Write-ahead transaction intents (``transactive.ledger.chain.intents``) on both in-process engines (py-evm, revm):
every transaction is recorded before it is mined and closed with its outcome; a process killed before mining it or
after mining it but before closing it is reconciled on resume: the same signed transaction mined exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transactive.ledger.chain.base import ChainRevert, KeyedSender
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.chain.intents import TxIntent, slot_argument
from transactive.ledger.chain.revm import RevmChain
from transactive.ledger.testing import ROLE_PROSUMER, bus
from transactive.store import SqlStore, open_store
from transactive.store import _tables as t

PAYEE = "0x" + "5e" * 20
ENGINES = pytest.mark.parametrize("engine", [EmbeddedChain, RevmChain], ids=["pyevm", "revm"])


class Died(Exception):
    """The process 'dies' here."""


class DyingJournal:
    """The store as a journal; the process dies right after it has the transaction's receipt, before the
    intent's outcome is written."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def close_tx_intent(self, tx_hash: str, state: Any, block_number: int | None) -> None:
        raise Died("before closing the intent")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _chain(tmp_path: Path, store: SqlStore, engine: Any) -> Any:
    chain = engine(tmp_path / "chain")
    chain.use_journal(store)
    return chain


@ENGINES
def test_every_transaction_is_written_ahead_and_closed_with_its_outcome(tmp_path: Path, engine: Any) -> None:
    store = open_store(url="sqlite://")
    chain = _chain(tmp_path, store, engine)
    admin, other = chain.accounts[0], chain.accounts[1]
    registry = chain.deploy(load_artifact("Registry"))
    receipts = [chain.transact(registry, "set_member", other, ROLE_PROSUMER, bus("b")),
                chain.send_value(PAYEE, 7)]
    with pytest.raises(ChainRevert):  # not an admin: refused, nothing mined, its nonce not used
        chain.transact(registry, "set_member", admin, ROLE_PROSUMER, bus("x"), sender=other)
    chain.send_value(PAYEE, 1, sender=other)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.tx_intents).order_by(t.tx_intents.c.id)).all()
    got = [(r.step, r.sender, r.nonce, r.state) for r in rows]
    assert got == [("deploy:Registry", admin, 0, "mined"), ("set_member", admin, 1, "mined"),
                   ("send_value", admin, 2, "mined"), ("set_member", other, 0, "refused"),
                   ("send_value", other, 0, "mined")]
    for row, receipt in zip(rows[1:3], receipts, strict=True):  # the hash written ahead is the mined one
        assert row.tx_hash == "0x" + receipt.tx_hash.hex() == "0x" + keccak(bytes.fromhex(row.raw_tx[2:])).hex()
        assert row.block_number == receipt.block_number
    assert store.open_tx_intents(chain.chain_id) == [] and chain.reconcile() == []
    chain.close()


@ENGINES
def test_killed_before_mining_the_same_transaction_is_mined_once_on_resume(tmp_path: Path, engine: Any) -> None:
    store = open_store(data_dir=tmp_path)
    chain = _chain(tmp_path, store, engine)
    chain.send_value(PAYEE, 1)

    def dies(*_: Any) -> Any:
        raise Died("after writing the intent, before mining")

    chain._submit = dies  # type: ignore[method-assign]
    with pytest.raises(Died):
        chain.send_value(PAYEE, 5)
    (intent,) = store.open_tx_intents(chain.chain_id)
    head = chain.block_number()
    chain.close()

    chain = _chain(tmp_path, store, engine)  # restart
    assert chain.balance(PAYEE) == 1 and chain.block_number() == head  # never mined
    (closed,) = chain.reconcile()
    assert (closed.tx_hash, closed.state, closed.block_number) == (intent.tx_hash, "mined", head + 1)
    assert chain.balance(PAYEE) == 6  # mined once, as signed
    assert chain.reconcile() == [] and chain.block_number() == head + 1
    chain.send_value(PAYEE, 10)  # and the sender's next nonce follows it
    assert chain.balance(PAYEE) == 16
    chain.close()
    store.close()


@ENGINES
def test_killed_after_mining_before_closing_is_recorded_not_sent_again(tmp_path: Path, engine: Any) -> None:
    store = open_store(data_dir=tmp_path)
    chain = engine(tmp_path / "chain")
    chain.use_journal(DyingJournal(store))  # type: ignore[arg-type]
    with pytest.raises(Died):
        chain.send_value(PAYEE, 5)
    head = chain.block_number()
    chain.close()

    chain = _chain(tmp_path, store, engine)  # restart
    (closed,) = chain.reconcile()
    assert (closed.state, closed.block_number) == ("mined", head)
    assert chain.balance(PAYEE) == 5 and chain.block_number() == head  # nothing sent again
    chain.close()
    store.close()


@ENGINES
def test_an_intent_whose_nonce_another_transaction_took_is_dropped(tmp_path: Path, engine: Any) -> None:
    store = open_store(url="sqlite://")
    chain = _chain(tmp_path, store, engine)
    signed = chain._sign_tx(chain.accounts[0], PAYEE, b"", 5)
    store.put_tx_intent(TxIntent(chain.chain_id, "0x" + signed.tx_hash.hex(), signed.sender, signed.nonce,
                                 "0x" + signed.raw.hex(), "send_value"))
    chain.use_journal(None)
    chain.send_value(PAYEE, 2)  # nonce 0 taken by another transaction (sent without the journal)
    chain.use_journal(store)
    (closed,) = chain.reconcile()
    assert closed.state == "dropped" and chain.balance(PAYEE) == 2
    chain.close()


def test_the_slot_of_a_call_is_its_first_argument_named_slot() -> None:
    abi = load_artifact("MarketSlots").abi
    assert slot_argument(abi, "settle_batch", [2**70 + 3, []]) == str(2**70 + 3)
    assert slot_argument(abi, "set_fund", [PAYEE]) is None
    assert slot_argument(load_artifact("EnergyToken").abi, "mint", [PAYEE, 1]) is None


class _Crash(Exception):
    """The process is killed at the drawn point."""


class _CrashingJournal:
    """The store as a journal; the process is killed right after writing an intent (``intent``) or right after the
    transaction is mined, before its outcome is written (``mined``), once."""

    def __init__(self, store: SqlStore, point: str) -> None:
        self.store, self.point = store, point

    def put_tx_intent(self, intent: TxIntent) -> None:
        self.store.put_tx_intent(intent)
        if self.point == "intent":
            self.point = ""
            raise _Crash("after writing the intent")

    def close_tx_intent(self, tx_hash: str, state: Any, block_number: int | None) -> None:
        if self.point == "mined":
            self.point = ""
            raise _Crash("mined, its outcome not written")
        self.store.close_tx_intent(tx_hash, state, block_number)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@ENGINES
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(targets=st.lists(st.integers(1, 5), min_size=1, max_size=4), at=st.integers(0, 3),
       point=st.sampled_from(["before", "intent", "mined", "after"]))
def test_any_crash_point_of_any_step_leaves_each_step_done_exactly_once(
        engine: Any, tmp_path_factory: pytest.TempPathFactory, targets: list[int], at: int, point: str) -> None:
    """A sender that tops the payee up to a running total, one transfer per step, deciding each step from the
    chain (as the desk does), is killed at a drawn point of a drawn step and restarted: after the reconciliation
    and the resumed steps the payee holds the total, and exactly one transfer per step is mined (none twice,
    none lost, nothing left open)."""
    tmp = tmp_path_factory.mktemp("crash")
    store = open_store(data_dir=tmp)
    totals = [sum(targets[:i + 1]) for i in range(len(targets))]
    at = min(at, len(targets) - 1)
    chain = engine(tmp / "chain")
    chain.use_journal(_CrashingJournal(store, point) if point in ("intent", "mined") else store)  # type: ignore[arg-type]

    def run(chain: KeyedSender, crash_at: int | None) -> None:
        for i, total in enumerate(totals):
            if i == crash_at and point == "before":
                raise _Crash("before signing")
            if chain.balance(PAYEE) < total:
                chain.send_value(PAYEE, total - chain.balance(PAYEE))
            if i == crash_at and point == "after":
                raise _Crash("after the step")

    with pytest.raises(_Crash):
        run(chain, at)
    chain.close()
    chain = _chain(tmp, store, engine)  # restart
    chain.reconcile()
    run(chain, None)
    assert chain.balance(PAYEE) == totals[-1]
    with store.engine.connect() as conn:
        states = [r.state for r in conn.execute(sa.select(t.tx_intents.c.state).order_by(t.tx_intents.c.id))]
    assert states == ["mined"] * len(totals)
    chain.close()
    store.close()
