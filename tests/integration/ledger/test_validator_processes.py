"""Four validator processes on loopback ports, one of them dishonest (``--tamper``): a coordinator asks
them over HTTP, the honest root wins 3-of-4 on the embedded chain, settles, and the liar is reported."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactive.crypto.signing import Signer
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import domain_of, recompute, settle
from transactive.ledger.clearance.validator_service import ask_validators, remote_round
from transactive.ledger.messages.commitments import RewardShares, result_tree
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import SETTLED, Deployment, deploy_suite

SRC = Path(__file__).resolve().parents[3] / "src"


def _start(key_file: Path, batch_dir: Path, *, tamper: bool) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    argv = [sys.executable, "-m", "transactive.cli", "ledger", "validator", "--key-file", str(key_file),
            "--batch-dir", str(batch_dir), "--port", "0", *(["--tamper"] if tamper else [])]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the service listens (or exits)
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"validator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split()[2]


@pytest.fixture(scope="module")
def suite() -> Iterator[Deployment]:
    chain = open_local_chain()
    try:
        yield deploy_suite(chain)
    finally:
        chain.close()


@pytest.fixture(scope="module")
def endpoints(suite: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """validators[0] runs with --tamper; the others are honest. Stopped (and reaped) afterwards."""
    root = tmp_path_factory.mktemp("validators")
    procs: list[subprocess.Popen[str]] = []
    urls = []
    try:
        for i, v in enumerate(suite.validators):
            key_file = root / f"v{i}.key"
            key_file.write_text(suite.chain.private_key(v).hex())
            proc, url = _start(key_file, root / f"batches{i}", tamper=i == 0)
            procs.append(proc)
            urls.append(url)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    assert all(p.returncode is not None for p in procs)


def _batch(dep: Deployment, slot: int) -> SlotBatch:
    domain = domain_of(dep.chain, dep.slots)
    book = [(0, 2_000, 100_000), (1, 1_500, 210_000), (0, 1_000, 120_000), (1, 3_000, 190_000)]
    signers = [Signer(dep.chain.private_key(a)) for a in dep.prosumers]
    orders = tuple(sign_order(s, OrderMessage(s.address, slot, side, wh, price, 0), domain)
                   for s, (side, wh, price) in zip(signers, book, strict=False))
    return SlotBatch(domain, slot, orders, mechanism="uniform", params={})


def test_honest_root_wins_over_the_network(suite: Deployment, endpoints: list[str]) -> None:
    dep, slot = suite, 3  # auctioneer validators[3]
    snap = dep.chain.snapshot()
    try:
        batch = _batch(dep, slot)
        out = remote_round(dep.chain, dep.slots, batch, endpoints, validators=dep.validators, k=3)
        honest_root = result_tree(slot, recompute(batch, rewards=RewardShares(10_000, 10_000))).root
        assert out.collected.result_root == honest_root
        assert dep.chain.call(dep.slots, "slots", slot)[6] == honest_root
        assert out.collected.dissenters == (dep.validators[0],)
        assert sorted(out.collected.signers) == sorted(dep.validators[1:])
        assert out.miner in dep.validators[1:] and not out.unreachable
        settle(dep.chain, dep.slots, out.batch)
        assert dep.chain.call(dep.slots, "slot_state", slot) == SETTLED
    finally:
        dep.chain.revert(snap)


def test_unreachable_and_bad_requests_are_reported(suite: Deployment, endpoints: list[str]) -> None:
    batch = _batch(suite, 8)
    # a port nobody listens on: connection refused, reported, the others still answer
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    answers, failed = ask_validators(batch, [dead, *endpoints[1:]], rewards=None, timeout_s=30)
    assert list(failed) == [dead] and len(answers) == 3
    assert len({a.result_root for a in answers}) == 1
    # a batch the services cannot recompute: HTTP 400 with the reason
    unknown = SlotBatch(batch.domain, 8, batch.orders, mechanism="no-such-mechanism", params={})
    answers, failed = ask_validators(unknown, endpoints[1:2], rewards=None, timeout_s=30)
    assert answers == [] and "unknown mechanism" in failed[endpoints[1]]
