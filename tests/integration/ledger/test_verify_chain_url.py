"""``transactive ledger verify DATA_DIR --chain-url URL``: the audit against a JSON-RPC node (the hardhat node
of the contract suite): clean for an honest archive, the first discrepancy for a tampered one, exit 2 for an
unreachable node or a node without the contracts."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from transactive.cli import main
from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.chain.rpc import RpcChain
from transactive.ledger.clearance.protocol import Validator, domain_of, run_slot, settle
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import SETTLED, Deployment, deploy_suite

MINTED = 10 * 1_000 * 10**6  # deploy_suite: 1,000 tokens to 5 prosumers, the aggregator and 4 validators
BOOK = [(0, 2_000, 100_000), (1, 1_500, 210_000), (0, 1_000, 120_000), (1, 3_000, 190_000), (1, 700, 95_000)]


def archived_slot(dep: Deployment, data_dir: Path, slot: int) -> Path:
    """Clear and settle one uniform slot on ``dep``'s chain and archive it (manifest + batch file)."""
    chain = dep.chain
    domain = domain_of(chain, dep.slots)
    signers = [Signer(chain.private_key(a)) for a in dep.prosumers]
    orders = tuple(sign_order(s, OrderMessage(s.address, slot, side, wh, price, slot), domain)
                   for s, (side, wh, price) in zip(signers, BOOK, strict=True))
    batch = SlotBatch(domain, slot, orders, mechanism="uniform", params={})
    validators = [Validator(chain.private_key(v)) for v in dep.validators]
    final, _, _ = run_slot(chain, dep.slots, batch, validators, k=3)
    settle(chain, dep.slots, final)
    assert chain.call(dep.slots, "slot_state", slot) == SETTLED
    archive = SlotArchive(data_dir)
    archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
    archive.record_mint(MINTED)
    return archive.save(final)


@pytest.mark.parametrize("session_chain", ["hardhat"], indirect=True)
def test_verify_against_a_json_rpc_node(dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(dep.chain, RpcChain)
    url = dep.chain.url
    path = archived_slot(dep, tmp_path, slot=21)
    head = dep.chain.block_number()
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", url]) == 0
    assert capsys.readouterr().out.startswith("clean: 1 slot(s)")
    assert dep.chain.block_number() == head  # read only: nothing was sent
    # without --chain-url the audit looks for DATA_DIR/chain/, which this archive does not have
    assert main(["ledger", "verify", str(tmp_path)]) == 2
    assert "no chain in" in capsys.readouterr().err

    # one micro-token moved between two stored results: the first discrepancy, precisely
    doc = json.loads(path.read_text())
    doc["results"][0]["amountMicro"] += 1
    doc["results"][1]["amountMicro"] -= 1
    path.write_text(json.dumps(doc))
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"discrepancy: slot 21: result {doc['results'][0]['account']}: expected ")


@pytest.mark.parametrize("session_chain", ["hardhat"], indirect=True)
def test_verify_rejects_unreachable_or_empty_nodes(
    dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    local = open_local_chain()
    try:
        archived_slot(deploy_suite(local), tmp_path, slot=3)  # contracts that exist only on another chain
    finally:
        local.close()
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", dead]) == 2
    assert "cannot reach the chain at" in capsys.readouterr().err
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", "ftp://example"]) == 2
    assert "http(s) JSON-RPC URL" in capsys.readouterr().err
    # the hardhat node's suite sits at the same addresses (same deployer key and nonces) but never saw slot 3
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", dep.chain.url]) == 1
    assert capsys.readouterr().err.startswith("discrepancy: slot 3: orderRoot: expected 0x" + "00" * 32)
    manifest = tmp_path / "ledger.json"  # a manifest naming an address without a contract
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"registry": "0x" + "12" * 20}))
    assert main(["ledger", "verify", str(tmp_path), "--chain-url", dep.chain.url]) == 2
    assert "no Registry answers at 0x1212" in capsys.readouterr().err
