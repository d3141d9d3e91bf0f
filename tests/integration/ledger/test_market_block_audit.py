"""The batch's ``market`` block (mechanism, params, DSO) is committed on chain (format 3: the order tree's last
leaf), so ``transactive ledger verify`` finds an edit of it even on a slot without trades, whose recomputed
results an edit does not change; a format-2 batch (market not committed) still verifies by its own rule, and
relabelling a format-3 file as format 2 is caught."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import build_archive

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import SlotArchive, recorded_root, verify_archive
from transactive.ledger.audit.proofs import ProofError, SlotBatch, market_proof, verify_proof
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import Deployment

NO_TRADE, OLD_FORMAT = 5, 6  # slot 5: format 3, nobody trades; slot 6: format 2 (an older service's batch)


@pytest.fixture(scope="module")
def clean_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def batches(dep: Deployment, domain: Domain, signers: Sequence[Signer]) -> Iterator[SlotBatch]:
        for slot, commits_market in ((NO_TRADE, True), (OLD_FORMAT, False)):
            # sellers ask more than buyers bid: no trade, every result entry zero
            book = [(0, 2_000, 300_000), (1, 1_500, 100_000), (0, 1_000, 320_000), (1, 3_000, 90_000)]
            orders = tuple(sign_order(s, OrderMessage(s.address, slot, side, wh, price, 0), domain)
                           for s, (side, wh, price) in zip(signers, book, strict=False))
            yield SlotBatch(domain, slot, orders, mechanism="dpda", params={"exact_oversupply": False},
                            dso=dep.dso, commits_market=commits_market)

    root = tmp_path_factory.mktemp("market-block")
    finals = build_archive(root, EmbeddedChain, batches)
    assert not any(e.amount_micro or e.energy_wh for final in finals for e in final.results)
    return root


def edit_slot(root: Path, slot: int, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "slots" / f"{slot}.json"
    doc = json.loads(path.read_text())
    change(doc)
    doc.pop("orderRoot")  # the editor does not leave a stated root that gives the edit away on load
    path.write_text(json.dumps(doc))


def test_both_formats_verify_clean(archive: Path) -> None:
    assert json.loads((archive / "slots" / f"{NO_TRADE}.json").read_text())["format"] == "transactive.ledger-batch/3"
    assert json.loads((archive / "slots" / f"{OLD_FORMAT}.json").read_text())["format"] == \
        "transactive.ledger-batch/2"
    assert verify_archive(archive) is None


def _set_dso(doc: dict[str, Any]) -> None:
    doc["market"]["dso"] = doc["orders"][0]["trader"]  # a prosumer named as the DSO


@pytest.mark.parametrize("change", [
    lambda doc: doc["market"].update(mechanism="uniform", params={}),  # clears the book to no trade as well
    lambda doc: doc["market"]["params"].update(exact_oversupply=True),
    _set_dso,
    lambda doc: doc["market"].pop("dso"),
], ids=["mechanism", "param", "dso", "dso removed"])
def test_an_edited_market_block_on_a_slot_without_trades_is_found(
        archive: Path, change: Callable[[dict[str, Any]], None]) -> None:
    edit_slot(archive, NO_TRADE, change)
    found = verify_archive(archive)
    assert found is not None and found.slot == NO_TRADE and found.what == "orderRoot"
    assert "market block" in found.found


def test_relabelling_a_format_3_batch_as_format_2_is_found(archive: Path) -> None:
    edit_slot(archive, NO_TRADE, lambda doc: doc.update(format="transactive.ledger-batch/2"))
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (NO_TRADE, "orderRoot")


def test_a_market_proof_verifies_against_the_root_recorded_on_chain(archive: Path) -> None:
    batch, _ = SlotArchive(archive).load(NO_TRADE)
    doc = market_proof(batch)
    chain_root = recorded_root(archive, NO_TRADE, "market")  # what `ledger proof --verify --data-dir` reads
    assert verify_proof(doc, expected_root=chain_root).startswith("valid market block (mechanism 'dpda'")
    edited = replace(batch, params={"exact_oversupply": True})
    with pytest.raises(ProofError, match="not the expected root"):  # a consistent proof of another block
        verify_proof(market_proof(edited), expected_root=chain_root)
