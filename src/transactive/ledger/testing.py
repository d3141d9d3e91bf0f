"""Test and benchmark support for the ledger: a hardhat node on loopback, a deployed contract suite, and
EIP-712 endorsement signing with the standard ``eth_account`` implementation.

``HardhatNode`` installs hardhat with ``scripts/setup-hardhat.sh`` (npm registry, into ``.hardhat/``) and
runs ``hardhat node`` on a free loopback port; :func:`node_unavailable_reason` says why it cannot (no node
or npm), so a test can skip with that message.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from transactive.ledger.chain import Chain, Contract
from transactive.ledger.compiler import load_artifact

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup-hardhat.sh"

ROLE_PROSUMER, ROLE_AGGREGATOR, ROLE_DSO, ROLE_VALIDATOR, ROLE_ADMIN, ROLE_MARKET = 1, 2, 4, 8, 16, 32
CLOSE, FOR_SALE, RESERVE_NOT_MET, CLEARED, SETTLED, CANCELLED, DISPUTED = 0, 1, 2, 3, 4, 5, 6
MODE_BATCH, MODE_CLAIMS = 1, 2


def node_unavailable_reason() -> str | None:
    """Why a hardhat node cannot be started here (None if it can)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: cannot run a hardhat node for the JSON-RPC engine"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HardhatNode:
    """A ``hardhat node`` process on 127.0.0.1 (start with :meth:`start`, stop with :meth:`stop`)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> HardhatNode:
        out = subprocess.run(["bash", str(SETUP_SCRIPT)], check=True, capture_output=True, text=True)
        binary = Path(out.stdout.strip().splitlines()[-1])
        self._proc = subprocess.Popen(
            [str(binary), "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
            cwd=binary.parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**_env(), "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"hardhat node exited with code {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"hardhat node did not listen on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def _env() -> dict[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class Deployment:
    """The contract suite on one chain, with the accounts' roles.

    Accounts: 0 admin; 1-4 validators (threshold 3 of 4); 5 aggregator; 6 DSO; 7-11 prosumers.
    """

    chain: Chain
    registry: Contract
    token: Contract
    slots: Contract
    auction: Contract

    @property
    def admin(self) -> str:
        return self.chain.accounts[0]

    @property
    def validators(self) -> tuple[str, ...]:
        return self.chain.accounts[1:5]

    @property
    def aggregator(self) -> str:
        return self.chain.accounts[5]

    @property
    def dso(self) -> str:
        return self.chain.accounts[6]

    @property
    def prosumers(self) -> tuple[str, ...]:
        return self.chain.accounts[7:12]


def bus(name: str) -> bytes:
    """A feeder bus name as bytes32 (right-padded UTF-8)."""
    raw = name.encode()
    if len(raw) > 32:
        raise ValueError("bus name longer than 32 bytes")
    return raw.ljust(32, b"\x00")


def deploy_suite(chain: Chain, auctioneer_ppm: int = 10_000, miner_ppm: int = 10_000) -> Deployment:
    """Deploy Registry, EnergyToken, MarketSlots and NegawattAuction and register the accounts.

    Default reward shares X^A = X^M = 1% (seed 001's case study). Every prosumer and the aggregator get
    1,000 tokens and approve MarketSlots and NegawattAuction without limit.
    """
    accounts = chain.accounts
    if len(accounts) < 12:
        raise ValueError("deploy_suite needs 12 accounts")
    registry = chain.deploy(load_artifact("Registry"))
    token = chain.deploy(load_artifact("EnergyToken"), registry.address, "Transactive Energy Token", "TET")
    slots = chain.deploy(
        load_artifact("MarketSlots"), registry.address, token.address, auctioneer_ppm, miner_ppm
    )
    auction = chain.deploy(load_artifact("NegawattAuction"), registry.address, token.address)
    dep = Deployment(chain=chain, registry=registry, token=token, slots=slots, auction=auction)
    for v in dep.validators:
        chain.transact(registry, "set_member", v, ROLE_VALIDATOR | ROLE_PROSUMER, bus("validator"))
    chain.transact(registry, "set_threshold", 3)
    chain.transact(registry, "set_member", dep.aggregator, ROLE_AGGREGATOR, bus("aggregator"))
    chain.transact(registry, "set_member", dep.dso, ROLE_DSO, bus("substation"))
    for i, p in enumerate(dep.prosumers):
        chain.transact(registry, "set_member", p, ROLE_PROSUMER, bus(f"bus-{i + 1}"))
    chain.transact(registry, "set_member", slots.address, ROLE_MARKET, bus(""))
    chain.transact(registry, "set_member", auction.address, ROLE_MARKET, bus(""))
    max_uint = 2**256 - 1
    for holder in (*dep.prosumers, dep.aggregator, *dep.validators):
        chain.transact(token, "mint", holder, 1_000 * 10**6)
        chain.transact(token, "approve", slots.address, max_uint, sender=holder)
        chain.transact(token, "approve", auction.address, max_uint, sender=holder)
    return dep


def endorsement_typed_data(chain_id: int, verifying_contract: str, slot: int, order_root: bytes,
                           result_root: bytes) -> dict[str, Any]:
    """The EIP-712 message a validator signs to endorse a slot result (the agreed format)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Endorsement": [
                {"name": "slot", "type": "uint256"},
                {"name": "orderRoot", "type": "bytes32"},
                {"name": "resultRoot", "type": "bytes32"},
            ],
        },
        "primaryType": "Endorsement",
        "domain": {"name": "Transactive", "version": "1", "chainId": chain_id,
                   "verifyingContract": verifying_contract},
        "message": {"slot": slot, "orderRoot": order_root, "resultRoot": result_root},
    }


def sign_endorsement(private_key: bytes, chain_id: int, verifying_contract: str, slot: int,  # noqa: PLR0917
                     order_root: bytes, result_root: bytes) -> bytes:
    """65-byte signature (r || s || v, v in {27, 28}) of an Endorsement, by eth_account's EIP-712 code."""
    data = endorsement_typed_data(chain_id, verifying_contract, slot, order_root, result_root)
    signed = Account.sign_typed_data(private_key, full_message=data)
    return bytes(signed.signature)
