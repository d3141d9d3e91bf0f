"""The ledger tables (schema 3) on SQLite and PostgreSQL: custodial accounts, metadata, compare-and-set slot
records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from transactive.store import ChainAccount, Community, LedgerSlot, Member, SqlStore

T = "2026-03-01T10:00:00.000000Z"
A1 = "0x" + "11" * 20
A2 = "0x" + "22" * 20


def _setup(store: SqlStore) -> None:
    assert store.create_community(Community("c", "dpda", {}, 15, T))
    assert store.create_community(Community("d", "dpda", {}, 15, T))
    assert store.add_member(Member("m1", "c", "prosumer", "h1"))
    assert store.add_member(Member("m2", "d", "prosumer", "h2"))


def test_chain_accounts_are_one_per_member_and_address(store: SqlStore) -> None:
    _setup(store)
    first = ChainAccount("m1", A1, "ab" * 32)
    assert store.put_chain_account(first)
    assert not store.put_chain_account(ChainAccount("m1", A2, None))  # one account per member
    assert not store.put_chain_account(ChainAccount("m2", A1, None))  # an address belongs to one member
    assert store.put_chain_account(ChainAccount("m2", A2, None))
    assert store.chain_account("m1") == first
    assert [a.member for a in store.chain_accounts()] == ["m1", "m2"]
    assert [a.member for a in store.chain_accounts("d")] == ["m2"]
    store.mark_enrolled("m1")
    assert store.chain_account("m1") == replace(first, enrolled=True)


def test_bulk_chain_accounts_store_what_one_at_a_time_stores(store: SqlStore) -> None:
    """put_chain_accounts (one executemany) keeps exactly the accounts put_chain_account, called for each in turn,
    keeps: the first per member and per address (stored before or earlier in the batch), keys sealed and opened."""
    _setup(store)
    members = [f"{prefix}{i}" for prefix in ("a", "b") for i in range(6)]
    for m in members:
        assert store.add_member(Member(m, "c", "prosumer", "h" + m))
    assert store.put_chain_account(ChainAccount("a0", "0x" + "a0" * 20, None))  # stored before: a0 and its address
    assert store.put_chain_account(ChainAccount("b0", "0x" + "b0" * 20, None))

    def batch(prefix: str) -> list[ChainAccount]:
        def address(tag: str) -> str:
            return "0x" + f"{prefix}{tag}" * 20
        return [ChainAccount(f"{prefix}0", address("9"), None),  # the member has an account already
                ChainAccount(f"{prefix}1", address("1"), f"{prefix}1" * 32, True),
                ChainAccount(f"{prefix}2", address("0"), None),  # the address is another member's
                ChainAccount(f"{prefix}3", address("3"), "cd" * 32),
                ChainAccount(f"{prefix}3", address("4"), None),  # twice in the batch: the first one counts
                ChainAccount(f"{prefix}4", address("3"), None),  # an address taken earlier in the batch
                ChainAccount(f"{prefix}5", address("5"), None)]

    for account in batch("a"):
        store.put_chain_account(account)
    store.put_chain_accounts(batch("b"))
    kept = {a.member: a for a in store.chain_accounts("c")}

    def renamed(account: ChainAccount, prefix: str) -> tuple[object, ...]:  # the batch's letter taken out
        key = account.private_key_hex
        return (account.member[1:], account.address.lower().replace(prefix, ""),
                None if key is None else key.replace(prefix, ""), account.enrolled)

    one_by_one = sorted(renamed(a, "a") for m, a in kept.items() if m.startswith("a"))
    bulk = sorted(renamed(a, "b") for m, a in kept.items() if m.startswith("b"))
    assert bulk == one_by_one and len(bulk) == 4
    assert kept["b1"] == ChainAccount("b1", "0x" + "b1" * 20, "b1" * 32, True)
    assert store.chain_account_addresses("c") == {m: a.address for m, a in kept.items()}  # without the keys
    assert store.chain_account_addresses("d") == {} and store.chain_account_addresses("nope") == {}


def test_meta_keeps_the_first_value(store: SqlStore) -> None:
    assert store.ledger_meta("deployment") is None
    assert store.put_ledger_meta("deployment", {"Registry": A1}) == {"Registry": A1}
    assert store.put_ledger_meta("deployment", {"Registry": A2}) == {"Registry": A1}  # a racing second deploy loses
    assert store.ledger_meta("deployment") == {"Registry": A1}


def test_ledger_slots_compare_and_set(store: SqlStore) -> None:
    _setup(store)
    big = 2**200 + 1  # on-chain slot numbers exceed 64 bits
    rec = LedgerSlot("c", "2026-03-01T10:15:00Z", "clearing", big, "batched", {"txs": {}}, T)
    assert store.put_ledger_slot(rec, None)
    assert not store.put_ledger_slot(replace(rec, state="other"), None)  # exists
    moved = replace(rec, state="anchored", document={"txs": {"open_slot": "0x01"}})
    assert not store.put_ledger_slot(moved, "anchored")  # stale expectation: nothing written
    assert store.get_ledger_slot("c", rec.slot_start, "clearing") == rec
    assert store.put_ledger_slot(moved, "batched")
    assert store.get_ledger_slot("c", rec.slot_start, "clearing") == moved
    assert store.get_ledger_slot("c", rec.slot_start, "settlement") is None
    assert store.ledger_slots("c", "clearing", "anchored") == [moved]
    assert store.ledger_slots("c", "clearing", "batched") == []


def test_a_ledger_slot_read_without_its_batch(store: SqlStore) -> None:
    """get_ledger_slot(without=key): the record with its document minus that key (dropped by the database),
    every other value as stored (floats, big integers, nested rows, unicode); a document without the key as is."""
    _setup(store)
    document = {"version": 1, "batch": {"orders": [{"energyWh": 1, "sig": "0x" + "ab" * 65}] * 50},
                "orderRoot": "0x" + "12" * 32, "txs": {"open_and_commit": "0x01"}, "note": None,
                "results": [{"account": A1, "energyWh": -2500, "amountMicro": -375_000}],
                "odd": {"f": [0.1, 1e-07, -3.5e300, 2**70], "s": "é \"x\"", "t": True, "e": []}}
    rec = LedgerSlot("c", "2026-03-01T10:15:00Z", "clearing", 2**200 + 1, "anchored", document, T)
    assert store.put_ledger_slot(rec, None)
    lean = store.get_ledger_slot("c", rec.slot_start, "clearing", without="batch")
    assert lean == replace(rec, document={k: v for k, v in document.items() if k != "batch"})
    assert store.get_ledger_slot("c", rec.slot_start, "clearing", without="absent") == rec
    assert store.get_ledger_slot("c", rec.slot_start, "settlement", without="batch") is None
    with pytest.raises(ValueError, match="plain key"):
        store.get_ledger_slot("c", rec.slot_start, "clearing", without="$.x")


def test_slots_still_to_anchor_and_to_settle(store: SqlStore) -> None:
    """Only the slot keys still needing the ledger, from ``since`` on, by a join (compared with the brute
    force over every slot and record below)."""
    from transactive.store import ResultRecord, Slot, SlotState

    _setup(store)
    starts = [f"2026-03-01T{h:02d}:{m:02d}:00Z" for h in (9, 10) for m in (0, 15, 30, 45)]
    clearing = {starts[1]: "anchored", starts[2]: "anchored", starts[3]: "batched", starts[4]: "unsupported",
                starts[5]: "anchored", starts[6]: "anchored"}
    settlement = {starts[1]: "settled", starts[2]: "batched", starts[6]: "settled"}
    for i, start in enumerate(starts):
        if i == 7:
            assert store.finish_slot(Slot("c", start, 15, SlotState.VOID, "no buyers"), None)
            continue
        assert store.finish_slot(Slot("c", start, 15, SlotState.CLEARED), ResultRecord("c", start, {}, T))
        for kind, states in (("clearing", clearing), ("settlement", settlement)):
            if start in states:
                assert store.put_ledger_slot(LedgerSlot("c", start, kind, i, states[start], {"big": "x"}, T), None)
    assert store.finish_slot(Slot("d", starts[0], 15, SlotState.CLEARED), ResultRecord("d", starts[0], {}, T))
    for since in (starts[0], starts[3], "2026-03-02T00:00:00Z"):
        to_anchor = [s for s in starts[:7] if s >= since and clearing.get(s, "batched") == "batched"]
        to_settle = [s for s in starts
                     if s >= since and clearing.get(s) == "anchored" and settlement.get(s) != "settled"]
        assert store.slots_to_anchor("c", since) == to_anchor
        assert store.slots_to_settle("c", since) == to_settle
    assert store.slots_to_anchor("c", starts[0]) == [starts[0], starts[3]]
    assert store.slots_to_settle("c", starts[0]) == [starts[2], starts[5]]
    assert store.slots_to_anchor("d", starts[0]) == [starts[0]]
