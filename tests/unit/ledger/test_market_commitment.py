"""The market leaf of a format-3 batch: ``hashStruct(Market)`` against an independent EIP-712 encoding (eth-abi
and eth-utils' keccak), every part of the market block moving the order root, the format chosen by the batch
and older formats read and written back by their own rule."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode as eth_abi_encode
from eth_utils import keccak as eth_utils_keccak

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import ProofError, SlotBatch, make_proof, market_proof, verify_proof
from transactive.ledger.messages.commitments import market_struct_hash, order_tree
from transactive.ledger.messages.orders import OrderMessage, sign_order

SLOT = 21
PARAMS = {"exact_oversupply": False, "charge_per_km": 0.5}


def _oracle(slot: int, mechanism: str, params_json: str, dso: str) -> bytes:
    """EIP-712 hashStruct of Market, encoded by hand (strings hashed, words ABI-encoded)."""
    typehash = eth_utils_keccak(text="Market(uint256 slot,string mechanism,string params,address dso)")
    return eth_utils_keccak(typehash + eth_abi_encode(
        ["uint256", "bytes32", "bytes32", "address"],
        [slot, eth_utils_keccak(text=mechanism), eth_utils_keccak(text=params_json), dso]))


def test_market_struct_hash_is_eip712_of_the_canonical_params() -> None:
    dso = "0x" + "ab" * 20
    assert market_struct_hash(SLOT, "dpda", PARAMS, dso) == _oracle(
        SLOT, "dpda", '{"charge_per_km":0.5,"exact_oversupply":false}', dso)
    assert market_struct_hash(SLOT, "dpda", dict(reversed(PARAMS.items())), dso) == \
        market_struct_hash(SLOT, "dpda", PARAMS, dso)  # key order does not matter
    assert market_struct_hash(SLOT, None, None, None) == _oracle(SLOT, "", "{}", "0x" + "00" * 20)


def _batch(domain: Domain, signers: list[Signer], **market: object) -> SlotBatch:
    orders = tuple(sign_order(s, OrderMessage(s.address, SLOT, k % 2, 1_000 + k, 90_000, 0), domain)
                   for k, s in enumerate(signers[:3]))
    fields: dict[str, object] = {"mechanism": "dpda", "params": PARAMS, "dso": signers[5].address, **market}
    return SlotBatch(domain, SLOT, orders, **fields)  # type: ignore[arg-type]


def test_the_order_root_commits_to_every_part_of_the_market_block(domain: Domain, signers: list[Signer]) -> None:
    base = _batch(domain, signers)
    assert base.commits_market and base.to_json()["format"] == "transactive.ledger-batch/3"
    assert base.order_root == order_tree([o.message for o in base.orders], (), base.market_hash).root
    assert base.order_root != order_tree([o.message for o in base.orders]).root
    assert len(base.order_tree) == len(base.orders) + 1  # the last leaf: keccak(keccak(marketStructHash))
    assert base.order_tree.leaf(len(base.orders)) == eth_utils_keccak(eth_utils_keccak(base.market_hash))
    variants = [_batch(domain, signers, mechanism="uniform"),
                _batch(domain, signers, params={**PARAMS, "exact_oversupply": True}),
                _batch(domain, signers, params={**PARAMS, "charge_per_km": 0.5000001}),
                _batch(domain, signers, dso=signers[4].address),
                _batch(domain, signers, dso=None)]
    roots = {base.order_root, *(v.order_root for v in variants)}
    assert len(roots) == 1 + len(variants)
    again = SlotBatch.from_json(json.loads(json.dumps(base.to_json())))  # through a file: the same root
    assert again == base and again.order_root == base.order_root and again.commits_market


def test_an_edited_market_block_no_longer_matches_its_stated_root(domain: Domain, signers: list[Signer]) -> None:
    doc = _batch(domain, signers).to_json()
    doc["market"]["params"]["exact_oversupply"] = True
    with pytest.raises(ProofError, match="orderRoot"):
        SlotBatch.from_json(doc)


def test_format_2_is_read_and_written_by_its_own_rule(domain: Domain, signers: list[Signer]) -> None:
    old = _batch(domain, signers, commits_market=False)
    assert old.order_root == order_tree([o.message for o in old.orders]).root  # the orders alone, as before
    doc = old.to_json()
    assert doc["format"] == "transactive.ledger-batch/2"
    again = SlotBatch.from_json(doc)
    assert not again.commits_market and again.order_root == old.order_root and again.to_json() == doc
    doc["format"] = "transactive.ledger-batch/3"  # relabelled: the stated root is the old rule's
    with pytest.raises(ProofError, match="orderRoot"):
        SlotBatch.from_json(doc)


def test_version_1_messages_cannot_commit_a_market_block(domain: Domain, signers: list[Signer]) -> None:
    v1 = tuple(sign_order(s, OrderMessage(s.address, SLOT, 0, 1_000, 90_000, 0, None), domain) for s in signers[:2])
    assert SlotBatch(domain, SLOT, v1, mechanism="uniform").format == "transactive.ledger-batch/1"
    with pytest.raises(ProofError, match="version-2 messages"):
        SlotBatch(domain, SLOT, v1, mechanism="uniform", commits_market=True)


def test_params_json_cannot_carry_are_a_proof_error(domain: Domain, signers: list[Signer]) -> None:
    with pytest.raises(ProofError, match="market params"):
        _ = _batch(domain, signers, params={"charge_per_km": float("nan")}).order_root


def test_a_market_proof_proves_the_market_block_against_the_order_root(domain: Domain, signers: list[Signer]) -> None:
    batch = _batch(domain, signers)
    doc = market_proof(batch)
    assert doc["kind"] == "market" and doc["market"] == {"mechanism": "dpda", "params": PARAMS,
                                                         "dso": signers[5].address}
    assert verify_proof(json.loads(json.dumps(doc)), expected_root=batch.order_root).startswith(
        "valid market block (mechanism 'dpda'")
    assert make_proof(batch, "market", "") == doc
    for field, value in (("mechanism", "uniform"), ("dso", signers[4].address)):
        forged = json.loads(json.dumps(doc))
        forged["market"][field] = value  # another block than the one committed
        with pytest.raises(ProofError, match="struct hash of the market block"):
            verify_proof(forged, expected_root=batch.order_root)
    forged = json.loads(json.dumps(doc))
    forged["market"]["params"]["charge_per_km"] = 0.4
    forged["value"] = ["0x" + market_struct_hash(SLOT, "dpda", forged["market"]["params"], signers[5].address).hex()]
    with pytest.raises(ProofError, match="leaf"):  # a self-consistent value, but not the committed leaf
        verify_proof(forged, expected_root=batch.order_root)
    with pytest.raises(LookupError, match="does not commit its market block"):
        market_proof(_batch(domain, signers, commits_market=False))
