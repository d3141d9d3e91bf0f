"""Test and benchmark support for the ledger: a hardhat node on loopback, the deployed contract suite
(re-exported from :mod:`transactive.ledger.chain.deploy`, the constants from :mod:`transactive.ledger.chain.constants`),
and EIP-712 endorsement signing with the standard ``eth_account`` implementation.

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
from pathlib import Path
from typing import Any

from eth_account import Account

from transactive.ledger.chain.constants import (
    CANCELLED,
    CLEARED,
    CLOSE,
    DISPUTED,
    FOR_SALE,
    MODE_BATCH,
    MODE_CLAIMS,
    RESERVE_NOT_MET,
    ROLE_ADMIN,
    ROLE_AGGREGATOR,
    ROLE_DSO,
    ROLE_MARKET,
    ROLE_PROSUMER,
    ROLE_VALIDATOR,
    SETTLED,
)
from transactive.ledger.chain.deploy import Deployment, bus, deploy_suite

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SETUP_SCRIPT = PROJECT_ROOT / "scripts" / "setup-hardhat.sh"

__all__ = [
    "CANCELLED", "CLEARED", "CLOSE", "DISPUTED", "FOR_SALE", "MODE_BATCH", "MODE_CLAIMS", "RESERVE_NOT_MET",
    "ROLE_ADMIN", "ROLE_AGGREGATOR", "ROLE_DSO", "ROLE_MARKET", "ROLE_PROSUMER", "ROLE_VALIDATOR", "SETTLED",
    "Deployment", "HardhatNode", "bus", "deploy_suite", "endorsement_typed_data", "node_unavailable_reason",
    "sign_endorsement",
]


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
