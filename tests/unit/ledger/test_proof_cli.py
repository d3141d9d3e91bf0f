"""``transactive ledger proof`` pieces: argument handling, outputs and exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from transactive.cli._ledger_proof import register
from transactive.crypto.eip712 import SIDE_BUY, SIDE_SELL, Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import ResultEntry, SlotBatch, save_batch
from transactive.ledger.messages.orders import OrderMessage, sign_order


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transactive ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


@pytest.fixture
def batch_file(tmp_path: Path, domain: Domain, signers: list[Signer]) -> tuple[Path, SlotBatch]:
    seller, buyer = signers[0], signers[1]
    orders = (
        sign_order(seller, OrderMessage(seller.address, 2, SIDE_SELL, 1000, 50000, 5), domain),
        sign_order(buyer, OrderMessage(buyer.address, 2, SIDE_BUY, 1000, 90000, 0), domain),
    )
    results = (ResultEntry(seller.address, 1000, 70000), ResultEntry(buyer.address, -1000, -70000))
    batch = SlotBatch(domain, 2, orders, results)
    path = tmp_path / "batch.json"
    save_batch(batch, path)
    return path, batch


def test_make_and_verify(batch_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, batch = batch_file
    seller = batch.orders[0].message.trader
    out = tmp_path / "p.json"
    assert _run(["proof", str(path), "--account", seller, "--nonce", "5", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["kind"] == "order"
    root = "0x" + batch.order_root.hex()
    assert _run(["proof", "--verify", str(out), "--root", root]) == 0
    assert capsys.readouterr().out.startswith("valid order")
    assert _run(["proof", str(path), "--account", seller, "--result"]) == 0
    assert json.loads(capsys.readouterr().out)["value"][2] == 1000
    assert _run(["proof", str(path), "--account", seller]) == 0
    assert [d["kind"] for d in json.loads(capsys.readouterr().out)] == ["order", "result"]


def test_failures_exit_2_with_one_line(
    batch_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, batch = batch_file
    seller = batch.orders[0].message.trader
    out = tmp_path / "p.json"
    assert _run(["proof", str(path), "--account", seller, "--nonce", "5", "--out", str(out)]) == 0
    capsys.readouterr()
    wrong_root = "0x" + batch.result_root.hex()
    cases = [
        ["proof", "--verify", str(out), "--root", wrong_root],
        ["proof", "--verify", str(tmp_path / "none.json")],
        ["proof", str(path), "--account", seller, "--nonce", "6"],
        ["proof", str(path), "--account", "0x" + "12" * 20],
        ["proof", str(path), "--account", "0x12", "--result"],
        ["proof", str(tmp_path / "none.json"), "--account", seller],
        ["proof", str(path)],
        ["proof", str(path), "--account", seller, "--verify", str(out)],
    ]
    for argv in cases:
        assert _run(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("invalid proof" in err or "error:" in err), (argv, err)
    doc = json.loads(out.read_text())
    doc["order"]["priceMicroPerKwh"] += 1
    out.write_text(json.dumps(doc))
    assert _run(["proof", "--verify", str(out), "--root", "0x" + batch.order_root.hex()]) == 2
    assert "struct hash" in capsys.readouterr().err


def test_verify_without_a_trusted_root_exits_2(
    tmp_path: Path, domain: Domain, signers: list[Signer], capsys: pytest.CaptureFixture[str]
) -> None:
    """A forged proof is self-consistent (leaf, path and root agree): without a trusted root it is not
    "valid"; against the forger's own root it would be, so only the root the user supplies decides."""
    forger, victim = signers[0], signers[1]
    forged = SlotBatch(domain, 2, (), results=(ResultEntry(forger.address, 0, 10**9),
                                           ResultEntry(victim.address, 0, -(10**9))))
    path, out = tmp_path / "forged.json", tmp_path / "p.json"
    save_batch(forged, path)
    assert _run(["proof", str(path), "--account", forger.address, "--result", "--out", str(out)]) == 0
    capsys.readouterr()
    assert _run(["proof", "--verify", str(out)]) == 2
    err = capsys.readouterr()
    assert "trusted root" in err.err and "valid" not in err.out
    assert _run(["proof", "--verify", str(out), "--chain-url", "http://127.0.0.1:1"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert _run(["proof", "--verify", str(out), "--root", "0x" + forged.result_root.hex()]) == 0
    assert "against the --root given" in capsys.readouterr().out


@pytest.mark.parametrize("version", [1, 2])
def test_attributes_proof(tmp_path: Path, domain: Domain, signers: list[Signer],
                          capsys: pytest.CaptureFixture[str], version: int) -> None:
    from transactive.ledger.messages.attributes import ParticipantAttributes, SignedAttributes, sign_attributes

    seller = signers[0]
    record = ParticipantAttributes.from_values(seller.address, slot=2, bus="34", distance_pref_m=80, a=0.1)
    covered = None if version == 1 else record.struct_hash()  # version 2: the order's signature covers them
    order = sign_order(seller, OrderMessage(seller.address, 2, SIDE_SELL, 1000, 50000, 5, covered), domain)
    signed = sign_attributes(seller, record, domain) if version == 1 else SignedAttributes(record)
    batch = SlotBatch(domain, 2, (order,), attributes=(signed,))
    path, out = tmp_path / "batch.json", tmp_path / "p.json"
    save_batch(batch, path)
    assert _run(["proof", str(path), "--account", seller.address, "--attributes", "--out", str(out)]) == 0
    assert _run(["proof", "--verify", str(out), "--root", "0x" + batch.order_root.hex()]) == 0
    assert capsys.readouterr().out.startswith(f"valid attributes of {seller.address} (bus '34')")
    assert _run(["proof", str(path), "--account", signers[1].address, "--attributes"]) == 2
    assert "no attributes of" in capsys.readouterr().err


def test_market_proof_of_the_slots_market_block(
    tmp_path: Path, domain: Domain, signers: list[Signer], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--market`` proves the batch's market block (the order tree's last leaf, format 3): the proof leads to
    the batch's order root and carries the block; an edited block does not verify against that root; a
    format-2 batch (no market leaf), ``--account`` with it or ``--market`` with ``--verify`` exit 2."""
    seller = signers[0]
    orders = (sign_order(seller, OrderMessage(seller.address, 4, SIDE_SELL, 1000, 50000, 0), domain),)
    batch = SlotBatch(domain, 4, orders, mechanism="uniform", params={"reserve": 0.05}, dso=signers[2].address)
    path = tmp_path / "batch.json"
    save_batch(batch, path)
    out = tmp_path / "market.json"
    assert _run(["proof", str(path), "--market", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert (doc["kind"], doc["slot"], doc["root"]) == ("market", 4, "0x" + batch.order_root.hex())
    assert doc["market"] == {"mechanism": "uniform", "params": {"reserve": 0.05}, "dso": signers[2].address}
    assert doc["index"] == len(orders)  # the last leaf, after the orders
    assert _run(["proof", "--verify", str(out), "--root", "0x" + batch.order_root.hex()]) == 0
    capsys.readouterr()
    doc["market"]["mechanism"] = "mcafee"  # an edited block: another leaf, the root on chain does not follow
    out.write_text(json.dumps(doc))
    assert _run(["proof", "--verify", str(out), "--root", "0x" + batch.order_root.hex()]) == 2
    old = tmp_path / "old.json"
    save_batch(SlotBatch(domain, 4, orders, mechanism="uniform", commits_market=False), old)
    for argv in (["proof", str(old), "--market"], ["proof", str(path), "--market", "--account", seller.address],
                 ["proof", "--verify", str(out), "--market", "--root", "0x" + batch.order_root.hex()]):
        capsys.readouterr()
        assert _run(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:"), (argv, err)
    with pytest.raises(SystemExit) as both:  # one kind of proof at a time (argparse)
        _run(["proof", str(path), "--market", "--result"])
    assert both.value.code == 2
