"""Fixtures for the contract suite, parametrised over the chain engines: the in-process py-evm (``embedded``)
and revm (``revm``) engines and a JSON-RPC node (``hardhat``).

``dep`` is the deployed suite on the session's chain, reverted to a snapshot after every test (so tests
are independent and the suite is deployed once per engine). The ``hardhat`` engine starts a hardhat node
on loopback (installed by scripts/setup-hardhat.sh) and stops it at the end of the session; it is skipped
only when node/npm are absent, with the reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.connect import ENGINES, open_local_chain
from transactive.ledger.chain.rpc import RpcChain
from transactive.ledger.testing import Deployment, HardhatNode, deploy_suite, node_unavailable_reason


@pytest.fixture(scope="session", params=ENGINES)
def local_engine(request: pytest.FixtureRequest) -> str:
    """An in-process chain engine (``pyevm``, ``revm``): the end-to-end tests that build their own chain run on
    each."""
    return str(request.param)


@pytest.fixture(scope="session", params=["embedded", "revm", "hardhat"])
def session_chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param in ("embedded", "revm"):
        chain = open_local_chain(engine="pyevm" if request.param == "embedded" else "revm")
        yield chain
        chain.close()
        return
    reason = node_unavailable_reason()
    if reason is not None:
        print(f"skipping the hardhat engine: {reason}")
        pytest.skip(reason)
    node = HardhatNode().start()
    try:
        yield RpcChain(node.url)
    finally:
        node.stop()


@pytest.fixture(scope="session")
def session_deployment(session_chain: Chain) -> Deployment:
    return deploy_suite(session_chain)


@pytest.fixture
def dep(session_deployment: Deployment) -> Iterator[Deployment]:
    chain = session_deployment.chain
    snap = chain.snapshot()
    yield session_deployment
    chain.revert(snap)


@pytest.fixture
def chain(dep: Deployment) -> Chain:
    return dep.chain


@pytest.fixture
def archive(clean_archive: Path, tmp_path: Path) -> Path:
    """A working copy of the module's ``clean_archive`` fixture (tests edit it; verifying opens its chain)."""
    copy = tmp_path / "data"
    shutil.copytree(clean_archive, copy)
    return copy
