"""Compiler cache keyed by source hash, and the ABI helpers of the chain seam."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from transactive.ledger.chain import compiler
from transactive.ledger.chain.base import abi_type, encode_call, revert_reason
from transactive.ledger.chain.compiler import CONTRACT_NAMES, load_artifact


def test_all_contracts_compile() -> None:
    for name in CONTRACT_NAMES:
        art = load_artifact(name)
        assert art.bytecode and any(item.get("type") == "function" for item in art.abi)


def test_cache_is_keyed_by_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSACTIVE_CACHE_DIR", str(tmp_path))
    first = load_artifact("Registry")
    files = list((tmp_path / "vyper").glob("Registry-*.json"))
    assert len(files) == 1
    assert load_artifact("Registry") == first  # from the cache
    # a changed source gets a new cache entry
    source = tmp_path / "contracts"
    source.mkdir()
    original = compiler.source_path("Registry").read_text()
    (source / "Registry.vy").write_text(original + "\n# changed\n")
    monkeypatch.setattr(compiler, "CONTRACTS_DIR", source)
    load_artifact("Registry")
    assert len(list((tmp_path / "vyper").glob("Registry-*.json"))) == 2


def test_abi_type_expands_tuples() -> None:
    param = {"type": "tuple[]", "components": [{"type": "address"}, {"type": "int256"}]}
    assert abi_type(param) == "(address,int256)[]"


def test_encode_call_selector() -> None:
    abi = ({"type": "function", "name": "transfer", "inputs": [{"type": "address"}, {"type": "uint256"}],
            "outputs": [{"type": "bool"}]},)
    data = encode_call(abi, "transfer", ["0x" + "00" * 19 + "01", 5])
    assert data[:4] == keccak(text="transfer(address,uint256)")[:4] == bytes.fromhex("a9059cbb")
    assert len(data) == 4 + 64


def test_revert_reason() -> None:
    assert revert_reason(bytes.fromhex("08c379a0") + encode(["string"], ["boom"])) == "boom"
    assert revert_reason(b"") == "reverted"
