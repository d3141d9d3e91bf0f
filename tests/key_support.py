"""Shared fixtures for the crypto and ledger tests: reproducible keys and a domain.

Import them into a ``conftest.py`` (``from key_support import domain, private_keys, signers``)."""

from __future__ import annotations

import random

import pytest

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337


@pytest.fixture(scope="session")
def domain() -> Domain:
    return Domain(chain_id=CHAIN_ID, verifying_contract=CONTRACT)


@pytest.fixture(scope="session")
def private_keys() -> list[bytes]:
    rng = random.Random(20261122)
    return [new_private_key(rng) for _ in range(8)]


@pytest.fixture(scope="session")
def signers(private_keys: list[bytes]) -> list[Signer]:
    return [Signer(key) for key in private_keys]
