"""The service dies at a crash point of a real run (the embedded chain wrapped so that the process 'dies' right
after it sent a given transaction) and restarts: the audit archive (`transactive ledger verify`) still agrees
with the chain: the endorsements of a result submitted just before the crash, the mint of an enrolment
interrupted right after it; the hash of the transaction sent just before the crash is in the slot's record.

On a JSON-RPC node whose blocks come at a period (hardhat with automine off, :class:`chain_support.PoolNode`) the
process dies right after broadcasting a transaction, which waits in the node's pool: the resumed desk
reconciles its written-ahead intent (waits for it) before deciding what to send, so the step is done once (a
mint is not minted twice, a settlement not sent again) and its hash is recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from chain_support import Died as Killed
from chain_support import PoolNode, hardhat_url  # noqa: F401 - fixture
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain, Contract
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.clearance.endorsement import valid_endorsements
from transactive.market import ManualClock, Operator
from transactive.market.ledger.config import MAX_UINT
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.store import Member, open_store

SLOT = "2026-03-01T10:15:00Z"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


class Died(Exception):
    """The service 'dies' here."""


class DyingChain:
    """The real embedded chain; the process 'dies' right after the ``nth`` transaction calling ``fn`` was sent
    (it is on chain, the service never sees its receipt)."""

    def __init__(self, inner: EmbeddedChain, fn: str, nth: int = 1) -> None:
        self.inner, self.fn, self.left = inner, fn, nth
        self.sent: Any = None  # the receipt of the transaction sent right before dying

    def transact(self, contract: Contract, fn: str, *args: Any, sender: str | None = None) -> Any:
        receipt = self.inner.transact(contract, fn, *args, sender=sender)
        if fn == self.fn:
            self.left -= 1
            if self.left == 0:
                self.sent = receipt
                raise Died(f"after {fn}")
        return receipt

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class DiesAfterIntent:
    """The real embedded chain; the process 'dies' right after the intent of the transaction of ``step`` is
    written, before the transaction is mined (the chain's journal wrapped)."""

    def __init__(self, inner: EmbeddedChain, step: str) -> None:
        self.inner, self.step = inner, step
        self.intent: Any = None

    def use_journal(self, journal: Any) -> None:
        outer = self

        class Journal:
            def put_tx_intent(self, intent: Any) -> None:
                journal.put_tx_intent(intent)
                if intent.step == outer.step and outer.intent is None:
                    outer.intent = intent
                    raise Died(f"after writing the intent of {intent.step}")

            def __getattr__(self, name: str) -> Any:
                return getattr(journal, name)

        self.inner.use_journal(Journal())  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _desk(tmp_path: Path, store: Any, fn: str | None = None, nth: int = 1) -> LedgerDesk:
    config = LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path)
    chain = None if fn is None else cast(Chain, DyingChain(EmbeddedChain(config.chain_dir), fn, nth))
    return LedgerDesk(store, config, chain=chain, started=T0)


def test_death_right_after_submit_result_keeps_the_endorsements(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    desk = _desk(tmp_path, store, "submit_result")
    op.ledger = desk
    op.create_community("c", "dpda", {}, 15)
    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                  ("b2", "buy", 2, 0.18)]:
        member, _ = op.add_member("c", who, "prosumer", "34")
        op.submit_order(member, "c", {"side": side, "slot_start": SLOT, "idempotency_key": "k", "energy_kwh": kwh,
                                      "price_per_kwh": price})
    op.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # type: ignore[attr-defined]
    assert op.clear_slot("c", datetime.fromisoformat(SLOT)).state.value == "cleared"
    with pytest.raises(Died):
        desk.anchor("c", SLOT)
    number = desk.store.get_ledger_slot("c", SLOT, "clearing").chain_slot  # type: ignore[union-attr]
    assert desk.chain.call(desk.slots, "slots", number)[0] == 3  # CLEARED on chain: the result was submitted
    sent = "0x" + cast(DyingChain, desk.chain).sent.tx_hash.hex()
    desk.close()

    desk = _desk(tmp_path, store)  # restart
    start = desk.chain.block_number()
    rec = desk.anchor("c", SLOT)
    assert rec.state == "anchored" and desk.chain.block_number() == start  # nothing sent again
    assert rec.document["txs"]["submit_result"] == sent  # its hash from the intent written before sending it
    saved = SlotBatch.from_json(json.loads(SlotArchive(tmp_path).slot_path(number).read_text(encoding="utf-8")))
    root = bytes(desk.chain.call(desk.slots, "slots", number)[6])
    agreeing = valid_endorsements(desk.domain, number, saved.order_root, root, signatures=saved.endorsements,
                                  validators=[v.address for v in desk.validators])
    assert len(agreeing) >= desk.config.threshold  # the archived endorsements are the submitted ones
    assert verify_archive(tmp_path, chain=desk.chain) is None
    desk.close()
    store.close()


def test_death_between_the_intent_and_the_send_sends_it_once_as_signed(tmp_path: Path) -> None:
    """Killed with ``open_and_commit`` signed and written ahead but not mined: the restarted desk mines that same
    transaction (reconciled when it takes the writer lock) and does not open or commit the slot again."""
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    config = LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path)
    dying = DiesAfterIntent(EmbeddedChain(config.chain_dir), "open_and_commit")
    desk = op.ledger = LedgerDesk(store, config, chain=cast(Chain, dying), started=T0)
    op.create_community("c", "dpda", {}, 15)
    _orders(op)
    op.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # type: ignore[attr-defined]
    assert op.clear_slot("c", datetime.fromisoformat(SLOT)).state.value == "cleared"
    with pytest.raises(Died):
        desk.anchor("c", SLOT)
    number = store.get_ledger_slot("c", SLOT, "clearing").chain_slot  # type: ignore[union-attr]
    assert desk.chain.call(desk.slots, "slots", number)[0] == 0  # CLOSE: neither opened nor committed
    desk.close()

    desk = _desk(tmp_path, store)  # restart
    start = desk.chain.block_number()
    rec = desk.anchor("c", SLOT)
    assert rec.state == "anchored" and desk.chain.block_number() == start + 2  # the written-ahead commit + submit
    assert rec.document["txs"]["open_and_commit"] == dying.intent.tx_hash  # the transaction signed before dying
    assert [(i.step, i.state) for i in store.tx_intents(str(number))] == [
        # the resumed round tries open_and_commit first (no read of the slot): the chain refuses it, nothing mined
        ("open_and_commit", "mined"), ("open_and_commit", "refused"), ("submit_result", "mined")]
    assert verify_archive(tmp_path, chain=desk.chain) is None
    desk.close()
    store.close()


def test_death_between_mint_and_journal_is_journaled_once(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    desk = _desk(tmp_path, store, "mint_batch")  # enrolment's batch mint (the deployment mints by "mint")
    op.ledger = desk
    op.create_community("c", "dpda", {}, 15)
    member, _ = op.add_member("c", "p1", "prosumer", "34")  # enrolment dies right after the mint (logged)
    account = store.chain_account("p1")
    assert account is not None and not account.enrolled
    assert desk.balance_micro(account.address) == 1_000 * 10**6  # minted on chain
    desk.close()

    desk = _desk(tmp_path, store)  # restart: enrolment is retried
    desk.enrol_all()
    account = store.chain_account("p1")
    assert account is not None and account.enrolled
    assert desk.balance_micro(account.address) == 1_000 * 10**6  # not minted twice
    supply = int(desk.chain.call(desk.token, "totalSupply"))
    assert SlotArchive(tmp_path).manifest()["mintedMicro"] == supply == 2 * 1_000 * 10**6
    assert verify_archive(tmp_path, chain=desk.chain) is None
    desk.enrol(member)  # idempotent
    assert SlotArchive(tmp_path).manifest()["mintedMicro"] == supply
    desk.close()
    store.close()


def _members(store: Any, n: int) -> list[Member]:
    members = [Member(f"m{i}", "c", "prosumer" if i % 5 else "aggregator", f"h{i}", f"bus-{i % 7}") for i in range(n)]
    for m in members:
        assert store.add_member(m)
    return members


@pytest.mark.parametrize("dies_after", ["set_members", "mint_batch", "permit_batch"])
def test_batch_enrolment_dies_and_is_completed_once(tmp_path: Path, dies_after: str) -> None:
    """Batch enrolment of 450 members (3 batches of each call) dies after its 2nd ``dies_after`` transaction; the
    restart completes it: every account registered with its role and bus, minted once, approving MarketSlots,
    and the audit archive agrees with the chain."""
    store = open_store(data_dir=tmp_path)
    Operator(store, ManualClock(T0)).create_community("c", "dpda", {}, 15)
    members = _members(store, 450)
    desk = _desk(tmp_path, store, dies_after, nth=2)
    with pytest.raises(Died):
        desk.enrol_many(members)
    desk.close()

    desk = _desk(tmp_path, store)  # restart
    accounts = desk.enrol_many(members)
    assert set(accounts) == {m.id for m in members} and all(a.enrolled for a in accounts.values())
    chain = desk.chain
    for m in members[::37]:
        address = accounts[m.id].address
        assert chain.call(desk.registry, "roles", address) == (1 if m.role == "prosumer" else 2)
        assert bytes(chain.call(desk.registry, "bus", address)).rstrip(b"\x00").decode() == m.bus
        assert desk.balance_micro(address) == 1_000 * 10**6
        assert chain.call(desk.token, "allowance", address, desk.slots.address) == MAX_UINT
    supply = int(chain.call(desk.token, "totalSupply"))
    assert supply == (1 + 450) * 1_000 * 10**6  # the service's own account + one mint per member
    assert SlotArchive(tmp_path).manifest()["mintedMicro"] == supply
    assert verify_archive(tmp_path, chain=desk.chain) is None
    block = chain.block_number()
    assert desk.enrol_many(members) == accounts and chain.block_number() == block  # idempotent: nothing sent
    desk.close()
    store.close()


def test_bulk_bus_read_after_restart_matches_the_enrolled_buses(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    Operator(store, ManualClock(T0)).create_community("c", "dpda", {}, 15)
    members = _members(store, 230)
    desk = _desk(tmp_path, store)
    desk.enrol_many(members)
    enrolled_cache = dict(desk.ctx.bus_cache)
    desk.close()
    desk = _desk(tmp_path, store)  # restart: an empty bus cache
    assert desk.ctx.bus_cache == {}
    addresses = [a.address for a in store.chain_accounts("c")]
    desk.read_registry_buses(addresses)
    by_member = {a.address: a.member for a in store.chain_accounts("c")}
    assert desk.ctx.bus_cache == enrolled_cache
    assert all(desk.ctx.bus_cache[a] == store.get_member(by_member[a]).bus for a in addresses)  # type: ignore[union-attr]
    desk.close()
    store.close()


def _orders(op: Operator) -> dict[str, Member]:
    members = {}
    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                  ("b2", "buy", 2, 0.18)]:
        members[who], _ = op.add_member("c", who, "prosumer", "34")
        op.submit_order(members[who], "c", {"side": side, "slot_start": SLOT, "idempotency_key": "k",
                                            "energy_kwh": kwh, "price_per_kwh": price})
    return members


def _pool_desk(url: str, tmp_path: Path, store: Any, die_after: str | None = None) -> LedgerDesk:
    """A desk on the hardhat node with blocks at a period (a process of a fleet, started anew)."""
    chain = cast(Chain, PoolNode(url, die_after=die_after))
    return LedgerDesk(store, LedgerConfig(archive_dir=tmp_path), chain=chain, started=T0)


def test_mint_pooled_at_the_crash_is_minted_once(hardhat_url: str, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    desk = op.ledger = _pool_desk(hardhat_url, tmp_path, store, "mint_batch")
    op.create_community("c", "dpda", {}, 15)
    op.add_member("c", "p1", "prosumer", "34")  # enrolment dies right after broadcasting the mint (logged)
    dying = cast(PoolNode, desk.chain)
    assert dying.died_with is not None and dying.pending(dying.died_with)  # in the pool, not mined
    account = store.chain_account("p1")
    assert account is not None and not account.enrolled
    desk.close()

    desk = _pool_desk(hardhat_url, tmp_path, store)  # another process resumes the enrolment
    desk.enrol_all()
    account = store.chain_account("p1")
    assert account is not None and account.enrolled
    assert desk.balance_micro(account.address) == 1_000 * 10**6  # the pooled mint, not a second one
    supply = int(desk.chain.call(desk.token, "totalSupply"))
    assert SlotArchive(tmp_path).manifest()["mintedMicro"] == supply == 2 * 1_000 * 10**6
    assert store.open_tx_intents(desk.chain.chain_id) == []
    assert verify_archive(tmp_path, chain=desk.chain) is None
    desk.close()
    store.close()


def test_settlement_pooled_at_the_crash_is_settled_once_with_its_hash(hardhat_url: str,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    op = Operator(store, ManualClock(T0))
    desk = op.ledger = _pool_desk(hardhat_url, tmp_path, store, "submit_and_settle")
    op.create_community("c", "dpda", {}, 15)
    members = _orders(op)
    op.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # type: ignore[attr-defined]
    assert op.clear_slot("c", datetime.fromisoformat(SLOT)).state.value == "cleared"
    assert desk.anchor("c", SLOT).state == "anchored"
    op.clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))  # type: ignore[attr-defined]
    for who, kwh in (("s1", 2.9), ("s2", 2.0), ("b1", -2.5), ("b2", -2.1)):
        op.submit_meter_reading(members[who], "c", {"slot_start": SLOT, "energy_kwh": kwh})
    accounts = [a.address for a in store.chain_accounts()] + [desk.admin]
    before = {a: desk.balance_micro(a) for a in accounts}
    with pytest.raises(Killed):
        desk.settle("c", SLOT, op.clock.now())
    sent = cast(PoolNode, desk.chain).died_with
    assert sent is not None and cast(PoolNode, desk.chain).pending(sent)
    desk.close()

    desk = _pool_desk(hardhat_url, tmp_path, store)  # another process resumes the settlement
    rec = desk.settle("c", SLOT, op.clock.now())
    assert rec.state == "settled" and rec.document["txs"]["submit_and_settle"] == sent  # the pooled one, recorded
    multi = store.get_multi_settlement("c", SLOT)
    assert multi is not None and multi.document["ledger"]["txs"]["submit_and_settle"] == sent
    moved = {a: desk.balance_micro(a) - before[a] for a in accounts}
    posted = {p["account"]: p["amount_micro"] for p in rec.document["postings"]}
    assert {a: m for a, m in moved.items() if m} == {a: m for a, m in posted.items() if m and a in moved}  # once
    assert any(moved.values())
    assert [i.state for i in store.tx_intents(str(rec.chain_slot)) if i.step == "submit_and_settle"] == ["mined"]
    assert verify_archive(tmp_path, chain=desk.chain) is None
    desk.close()
    store.close()
