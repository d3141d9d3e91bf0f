"""Open the chain the user asked for: a JSON-RPC node by URL (``--chain-url``), else the embedded chain.

Example:
    >>> chain = open_chain()  # in-memory embedded chain
    >>> chain.chain_id
    1337
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.chain.rpc import RpcChain


def open_chain(chain_url: str | None = None, data_dir: str | Path | None = None,
               private_keys: Sequence[bytes] | None = None) -> Chain:
    """``RpcChain(chain_url)`` if a URL is given (http/https), else ``EmbeddedChain(data_dir)``."""
    if chain_url:
        if not chain_url.startswith(("http://", "https://")):
            raise ValueError(f"chain_url: expected an http(s) JSON-RPC URL, got {chain_url!r}")
        return RpcChain(chain_url, private_keys=private_keys)
    if private_keys is not None:
        raise ValueError("private_keys: the embedded chain uses its own development accounts")
    return EmbeddedChain(data_dir)
