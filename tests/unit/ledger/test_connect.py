"""open_chain picks the engine and rejects bad URLs with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from transactive.ledger.chain.connect import open_chain
from transactive.ledger.chain.embedded import EmbeddedChain


def test_default_is_embedded(tmp_path: Path) -> None:
    chain = open_chain(data_dir=tmp_path)
    assert isinstance(chain, EmbeddedChain)
    assert (tmp_path / "chain.sqlite").is_file()
    chain.close()


def test_bad_url_names_the_field() -> None:
    with pytest.raises(ValueError, match="chain_url"):
        open_chain("ftp://example.invalid")


def test_keys_only_for_rpc() -> None:
    with pytest.raises(ValueError, match="private_keys"):
        open_chain(private_keys=[b"\x01" * 32])
