"""Signed orders: conversion from Orders, verification, tampering, wrong domain, replay."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import SIDE_BUY, SIDE_SELL, Domain
from transactive.crypto.signing import Signer, WorkerPool
from transactive.ledger.messages.nonces import InMemoryNonceStore, NonceStore, ReplayError
from transactive.ledger.messages.orders import (
    OrderError,
    OrderMessage,
    SignedOrder,
    messages_to_orders,
    orders_to_messages,
    recover_order_signers,
    sign_order,
    verify_order,
    verify_orders,
)
from transactive.orders import Orders
from transactive.units import energy_to_wh, money_to_micro


def _signed(signer: Signer, domain: Domain, **fields: int) -> SignedOrder:
    base = {"slot": 4, "side": SIDE_SELL, "energy_wh": 1500, "price_micro_per_kwh": 202300, "nonce": 0}
    base.update(fields)
    return sign_order(signer, OrderMessage(signer.address, **base), domain)


def test_valid_order_is_accepted(domain: Domain, signers: list[Signer]) -> None:
    order = _signed(signers[0], domain)
    batch = verify_orders([order], domain, slot=4, nonce_store=InMemoryNonceStore())
    assert batch.accepted == [order] and batch.rejected == []


@pytest.mark.parametrize(
    "change",
    [
        {"slot": 5},
        {"side": SIDE_BUY},
        {"energy_wh": 1501},
        {"price_micro_per_kwh": 202299},
        {"nonce": 1},
    ],
)
def test_tampered_field_is_rejected(domain: Domain, signers: list[Signer], change: dict[str, int]) -> None:
    order = _signed(signers[0], domain)
    tampered = SignedOrder(dataclasses.replace(order.message, **change), order.signature)
    batch = verify_orders([tampered], domain)
    assert batch.accepted == []
    assert [err.reason for _, err in batch.rejected] == ["signature"]


def test_tampered_trader_is_rejected(domain: Domain, signers: list[Signer]) -> None:
    order = _signed(signers[0], domain)
    stolen = SignedOrder(dataclasses.replace(order.message, trader=signers[1].address), order.signature)
    assert [e.reason for _, e in verify_orders([stolen], domain).rejected] == ["signature"]


def test_wrong_chain_or_contract_is_rejected(domain: Domain, signers: list[Signer]) -> None:
    order = _signed(signers[0], domain)
    other_chain = Domain(chain_id=domain.chain_id + 1, verifying_contract=domain.verifying_contract)
    other_contract = Domain(chain_id=domain.chain_id, verifying_contract="0x" + "99" * 20)
    for wrong in (other_chain, other_contract):
        batch = verify_orders([order], wrong)
        assert batch.accepted == [] and batch.rejected[0][1].reason == "signature"


def test_wrong_slot_is_rejected(domain: Domain, signers: list[Signer]) -> None:
    order = _signed(signers[0], domain, slot=3)
    assert verify_orders([order], domain, slot=4).rejected[0][1].reason == "slot"


def test_replayed_nonce_is_rejected(domain: Domain, signers: list[Signer]) -> None:
    store = InMemoryNonceStore()
    assert isinstance(store, NonceStore)
    first = _signed(signers[0], domain, nonce=9)
    assert verify_orders([first], domain, nonce_store=store).accepted == [first]
    # The same order again (e.g. re-broadcast in a later batch) is a replay ...
    assert verify_orders([first], domain, nonce_store=store).rejected[0][1].reason == "replay"
    # ... and so is any other order reusing the nonce, even for another slot.
    again = _signed(signers[0], domain, nonce=9, slot=5)
    assert verify_orders([again], domain, nonce_store=store).rejected[0][1].reason == "replay"
    # Another trader may use the same nonce value; within one batch a repeat is caught without a store.
    other = _signed(signers[1], domain, nonce=9)
    dup = verify_orders([other, other], domain)
    assert dup.accepted == [other] and [(k, e.reason) for k, e in dup.rejected] == [(1, "replay")]
    with pytest.raises(ReplayError):
        store.use(signers[0].address.lower(), 9)


def test_single_order_verification_raises_the_reason(domain: Domain, signers: list[Signer]) -> None:
    store = InMemoryNonceStore()
    order = _signed(signers[4], domain, nonce=1)
    verify_order(order, domain, slot=4, nonce_store=store)
    with pytest.raises(OrderError) as replay:
        verify_order(order, domain, slot=4, nonce_store=store)
    assert replay.value.reason == "replay"
    with pytest.raises(OrderError) as wrong_slot:
        verify_order(_signed(signers[4], domain, nonce=2), domain, slot=5, nonce_store=store)
    assert wrong_slot.value.reason == "slot"


def test_rejected_orders_do_not_consume_nonces(domain: Domain, signers: list[Signer]) -> None:
    store = InMemoryNonceStore()
    order = _signed(signers[0], domain, nonce=3)
    bad = SignedOrder(order.message, order.signature[:64] + b"\x00")
    assert verify_orders([bad], domain, nonce_store=store).accepted == []
    assert not store.is_used(signers[0].address, 3)
    assert verify_orders([order], domain, nonce_store=store).accepted == [order]


def test_signing_someone_elses_order_is_refused(domain: Domain, signers: list[Signer]) -> None:
    message = OrderMessage(signers[1].address, 1, SIDE_BUY, 1, 1, 0)
    with pytest.raises(OrderError, match="signer"):
        sign_order(signers[0], message, domain)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"price_per_kwh": -0.01},
        {"price_per_kwh": float("nan")},
        {"energy_kwh": -1.0},
        {"side": 2},
    ],
)
def test_invalid_messages_cannot_be_built(kwargs: dict[str, float]) -> None:
    fields = {"slot": 1, "side": SIDE_SELL, "energy_kwh": 1.0, "price_per_kwh": 0.1, "nonce": 0}
    fields.update(kwargs)
    with pytest.raises(OrderError):
        OrderMessage.from_kwh("0x" + "11" * 20, **fields)  # type: ignore[arg-type]


def test_from_kwh_uses_unit_rounding() -> None:
    m = OrderMessage.from_kwh(
        "0x" + "11" * 20, slot=1, side=SIDE_BUY, energy_kwh=1.2345, price_per_kwh=0.2023, nonce=0
    )
    assert (
        (m.energy_wh, m.price_micro_per_kwh)
        == (energy_to_wh(1.2345), money_to_micro(0.2023))
        == (1234, 202300)
    )


def test_wallet_typed_data_signature_equals_ours(
    domain: Domain, signers: list[Signer], private_keys: list[bytes]
) -> None:
    order = _signed(signers[3], domain, nonce=77, side=SIDE_BUY)
    wallet = Account.sign_typed_data(private_keys[3], full_message=order.message.typed_data(domain))
    assert bytes(wallet.signature) == order.signature
    assert verify_orders([SignedOrder(order.message, bytes(wallet.signature))], domain).accepted


def test_json_roundtrip(domain: Domain, signers: list[Signer]) -> None:
    order = _signed(signers[2], domain, nonce=2**200)
    again = SignedOrder.from_json(order.to_json())
    assert again == order
    with pytest.raises(OrderError):
        SignedOrder.from_json({k: v for k, v in order.to_json().items() if k != "nonce"})


def test_orders_roundtrip_through_messages(domain: Domain, signers: list[Signer]) -> None:
    sellers = Orders.from_blocks(["a", "b"], [[(1.5, 0.05), (2.0, 0.08)], [(0.25, 0.1)]])
    buyers = Orders.single(["c"], [3.0], [0.2023])
    traders = {pid: signers[k].address for k, pid in enumerate("abc")}
    sell = orders_to_messages(sellers, side=SIDE_SELL, slot=8, traders=traders, nonce_start={"a": 10})
    buy = orders_to_messages(buyers, side=SIDE_BUY, slot=8, traders=traders)
    assert [m.nonce for m in sell] == [10, 11, 0] and [m.nonce for m in buy] == [0]
    by_address = {s.address: s for s in signers}
    signed = [sign_order(by_address[m.trader], m, domain) for m in [*sell, *buy]]
    store = InMemoryNonceStore()
    assert len(verify_orders(signed, domain, slot=8, nonce_store=store).accepted) == 4
    s2, b2 = messages_to_orders(o.message for o in signed)
    assert s2.ids == (traders["a"], traders["b"]) and b2.ids == (traders["c"],)
    np.testing.assert_array_equal(s2.energy_kwh, sellers.energy_kwh)
    np.testing.assert_array_equal(s2.price_per_kwh, sellers.price_per_kwh)
    np.testing.assert_array_equal(s2.owner, sellers.owner)
    np.testing.assert_array_equal(b2.price_per_kwh, buyers.price_per_kwh)
    empty_sell, _ = messages_to_orders(o.message for o in signed[3:])
    assert empty_sell.n == 0
    buses = {traders["a"].lower(): 4, traders["b"]: 9, traders["c"]: 17}
    s3, b3 = messages_to_orders((o.message for o in signed), attributes={"bus": buses})
    assert s3.attributes["bus"].tolist() == [4, 9] and b3.attributes["bus"].tolist() == [17]
    with pytest.raises(OrderError, match="no bus"):
        messages_to_orders((o.message for o in signed), attributes={"bus": {traders["a"]: 4}})
    with pytest.raises(OrderError):
        orders_to_messages(sellers, side=SIDE_SELL, slot=8, traders={"a": signers[0].address})


def test_parallel_verification_equals_serial(domain: Domain, signers: list[Signer]) -> None:
    rng = random.Random(11)
    orders = [
        _signed(signers[k % 8], domain, nonce=k, energy_wh=rng.randint(0, 10**6), side=k % 2)
        for k in range(80)
    ]
    orders[17] = SignedOrder(dataclasses.replace(orders[17].message, energy_wh=1), orders[17].signature)
    serial = recover_order_signers(orders, domain, workers=1)
    with WorkerPool(workers=2, parallel_threshold=16) as pool:
        parallel = recover_order_signers(orders, domain, pool=pool)
        batch = verify_orders(orders, domain, pool=pool)
    assert serial == parallel
    assert [k for k, _ in batch.rejected] == [17]
    assert all(serial[k] == orders[k].message.trader_bytes for k in range(80) if k != 17)


@settings(max_examples=40)
@given(
    energy=st.integers(0, 2**256 - 1),
    price=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**256 - 1),
    slot=st.integers(0, 2**256 - 1),
    side=st.sampled_from([SIDE_SELL, SIDE_BUY]),
    who=st.integers(0, 7),
)
def test_any_in_range_order_roundtrips(  # noqa: PLR0917 - hypothesis arguments
    energy, price, nonce, slot, side, who, domain, signers
) -> None:
    order = _signed(
        signers[who], domain, energy_wh=energy, price_micro_per_kwh=price, nonce=nonce, slot=slot, side=side
    )
    assert verify_orders([SignedOrder.from_json(order.to_json())], domain).accepted == [order]


def test_an_empty_side_keeps_the_attribute_columns() -> None:
    # a grid-aware batch with sellers only: the buyers' (empty) side still carries the columns, so a
    # grid-aware mechanism clears it to nothing instead of failing on a missing column
    trader = "0x" + "11" * 20
    message = OrderMessage(trader, 3, SIDE_SELL, 1500, 15_000, 0)
    sellers, buyers = messages_to_orders([message], attributes={"bus": {trader: "34"}, "a": {trader: 0.001}})
    assert buyers.n == 0 and set(buyers.attributes) == {"bus", "a"}
    assert list(sellers.attributes["bus"]) == ["34"]
    _, plain = messages_to_orders([message])
    assert plain.n == 0 and not plain.attributes


_TRADERS = ["0x" + f"{k + 1:02x}" * 20 for k in range(6)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([SIDE_SELL, SIDE_BUY]), st.integers(0, 10**7),
                          st.integers(0, 10**9)), max_size=30))
def test_decoding_groups_interleaved_blocks_per_trader_in_batch_order(
    rows: list[tuple[int, int, int, int]]
) -> None:
    # oracle: a trader's blocks in batch order, the traders in order of first appearance, per side
    messages = [OrderMessage(_TRADERS[k], 1, side, wh, micro, n) for n, (k, side, wh, micro) in enumerate(rows)]
    buses = {m.trader.lower(): f"bus{m.trader[-1]}" for m in messages}  # keys not in EIP-55: canonicalised
    sellers, buyers = messages_to_orders(messages, attributes={"bus": buses} if messages else None)
    for side, orders in ((SIDE_SELL, sellers), (SIDE_BUY, buyers)):
        grouped: dict[str, list[tuple[float, float]]] = {}
        for m in messages:
            if m.side == side:
                grouped.setdefault(m.trader, []).append((m.energy_wh / 1000, m.price_micro_per_kwh / 10**6))
        assert orders.ids == tuple(grouped)
        blocks = [b for bs in grouped.values() for b in bs]
        assert orders.energy_kwh.tolist() == [e for e, _ in blocks]
        assert orders.price_per_kwh.tolist() == [p for _, p in blocks]
        assert orders.owner.tolist() == [k for k, bs in enumerate(grouped.values()) for _ in bs]
        if messages:
            assert orders.attributes["bus"].tolist() == [f"bus{t[-1]}" for t in grouped]


@given(st.binary(min_size=20, max_size=20))
def test_every_spelling_of_a_trader_is_one_message(raw: bytes) -> None:
    """An order and an attributes record read the trader the same way from any valid spelling (EIP-55 form
    and 20 bytes, as eth-account derives them); a flipped checksum letter or a non-string names ``trader``."""
    from eth_utils.address import to_checksum_address as eth_checksum

    from transactive.ledger.messages.attributes import ParticipantAttributes

    good = eth_checksum(raw)
    spellings = [good, good.lower(), "0x" + good[2:].upper()]
    orders = [OrderMessage(s, 1, 0, 10, 20, 0) for s in spellings]
    records = [ParticipantAttributes(s, 1, "b", 5) for s in spellings]
    assert {(m.trader, m.trader_bytes, m.struct_hash()) for m in orders} == {(good, raw, orders[0].struct_hash())}
    assert {(r.trader, r.trader_bytes, r.struct_hash()) for r in records} == {(good, raw, records[0].struct_hash())}
    letters = [k for k, ch in enumerate(good) if k >= 2 and ch.isalpha()]
    flipped = good[:letters[0]] + good[letters[0]].swapcase() + good[letters[0] + 1:] if letters else None
    bad_values: list[object] = [raw, 7] + ([flipped] if flipped and flipped[2:] not in
                                           (flipped[2:].lower(), flipped[2:].upper()) else [])
    for bad in bad_values:
        with pytest.raises(OrderError, match="trader") as err:
            OrderMessage(bad, 1, 0, 10, 20, 0)  # type: ignore[arg-type]
        assert err.value.reason == "field"
        with pytest.raises(OrderError, match="trader"):
            ParticipantAttributes(bad, 1, "b", 5)  # type: ignore[arg-type]
