"""Signed per-participant attributes: EIP-712 hashing against eth-account, exact scaling, verification,
the order tree covering them, their inclusion proofs, and the DSO entry of a grid-aware clearing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import ProofError, SlotBatch, attributes_proof, proofs_for, verify_proof
from transactive.ledger.messages.attributes import (
    ParticipantAttributes,
    SignedAttributes,
    attribute_columns,
    check_attributes,
    sign_attributes,
)
from transactive.ledger.messages.commitments import (
    FUND_LEAF,
    ME_LEAF,
    ResultEntry,
    RewardShares,
    market_struct_hash,
    order_tree,
    result_entries,
    settle_entries,
)
from transactive.ledger.messages.orders import OrderError, OrderMessage, sign_order
from transactive.orders import Orders
from transactive.result import Allocation, ClearingResult

DECIMALS9 = st.integers(0, 10**12).map(lambda n: n / 10**9)


def record(signer: Signer, slot: int = 4, **kw: float | str) -> ParticipantAttributes:
    values: dict[str, float | str] = {"bus": "34", "distance_pref_m": 100.0, "a": 0.01, "b": 1.0, "c": 0.5}
    values |= kw
    return ParticipantAttributes.from_values(signer.address, slot=slot, **values)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(bus=st.text(min_size=1, max_size=8), pref=DECIMALS9, a=DECIMALS9, omega=DECIMALS9, slot=st.integers(0, 2**64))
def test_digest_equals_eth_account_and_values_round_trip(  # noqa: PLR0917 - hypothesis arguments
    signers: list[Signer], domain: Domain, bus: str, pref: float, a: float, omega: float, slot: int
) -> None:
    m = ParticipantAttributes.from_values(signers[0].address, slot=slot, bus=bus, distance_pref_m=round(pref, 3),
                                          a=a, omega=omega)
    reference = _hash_eip191_message(encode_typed_data(full_message=m.typed_data(domain)))
    assert m.digest(domain) == reference
    cols = m.columns()  # a decimal with <= 9 fractional digits comes back as the same double
    assert (cols["bus"], cols["distance_pref_m"], cols["a"], cols["omega"]) == (bus, round(pref, 3), a, omega)
    assert ParticipantAttributes.from_eip712(m.as_eip712()) == m


def test_a_wallet_signature_verifies(private_keys: list[bytes], domain: Domain) -> None:
    signer = Signer(private_keys[1])
    m = record(signer)
    wallet = Account.sign_typed_data(private_keys[1], full_message=m.typed_data(domain))
    signed = SignedAttributes(m, bytes(wallet.signature))
    assert signed == sign_attributes(signer, m, domain)
    assert check_attributes([signed], domain, slot=4) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [({"distance_pref_m": -1.0}, "distance_pref_m"), ({"a": float("nan")}, "a"), ({"bus": ""}, "bus"),
     ({"bus": "x" * 33}, "bus"), ({"omega": float("inf")}, "omega")],
)
def test_unsignable_values_name_the_field(signers: list[Signer], change: dict[str, float | str], field: str) -> None:
    with pytest.raises(OrderError, match=field):
        record(signers[0], **change)


def test_check_reasons(signers: list[Signer], domain: Domain) -> None:
    good = [sign_attributes(s, record(s), domain) for s in signers[:3]]
    other_slot = sign_attributes(signers[3], record(signers[3], slot=5), domain)
    changed = replace(good[1], message=replace(good[1].message, cost_b_nano=good[1].message.cost_b_nano + 1))
    elsewhere = Domain(chain_id=1, verifying_contract="0x" + "42" * 20)
    wrong_domain = sign_attributes(signers[4], record(signers[4]), elsewhere)
    batch = [good[0], changed, other_slot, good[2], good[0], wrong_domain]
    assert [(k, e.reason) for k, e in check_attributes(batch, domain, slot=4)] == [
        (1, "signature"), (2, "slot"), (4, "duplicate"), (5, "signature")]


def test_columns_for_messages_to_orders(signers: list[Signer]) -> None:
    records = [record(signers[0]), record(signers[1], bus="248", omega=60.0, alpha=0.2, a=0, b=0, c=0)]
    cols = attribute_columns(records)
    assert cols["bus"] == {signers[0].address: "34", signers[1].address: "248"}
    assert cols["alpha"][signers[1].address] == 0.2 and cols["c"][signers[0].address] == 0.5


def _batch(signers: list[Signer], domain: Domain, *, with_attributes: bool, version: int = 2) -> SlotBatch:
    """Four traders' orders; with attributes, version 2 covers them with the order's signature (the order's
    attributesHash), version 1 (older archives) signs them separately."""
    def attributes_hash(s: Signer) -> bytes | None:
        return None if version == 1 else record(s).struct_hash() if with_attributes else bytes(32)

    orders = tuple(sign_order(s, OrderMessage(s.address, 4, k % 2, 1000 + k, 50_000, 0, attributes_hash(s)),
                              domain) for k, s in enumerate(signers[:4]))
    attrs: tuple[SignedAttributes, ...] = ()
    if with_attributes:
        attrs = tuple(sign_attributes(s, record(s), domain) if version == 1 else SignedAttributes(record(s))
                      for s in signers[:4])
    return SlotBatch(domain, 4, orders, mechanism="dpda_matched", params={"charge_per_km": 0.5},
                     attributes=attrs, dso=signers[5].address)


@pytest.mark.parametrize("version", [1, 2])
def test_batch_commits_attributes_and_proves_them(signers: list[Signer], domain: Domain, version: int) -> None:
    plain = _batch(signers, domain, with_attributes=False, version=version)
    grid = _batch(signers, domain, with_attributes=True, version=version)
    # version 2 (format 3): the market block is the tree's last leaf; version 1 (format 1): orders (+ attributes)
    market = None if version == 1 else market_struct_hash(4, "dpda_matched", {"charge_per_km": 0.5},
                                                          signers[5].address)
    assert plain.order_root == order_tree([o.message for o in plain.orders], (), market).root
    assert grid.order_root != plain.order_root
    assert grid.order_root == order_tree([o.message for o in grid.orders], [a.message for a in grid.attributes],
                                         market).root
    again = SlotBatch.from_json(grid.to_json())
    assert again == grid and again.order_root == grid.order_root and again.dso == signers[5].address
    assert grid.to_json()["format"] == f"transactive.ledger-batch/{2 * version - 1}"  # written in the version it holds
    doc = attributes_proof(grid, signers[2].address)
    assert verify_proof(doc, expected_root=grid.order_root).startswith(f"valid attributes of {signers[2].address}")
    assert [d["kind"] for d in proofs_for(grid, signers[2].address)] == ["order", "attributes"]
    doc["attributes"]["distancePrefMm"] += 1  # the trader claims another preference than it signed
    with pytest.raises(ProofError, match="struct hash"):
        verify_proof(doc, expected_root=grid.order_root)
    tampered = grid.to_json()
    tampered["attributes"][0]["bus"] = "248"
    with pytest.raises(ProofError, match="orderRoot"):  # the stated root no longer matches
        SlotBatch.from_json(tampered)


def _grid_result(charges: list[float]) -> tuple[ClearingResult, Orders, Orders]:
    sellers = Orders.single(["0x" + "11" * 20], [3.0], [0.1])
    buyers = Orders.single(["0x" + "22" * 20, "0x" + "33" * 20], [1.0, 2.0], [0.3, 0.3])
    half = sum(charges) / 2
    trades = [{"charge": c} for c in charges]
    result = ClearingResult("dpda_matched", 0.2, Allocation([3.0], [0.6 - half]),
                            Allocation([1.0, 2.0], [0.2 + half / 3, 0.4 + 2 * half / 3]), {"trades": trades})
    return result, sellers, buyers


def test_dso_entry_and_exact_balance() -> None:
    dso = "0x" + "44" * 20
    result, sellers, buyers = _grid_result([0.0001234, 0.0002345])
    with pytest.raises(ValueError, match="no DSO account"):
        result_entries(result, sellers, buyers)
    entries = result_entries(result, sellers, buyers, dso=dso)
    by_account = {e.account.lower(): e for e in entries}
    # the charges rounded once per slot: 123.4 + 234.5 = 357.9 -> 358 (per trade: 123 + 234 = 357)
    assert by_account[dso] == ResultEntry(dso, 0, 358)
    out = settle_entries(entries, RewardShares(10_000, 10_000), keep=(dso,))
    assert {e.account.lower(): e for e in out}[dso] == by_account[dso]  # the DSO's fee is not shared
    assert sum(e.amount_micro for e in out) == 0  # no reward term: no ME row, the fund's row balances


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.integers(-10**9, 10**9), min_size=2, max_size=8), fee=st.integers(0, 10**6),
       shares=st.tuples(st.integers(0, 300_000), st.integers(0, 300_000)), exchange=st.integers(0, 10**10))
def test_settle_entries_keeps_the_dso_and_balances(
    amounts: list[int], fee: int, shares: tuple[int, int], exchange: int
) -> None:
    accounts = ["0x" + f"{i:02x}" * 20 for i in range(16, 25)]
    dso = accounts[-1]
    entries = [ResultEntry(a, 0, m) for a, m in zip(accounts, amounts, strict=False)] + [ResultEntry(dso, 0, fee)]
    entries += [ResultEntry(FUND_LEAF, 0, -sum(amounts) - fee), ResultEntry(ME_LEAF, 0, exchange)]
    rewards = exchange * shares[0] // 10**6 + exchange * shares[1] // 10**6
    out = settle_entries(entries, RewardShares(*shares), keep=(dso,))
    assert out[: len(amounts) + 1] == entries[: len(amounts) + 1]  # participants and the DSO unchanged
    rows = [e for e in out if e.account != ME_LEAF]
    assert sum(e.amount_micro for e in rows if e.amount_micro > 0) + rewards == -sum(
        e.amount_micro for e in rows if e.amount_micro < 0)


@pytest.mark.parametrize("field", ["slot", "distance_pref_mm", "cost_a_nano", "cost_b_nano", "cost_c_nano",
                                   "omega_nano", "alpha_nano"])
@pytest.mark.parametrize("value", [-1, 2**256, True, 1.0, "7"])
def test_integer_fields_out_of_uint256_name_the_field(field: str, value: object) -> None:
    values: dict[str, object] = {"slot": 4, "distance_pref_mm": 5, "cost_a_nano": 1, "cost_b_nano": 2,
                                 "cost_c_nano": 3, "omega_nano": 4, "alpha_nano": 5, field: value}
    with pytest.raises(OrderError, match=f"{field} must be an integer in uint256"):
        ParticipantAttributes("0x" + "11" * 20, bus="3", **values)  # type: ignore[arg-type]
    values[field] = 2**256 - 1  # the largest value is accepted
    assert ParticipantAttributes("0x" + "11" * 20, bus="3", **values).struct_hash()  # type: ignore[arg-type]


def test_the_json_members_are_the_struct_fields_in_order() -> None:
    """The batch document lists each message's members in its EIP-712 type's field order (the stored bytes
    of a batch depend on it), then the signature; reading them back gives the same message."""
    from transactive.crypto.eip712 import ORDER_FIELDS
    from transactive.ledger.messages.attributes import ATTRIBUTES_FIELDS
    from transactive.ledger.messages.orders import SignedOrder

    signer = Signer(bytes(31) + b"\x07")
    record = ParticipantAttributes.from_values(signer.address, slot=3, bus="12", distance_pref_m=1.5, a=0.25,
                                               b=2.0, c=0.125, omega=3.0, alpha=0.5)
    assert list(record.as_eip712()) == [name for name, _ in ATTRIBUTES_FIELDS]
    assert ParticipantAttributes.from_eip712(record.as_eip712()) == record
    signed = SignedAttributes(record, bytes(65))
    assert list(signed.to_json()) == [*(name for name, _ in ATTRIBUTES_FIELDS), "signature"]
    order = sign_order(signer, OrderMessage(signer.address, 3, 1, 10, 20, 5, record.struct_hash()),
                       Domain(chain_id=1, verifying_contract="0x" + "11" * 20))
    assert list(order.to_json()) == [*(name for name, _ in ORDER_FIELDS), "signature"]
    assert SignedOrder.from_json(order.to_json()) == order
