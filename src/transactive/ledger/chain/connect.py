"""Open the chain the user asked for: a JSON-RPC node by URL (``--chain-url``), else an in-process engine.

Two in-process engines exist (docs/ledger.md, *Chain engines*): ``pyevm``
(:class:`~transactive.ledger.chain.embedded.EmbeddedChain`, ``chain.sqlite``) and ``revm``
(:class:`~transactive.ledger.chain.revm.RevmChain`, ``chain-revm.sqlite``). A data directory that already
holds one engine's file is always opened with that engine (old directories keep working and verifying); only
a new (or in-memory) chain takes the engine named by the caller. :func:`open_local_chain` is the one place
that makes this choice.

Example:
    >>> chain = open_chain()  # in-memory embedded chain
    >>> chain.chain_id
    1337
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transactive.ledger.chain.base import DEFAULT_DEV_ACCOUNTS, Chain
from transactive.ledger.chain.constants import CHAIN_ENGINES, PYEVM, REVM
from transactive.ledger.chain.rpc import RpcChain

if TYPE_CHECKING:
    from transactive.ledger.chain.embedded import EmbeddedChain
    from transactive.ledger.chain.revm import RevmChain

ENGINES = CHAIN_ENGINES
ENGINE_FILES = {PYEVM: "chain.sqlite", REVM: "chain-revm.sqlite"}
"""Each engine's file in a data directory."""


def engine_of(data_dir: str | Path | None, engine: str = PYEVM) -> str:
    """The engine that opens ``data_dir``: the one whose file it holds, else ``engine`` (a new chain)."""
    if engine not in ENGINES:
        raise ValueError(f"chain_engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if data_dir is None:
        return engine
    present = [name for name, file in ENGINE_FILES.items() if (Path(data_dir) / file).is_file()]
    if len(present) > 1:
        raise ValueError(f"chain_dir: {data_dir} holds the files of two chain engines ({', '.join(present)})")
    return present[0] if present else engine


def open_local_chain(data_dir: str | Path | None = None, *, engine: str = PYEVM,
                     n_accounts: int = DEFAULT_DEV_ACCOUNTS, read_only: bool = False) -> EmbeddedChain | RevmChain:
    """An in-process chain in ``data_dir`` (None: in memory) on the engine :func:`engine_of` picks.
    ``read_only``: open an existing directory without writing (``FileNotFoundError`` when it holds no chain)."""
    if engine_of(data_dir, engine) == REVM:
        from transactive.ledger.chain.revm import RevmChain

        return RevmChain(data_dir, n_accounts, read_only=read_only)
    from transactive.ledger.chain.embedded import EmbeddedChain

    return EmbeddedChain(data_dir, n_accounts, read_only=read_only)


def open_chain(chain_url: str | None = None, data_dir: str | Path | None = None,
               private_keys: Sequence[bytes] | None = None, engine: str = PYEVM) -> Chain:
    """``RpcChain(chain_url)`` if a URL is given (http/https), else :func:`open_local_chain` (``engine`` for a
    new chain)."""
    if chain_url:
        if not chain_url.startswith(("http://", "https://")):
            raise ValueError(f"chain_url: expected an http(s) JSON-RPC URL, got {chain_url!r}")
        return RpcChain(chain_url, private_keys=private_keys)
    if private_keys is not None:
        raise ValueError("private_keys: the embedded chain uses its own development accounts")
    return open_local_chain(data_dir, engine=engine)
