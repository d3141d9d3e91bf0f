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


def test_a_new_directory_takes_the_named_engine_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    from transactive.ledger.chain.embedded import DataDirInUse
    from transactive.ledger.chain.revm import JOURNAL_FILE, RevmChain

    new = open_chain(data_dir=tmp_path / "new", engine="revm")
    assert isinstance(new, RevmChain) and (tmp_path / "new" / JOURNAL_FILE).is_file()
    with pytest.raises(DataDirInUse):  # one lock for both engines: no second writer on another engine
        open_chain(data_dir=tmp_path / "new", engine="pyevm")
    new.close()
    reopened = open_chain(data_dir=tmp_path / "new")
    assert isinstance(reopened, RevmChain)  # its own engine
    reopened.close()
    old = open_chain(data_dir=tmp_path / "old")
    old.close()
    kept = open_chain(data_dir=tmp_path / "old", engine="revm")  # an old py-evm directory stays py-evm
    assert isinstance(kept, EmbeddedChain) and not (tmp_path / "old" / JOURNAL_FILE).exists()
    kept.close()


def test_bad_engine_and_mixed_directory_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chain_engine"):
        open_chain(engine="geth")
    (tmp_path / "chain.sqlite").touch()
    (tmp_path / "chain-revm.sqlite").touch()
    with pytest.raises(ValueError, match="chain_dir"):
        open_chain(data_dir=tmp_path)
    from transactive.market.ledger.config import LedgerConfig

    with pytest.raises(ValueError, match="chain_engine"):
        LedgerConfig(chain_engine="geth")
