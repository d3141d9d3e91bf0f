"""Order / result commitments, the batch file, JSON inclusion proofs and endorsements, end to end."""

from __future__ import annotations

import copy
import dataclasses
import doctest
import importlib
import json
from pathlib import Path

import pytest
from eth_abi import encode as eth_abi_encode
from eth_utils import keccak as eth_utils_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import SIDE_BUY, SIDE_SELL, Domain
from transactive.crypto.merkle import MerkleTree, verify
from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import (
    ProofError,
    SlotBatch,
    audit_batch,
    load_batch,
    make_proof,
    order_proof,
    proofs_for,
    result_proof,
    save_batch,
    verify_proof,
    verify_proof_file,
)
from transactive.ledger.clearance.endorsement import (
    count_endorsements,
    endorse,
    require_endorsements,
    valid_endorsements,
)
from transactive.ledger.messages.commitments import (
    FUND_LEAF,
    ResultEntry,
    order_leaf,
    order_tree,
    result_entries,
    result_leaf,
    result_tree,
)
from transactive.ledger.messages.orders import OrderMessage, messages_to_orders, sign_order
from transactive.mechanisms._registry import NoParams
from transactive.mechanisms.uniform import clear_uniform
from transactive.orders import Orders
from transactive.result import Allocation, ClearingResult
from transactive.units import energy_to_wh, money_to_micro

SLOT = 12


@pytest.fixture(scope="module")
def batch(domain: Domain, signers: list[Signer]) -> SlotBatch:
    """Three sellers and two buyers (single blocks), cleared by the uniform-price baseline."""
    plan = [
        (0, SIDE_SELL, 2000, 50000, 0),
        (1, SIDE_SELL, 1500, 70000, 0),
        (2, SIDE_SELL, 500, 60000, 4),
        (3, SIDE_BUY, 2500, 202300, 0),
        (4, SIDE_BUY, 1000, 80000, 0),
    ]
    orders = tuple(
        sign_order(signers[w], OrderMessage(signers[w].address, SLOT, side, e, p, n), domain)
        for w, side, e, p, n in plan
    )
    sellers, buyers = messages_to_orders(o.message for o in orders)
    result = clear_uniform(sellers, buyers, NoParams())
    return SlotBatch(domain, SLOT, orders, tuple(result_entries(result, sellers, buyers)))


def test_leaves_match_abi_encoding(batch: SlotBatch) -> None:
    for order in batch.orders:
        struct_hash = order.message.struct_hash()
        expected = eth_utils_keccak(eth_utils_keccak(eth_abi_encode(["bytes32"], [struct_hash])))
        assert order_leaf(order.message) == expected
    for entry in batch.results:
        encoded = eth_abi_encode(
            ["uint256", "address", "int256", "int256"],
            [SLOT, entry.account, entry.energy_wh, entry.amount_micro],
        )
        assert result_leaf(SLOT, entry) == eth_utils_keccak(eth_utils_keccak(encoded))
    assert (
        order_tree([o.message for o in batch.orders]).root
        == MerkleTree.of([[o.message.struct_hash()] for o in batch.orders], ["bytes32"]).root
    )


def test_result_entries_signs_and_conservation(batch: SlotBatch, signers: list[Signer]) -> None:
    by_account = {e.account: e for e in batch.results}
    assert len(batch.results) == 5  # every participant, traded or not
    sellers = {signers[k].address for k in (0, 1, 2)}
    for account, e in by_account.items():
        if account in sellers:
            assert e.energy_wh >= 0 and e.amount_micro >= 0
        else:
            assert e.energy_wh <= 0 and e.amount_micro <= 0
    # Energy balances to the Wh; the uniform price is budget balanced up to per-entry rounding.
    assert sum(e.energy_wh for e in batch.results) == 0
    assert abs(sum(e.amount_micro for e in batch.results)) <= len(batch.results)
    assert by_account[signers[3].address].energy_wh < 0  # the high bidder buys


def test_every_order_and_result_has_a_valid_proof(batch: SlotBatch) -> None:
    for order in batch.orders:
        proof = order_proof(batch, order.message.trader, order.message.nonce)
        assert verify_proof(proof, expected_root=batch.order_root).startswith("valid order")
        assert verify(
            batch.order_root, bytes.fromhex(proof["leaf"][2:]), [bytes.fromhex(p[2:]) for p in proof["proof"]]
        )
    for entry in batch.results:
        assert verify_proof(result_proof(batch, entry.account), expected_root=batch.result_root).startswith(
            "valid result"
        )


def _corrupt(doc: dict, path: list, value) -> dict:
    bad = copy.deepcopy(doc)
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return bad


def test_invalid_order_proofs_fail_with_a_reason(batch: SlotBatch, domain: Domain) -> None:
    m = batch.orders[2].message
    doc = order_proof(batch, m.trader, m.nonce)
    zero = "0x" + "00" * 32
    moved = "0x" + dataclasses.replace(m, slot=SLOT + 1).struct_hash().hex()
    cases = {
        "struct hash": _corrupt(doc, ["order", "energyWh"], m.energy_wh + 1),
        "not the trader": _corrupt(doc, ["domain", "chainId"], domain.chain_id + 1),
        "for slot": _corrupt(_corrupt(doc, ["order", "slot"], SLOT + 1), ["value", 0], moved),
        "does not match the value": _corrupt(doc, ["leaf"], zero),
        "leads to": _corrupt(doc, ["proof", 0], zero),
        "format": _corrupt(doc, ["format"], "other"),
        "malformed": _corrupt(doc, ["proof"], ["0x12"]),
        "signature": _corrupt(doc, ["order", "signature"], "0x" + "00" * 65),
    }
    for reason, bad in cases.items():
        with pytest.raises(ProofError, match=reason):
            verify_proof(bad)
    with pytest.raises(ProofError, match="expected root"):
        verify_proof(doc, expected_root=batch.result_root)


def test_invalid_result_proofs_fail(batch: SlotBatch) -> None:
    entry = batch.results[0]
    doc = result_proof(batch, entry.account)
    for bad in (
        _corrupt(doc, ["value", 3], entry.amount_micro + 1),
        _corrupt(doc, ["value", 2], -entry.energy_wh - 1),
        _corrupt(doc, ["value", 1], "0x" + "77" * 20),
        _corrupt(doc, ["proof"], doc["proof"][:-1]),
        _corrupt(doc, ["kind"], "order"),
        _corrupt(doc, ["kind"], "balance"),
    ):
        with pytest.raises(ProofError):
            verify_proof(bad)
    with pytest.raises(LookupError):
        result_proof(batch, "0x" + "77" * 20)
    with pytest.raises(LookupError):
        order_proof(batch, entry.account, 999)


def test_batch_file_roundtrip_and_cli_helpers(batch: SlotBatch, tmp_path: Path) -> None:
    path = tmp_path / "slot.json"
    save_batch(batch, path)
    loaded = load_batch(path)
    assert loaded.orders == batch.orders and loaded.results == batch.results
    assert loaded.order_root == batch.order_root and loaded.result_root == batch.result_root
    assert audit_batch(loaded) == []
    # A stated root that does not match the content is refused.
    data = json.loads(path.read_text())
    data["orders"][0]["energyWh"] += 1
    with pytest.raises(ProofError, match="orderRoot"):
        SlotBatch.from_json(data)
    # The CLI helper: exit code and message.
    proof_path = tmp_path / "proof.json"
    who = batch.orders[0].message.trader
    docs = proofs_for(batch, who)
    assert [d["kind"] for d in docs] == ["order", "result"]
    assert make_proof(loaded, "order", who, nonce=batch.orders[0].message.nonce) == docs[0]
    assert make_proof(loaded, "result", who) == docs[1]
    with pytest.raises(ValueError):
        make_proof(loaded, "order", who)
    with pytest.raises(ValueError):
        make_proof(loaded, "balance", who)
    proof_path.write_text(json.dumps(docs[0]))
    code, message = verify_proof_file(proof_path, expected_root="0x" + batch.order_root.hex())
    assert code == 0 and message.startswith("valid order")
    code, message = verify_proof_file(proof_path, expected_root="0x" + batch.result_root.hex())
    assert code == 2 and "expected root" in message
    proof_path.write_text("{not json")
    assert verify_proof_file(proof_path)[0] == 2
    assert verify_proof_file(tmp_path / "missing.json")[0] == 2


def test_audit_finds_a_bad_signature_and_wrong_slot(
    batch: SlotBatch, signers: list[Signer], domain: Domain
) -> None:
    late = sign_order(signers[5], OrderMessage(signers[5].address, SLOT + 1, SIDE_BUY, 1, 1, 0), domain)
    forged = type(late)(batch.orders[0].message, late.signature)
    bad = SlotBatch(domain, SLOT, (*batch.orders, late, forged), batch.results)
    problems = audit_batch(bad)
    assert len(problems) == 2 and "slot" in problems[0] and "signature" in problems[1]


def test_endorsements_k_of_n(batch: SlotBatch, signers: list[Signer], domain: Domain) -> None:
    validators = signers[5:8]
    addresses = [v.address for v in validators]
    sigs = [endorse(v, domain, SLOT, batch.order_root, batch.result_root) for v in validators[:2]]
    outsider = endorse(signers[0], domain, SLOT, batch.order_root, batch.result_root)
    found = count_endorsements(
        domain,
        SLOT,
        batch.order_root,
        batch.result_root,
        signatures=[*sigs, sigs[0], outsider],
        validators=addresses,
    )
    assert found == addresses[:2]  # duplicates and non-validators count nothing
    to_submit = valid_endorsements(
        domain,
        SLOT,
        batch.order_root,
        batch.result_root,
        signatures=[outsider, b"x" * 65, *sigs, sigs[1]],
        validators=addresses,
    )
    assert to_submit == list(zip(addresses[:2], sigs, strict=True))
    assert (
        require_endorsements(
            domain, SLOT, batch.order_root, batch.result_root, signatures=sigs, validators=addresses, k=2
        )
        == addresses[:2]
    )
    with pytest.raises(ValueError, match="2 valid endorsements, 3 required"):
        require_endorsements(
            domain, SLOT, batch.order_root, batch.result_root, signatures=sigs, validators=addresses, k=3
        )
    # An endorsement of another result root (or slot) does not count for this one.
    assert (
        count_endorsements(
            domain, SLOT, batch.order_root, batch.order_root, signatures=sigs, validators=addresses
        )
        == []
    )
    assert (
        count_endorsements(
            domain, SLOT + 1, batch.order_root, batch.result_root, signatures=sigs, validators=addresses
        )
        == []
    )


@settings(max_examples=80)
@given(
    asks=st.lists(st.tuples(st.integers(1, 20_000), st.integers(0, 400_000)), min_size=1, max_size=12),
    bids=st.lists(st.tuples(st.integers(1, 20_000), st.integers(0, 400_000)), min_size=1, max_size=12),
)
def test_result_entries_balance_energy_to_the_wh(asks, bids) -> None:
    """Uniform-price clearing of random integer-Wh markets: entries (the fund's row included) balance energy
    and money exactly, and each participant's entry is within one unit of its own rounding."""
    ids = [f"0x{k:040x}" for k in range(16, len(asks) + len(bids) + 16)]
    sellers = Orders.single(ids[: len(asks)], [e / 1000 for e, _ in asks], [p / 1e6 for _, p in asks])
    buyers = Orders.single(ids[len(asks) :], [e / 1000 for e, _ in bids], [p / 1e6 for _, p in bids])
    result = clear_uniform(sellers, buyers, NoParams())
    entries = result_entries(result, sellers, buyers)
    assert sum(e.energy_wh for e in entries) == 0
    assert sum(e.amount_micro for e in entries) == 0
    assert all(e.account == FUND_LEAF for e in entries[len(ids) :])
    figures = [
        *zip(result.sellers.energy_kwh, result.sellers.payment, strict=True),
        *zip(result.buyers.energy_kwh, result.buyers.payment, strict=True),
    ]
    for k, (e, (energy_kwh, payment)) in enumerate(zip(entries[: len(ids)], figures, strict=True)):
        sign = 1 if k < len(asks) else -1
        assert abs(e.energy_wh - sign * energy_to_wh(float(energy_kwh))) <= 1
        assert abs(e.amount_micro - sign * money_to_micro(float(payment))) <= 1


def test_one_entry_per_account(domain: Domain) -> None:
    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20
    sellers = Orders.single([a], [2.0], [0.1])
    buyers = Orders.single([b, a], [1.0, 0.5], [0.3, 0.2])
    result = ClearingResult("test", 0.15, Allocation([1.5], [0.225]), Allocation([1.0, 0.5], [0.15, 0.075]))
    entries = result_entries(result, sellers, buyers)
    # a sold 1.5 kWh and bought 0.5 kWh: one net entry, first-appearance order.
    assert [(e.account.lower(), e.energy_wh, e.amount_micro) for e in entries] == [
        (a, 1000, 150000),
        (b, -1000, -150000),
    ]
    twice = [ResultEntry(a, 1, 1), ResultEntry(a.upper().replace("0X", "0x"), 0, 0)]
    with pytest.raises(ValueError, match="more than one"):
        result_tree(1, twice)
    with pytest.raises(ProofError, match="more than one"):
        SlotBatch(domain, 1, (), tuple(twice))


def test_result_entry_validation() -> None:
    with pytest.raises(ValueError):
        ResultEntry("0x" + "11" * 20, 2**255, 0)
    with pytest.raises(ValueError):
        ResultEntry("0x12", 0, 0)
    assert result_tree(1, []).root == bytes(32)


@pytest.mark.parametrize(
    "module",
    [
        "crypto.encoding",
        "crypto.eip712",
        "crypto.signing",
        "crypto.merkle",
        "ledger.messages.nonces",
        "ledger.messages.orders",
        "ledger.messages.commitments",
        "ledger.clearance.endorsement",
        "ledger.audit.proofs",
    ],
)
def test_module_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"transactive.{module}"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("energy_wh", "amount_micro", "field"), [
    (True, 0, "energyWh"), (0, 1.5, "amountMicro"), (1 << 255, 0, "energyWh"), (0, -(1 << 255) - 1, "amountMicro"),
])
def test_result_entry_rejects_a_value_the_leaf_cannot_encode(energy_wh: object, amount_micro: object,
                                                             field: str) -> None:
    """The entry's own range check (issue 13: no encoding per entry) keeps the encoder's message and field."""
    from transactive.crypto.encoding import EncodingError

    with pytest.raises(EncodingError, match=field):
        ResultEntry("0x" + "11" * 20, energy_wh, amount_micro)  # type: ignore[arg-type]
    lower = "0x" + "ab" * 20
    entry = ResultEntry(lower, -(1 << 255), (1 << 255) - 1)  # the int256 limits themselves are fine
    assert entry.account == ResultEntry(entry.account.upper().replace("0X", "0x"), 0, 0).account != lower
    assert entry.account_bytes == bytes.fromhex("ab" * 20)


def test_the_endorsed_batch_keeps_its_order_tree_and_reads_back(batch: SlotBatch, signers: list[Signer]) -> None:
    root = batch.order_root
    endorsements = (bytes(range(65)),)
    final = batch.endorsed(batch.results[::-1], endorsements)
    assert final.order_tree is batch.order_tree  # carried over, not hashed again
    assert final.results == batch.results[::-1] and final.endorsements == endorsements
    # the carried tree is the one a fresh read of the document rebuilds
    fresh = SlotBatch.from_json(json.loads(json.dumps(final.to_json())))
    assert fresh.order_root == root and fresh.result_root == final.result_root and fresh == final
    # a batch whose tree was never built gets its own
    unbuilt = dataclasses.replace(batch).endorsed(batch.results, ())
    assert unbuilt.order_root == root
