"""Write-ahead transaction intents (schema version 9), on SQLite and PostgreSQL; a version-8 database upgraded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from store_support import upgraded_from

from transactive.ledger.chain.intents import TxIntent

SENDER = "0x" + "ab" * 20


def _intent(n: int, *, chain_id: int = 31337, slot: str | None = "340282366920938463463374607431768211457") -> TxIntent:
    return TxIntent(chain_id, f"0x{n:064x}", SENDER, n, "0x" + "f8" * (100 + n), "settle_batch", slot)


def test_intents_are_open_until_closed_and_found_by_slot(store: Any) -> None:
    for n in range(3):
        store.put_tx_intent(_intent(n))
    store.put_tx_intent(_intent(3, chain_id=1337))
    store.put_tx_intent(_intent(4, slot=None))
    assert [i.nonce for i in store.open_tx_intents(31337)] == [0, 1, 2, 4]  # oldest first, this chain only
    first = store.open_tx_intents(31337)[0]
    assert first == TxIntent(31337, "0x" + "0" * 64, SENDER, 0, "0x" + "f8" * 100, "settle_batch",
                             "340282366920938463463374607431768211457", "open", None, first.created_at,
                             first.updated_at)  # the slot number beyond 64 bits kept exactly
    store.close_tx_intent(_intent(1).tx_hash, "mined", 12)
    store.close_tx_intent(_intent(2).tx_hash, "dropped", None)
    store.close_tx_intent(_intent(1).tx_hash, "reverted", 13)  # closed already: unchanged
    assert [i.nonce for i in store.open_tx_intents(31337)] == [0, 4]
    by_slot = store.tx_intents("340282366920938463463374607431768211457")
    assert [(i.nonce, i.state, i.block_number) for i in by_slot] == [(0, "open", None), (1, "mined", 12),
                                                                    (2, "dropped", None), (3, "open", None)]
    with pytest.raises(ValueError, match="state"):
        store.close_tx_intent(_intent(0).tx_hash, "open", None)


def test_a_hash_signed_again_after_a_refusal_is_a_new_open_intent(store: Any) -> None:
    store.put_tx_intent(_intent(7))
    store.close_tx_intent(_intent(7).tx_hash, "refused", None)
    store.put_tx_intent(_intent(7))  # the same transaction signed again (same nonce, same data)
    assert [i.state for i in store.tx_intents(_intent(7).slot)] == ["refused", "open"]
    store.close_tx_intent(_intent(7).tx_hash, "mined", 5)
    assert [i.state for i in store.tx_intents(_intent(7).slot)] == ["refused", "mined"]


def test_version_8_database_is_upgraded_in_place(tmp_path: Path) -> None:
    with upgraded_from(tmp_path, 8, ["tx_intents"]) as upgraded:
        upgraded.put_tx_intent(_intent(1))
        assert [i.nonce for i in upgraded.open_tx_intents(31337)] == [1]
