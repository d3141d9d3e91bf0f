"""``transactive ledger verify``: a clean archive passes; one tampered order, result, endorsement or token
figure is reported precisely (slot, what, expected, found) with exit code 1; unreadable input exits 2."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import ARCHIVE_MINTED, build_archive

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import Discrepancy, SlotArchive, register, verify_archive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.chain.base import Chain
from transactive.ledger.chain.connect import ENGINE_FILES, engine_of, open_local_chain
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.ledger.testing import Deployment


@pytest.fixture(scope="module")
def clean_archive(tmp_path_factory: pytest.TempPathFactory, local_engine: str) -> Path:
    def batches(dep: Deployment, domain: Domain, signers: Sequence[Signer]) -> Iterator[SlotBatch]:
        for slot in (3, 4):
            book = [(0, 2_000, 100_000), (1, 1_500, 200_000), (0, 1_000, 120_000), (1, 3_000, 90_000 + slot)]
            orders = tuple(
                sign_order(s, OrderMessage(s.address, slot, side, wh, price, slot), domain)
                for s, (side, wh, price) in zip(signers, book, strict=False)
            )
            yield SlotBatch(domain, slot, orders, mechanism="uniform")

    root = tmp_path_factory.mktemp("archive")
    finals = build_archive(root, lambda chain_dir: open_local_chain(chain_dir, engine=local_engine), batches)
    assert all(any(e.amount_micro for e in final.results) for final in finals)
    return root


def edit_slot(root: Path, slot: int, change: Any) -> dict[str, Any]:
    path = root / "slots" / f"{slot}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return doc


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="transactive ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


def test_clean_archive_passes(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_archive(archive) is None
    assert cli(["verify", str(archive)]) == 0
    assert "clean: 2 slot(s)" in capsys.readouterr().out


def test_tampered_order_is_reported(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["orders"][1]["energyWh"] += 1  # the signature no longer matches

    edit_slot(archive, 4, change)
    found = verify_archive(archive)
    assert found is not None
    assert (found.slot, found.what) == (4, "order 1")
    assert "signature" in found.found
    assert cli(["verify", str(archive)]) == 1
    assert "slot 4: order 1" in capsys.readouterr().err


def test_resigned_tampered_order_changes_the_order_root(archive: Path, clean_archive: Path) -> None:
    """The trader itself re-signs a changed order: signatures pass, but the root differs from the chain's."""
    batch, _ = SlotArchive(archive).load(3)
    chain = open_local_chain(SlotArchive(clean_archive).chain_dir)
    try:
        key = chain.private_key(batch.orders[0].message.trader)
    finally:
        chain.close()
    m = batch.orders[0].message
    changed = OrderMessage(m.trader, m.slot, m.side, m.energy_wh + 500, m.price_micro_per_kwh, m.nonce)
    resigned = sign_order(Signer(key), changed, batch.domain).to_json()
    edit_slot(archive, 3, lambda doc: doc["orders"].__setitem__(0, resigned))
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (3, "orderRoot")
    assert found.expected.startswith("0x" + SlotArchive(clean_archive).load(3)[0].order_root.hex())


def test_tampered_result_is_reported(archive: Path) -> None:
    original = SlotArchive(archive).load(3)[0].results[0]

    def change(doc: dict[str, Any]) -> None:
        doc["results"][0]["amountMicro"] += 7

    edit_slot(archive, 3, change)
    found = verify_archive(archive)
    assert found == Discrepancy(
        3, f"result {original.account}",
        f"(energyWh {original.energy_wh}, amountMicro {original.amount_micro}) (recomputed)",
        f"(energyWh {original.energy_wh}, amountMicro {original.amount_micro + 7}) (stored)",
    )


def test_tampered_endorsement_is_reported(archive: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        sig = bytearray.fromhex(doc["endorsements"][2][2:])
        sig[5] ^= 0x01  # a different r: recovers to some other key
        doc["endorsements"][2] = "0x" + sig.hex()

    edit_slot(archive, 4, change)
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (4, "endorsement 2")
    assert "not a validator" in found.found or "malformed" in found.found


def test_too_few_endorsements_are_reported(archive: Path) -> None:
    edit_slot(archive, 4, lambda doc: doc.__setitem__("endorsements", doc["endorsements"][:2]))
    assert verify_archive(archive) == Discrepancy(4, "endorsements", "at least 3 distinct validators", "2")


def test_repeated_endorsement_is_reported(archive: Path) -> None:
    edit_slot(archive, 3, lambda doc: doc["endorsements"].__setitem__(1, doc["endorsements"][0]))
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (3, "endorsement 1")
    assert found.found.startswith("a repeat of")


def test_token_journal_mismatch_is_reported(archive: Path) -> None:
    SlotArchive(archive).record_mint(5)
    assert verify_archive(archive) == Discrepancy(
        None, "token supply", f"minted - burned {ARCHIVE_MINTED + 5} (journal)", f"totalSupply {ARCHIVE_MINTED}"
    )


def test_unreadable_input_exits_2(archive: Path, tmp_path: Path) -> None:
    (archive / "slots" / "3.json").write_text("{not json")
    assert cli(["verify", str(archive)]) == 2
    assert cli(["verify", str(tmp_path / "missing")]) == 2


def test_verify_is_a_ledger_subcommand(archive: Path) -> None:
    from transactive.cli import main

    assert main(["ledger", "verify", str(archive)]) == 0
    edit_slot(archive, 3, lambda doc: doc["results"][1].__setitem__("energyWh", 1))
    assert main(["ledger", "verify", str(archive)]) == 1


def _tree_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_verify_writes_nothing_into_the_archive(archive: Path) -> None:
    """The audit opens the chain read only: every file of the archive is byte-identical afterwards."""
    before = _tree_state(archive)
    assert cli(["verify", str(archive)]) == 0
    assert _tree_state(archive) == before


def test_corrupt_chain_database_exits_2_naming_it(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = ENGINE_FILES[engine_of(archive / "chain")]  # the engine's own file
    path = archive / "chain" / name
    for extra in (f"{name}-wal", f"{name}-shm"):
        (archive / "chain" / extra).unlink(missing_ok=True)
    path.write_bytes(b"\x8f garbage, not a database \x00" * 200)
    assert cli(["verify", str(archive)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, b""])
def test_empty_or_missing_chain_database_is_never_written(
    archive: Path, content: bytes | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """No fresh genesis is written into the archive the audit reads: exit 2 and the file untouched."""
    chain_dir = archive / "chain"
    name = ENGINE_FILES[engine_of(chain_dir)]
    shutil.rmtree(chain_dir)
    chain_dir.mkdir()
    if content is not None:
        (chain_dir / name).write_bytes(content)
    before = _tree_state(archive)
    assert cli(["verify", str(archive)]) == 2
    assert "chain" in capsys.readouterr().err
    assert _tree_state(archive) == before
    assert sorted(p.name for p in chain_dir.iterdir()) == ([] if content is None else [name])


def test_proof_verified_against_the_root_recorded_on_chain(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ledger proof --verify --data-dir``: a genuine proof is valid against the chain's root; a forged,
    self-consistent one (another result for the same slot) is refused; the chain is not written."""
    from transactive.cli._ledger_proof import register as register_proof
    from transactive.ledger.audit.proofs import save_batch
    from transactive.ledger.messages.commitments import ResultEntry

    def proof(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="transactive ledger")
        register_proof(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["proof", *argv])
        return int(args.run(args))

    batch = SlotArchive(archive).load(3)[0]
    entry = next(e for e in batch.results if e.amount_micro > 0)
    payer = next(e.account for e in batch.results if e.amount_micro < 0)
    out = tmp_path / "p.json"
    assert proof([str(archive / "slots" / "3.json"), "--account", entry.account, "--result", "--out", str(out)]) == 0
    before = _tree_state(archive)
    capsys.readouterr()
    assert proof(["--verify", str(out), "--data-dir", str(archive)]) == 0
    assert "result root MarketSlots recorded on chain for slot 3" in capsys.readouterr().out
    forged = SlotBatch(batch.domain, 3, (), results=(ResultEntry(entry.account, 0, entry.amount_micro * 100),
                                                 ResultEntry(payer, 0, -entry.amount_micro * 100)))
    save_batch(forged, tmp_path / "forged.json")
    assert proof([str(tmp_path / "forged.json"), "--account", entry.account, "--result", "--out", str(out)]) == 0
    capsys.readouterr()
    assert proof(["--verify", str(out), "--data-dir", str(archive)]) == 2
    assert "not the expected root" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    doc["slot"] = 99  # a slot the chain never recorded
    out.write_text(json.dumps(doc))
    assert proof(["--verify", str(out), "--data-dir", str(archive)]) == 2
    assert "slot 99 has no result_root" in capsys.readouterr().err
    assert _tree_state(archive) == before


def test_deleted_archive_file_is_found_from_the_chain(archive: Path) -> None:
    """The chain opened and endorsed slot 4: deleting its file is a finding, not a smaller clean archive."""
    (archive / "slots" / "4.json").unlink()
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what, found.found) == (4, "archive file", "none")
    assert cli(["verify", str(archive)]) == 1
    shutil.rmtree(archive / "slots")
    (archive / "slots").mkdir()
    found = verify_archive(archive)
    assert found is not None and (found.slot, found.what) == (3, "archive file")


def _as_admin(archive: Path, change: Any) -> None:
    """Change the archive's chain (a copy) as the Registry's admin, after its slots were endorsed."""
    manifest = SlotArchive(archive).manifest()
    from transactive.ledger.chain.base import contract_at

    registry = contract_at("Registry", manifest["registry"])
    chain = open_local_chain(SlotArchive(archive).chain_dir)
    try:
        change(chain, registry, chain.accounts[0])
    finally:
        chain.close()


def test_lowering_the_threshold_later_does_not_pass_a_short_archive(archive: Path) -> None:
    """Endorsements count against the Registry when the slot cleared (3 of 4), not today's (2)."""
    _as_admin(archive, lambda c, r, admin: c.transact(r, "set_threshold", 2, sender=admin))
    edit_slot(archive, 4, lambda doc: doc.__setitem__("endorsements", doc["endorsements"][:2]))
    assert verify_archive(archive) == Discrepancy(4, "endorsements", "at least 3 distinct validators", "2")


def test_removing_a_validator_later_does_not_fail_old_slots(archive: Path) -> None:
    """A validator that signed slots 3 and 4 and was removed afterwards still counts for them."""
    from transactive.ledger.chain.constants import ROLE_VALIDATOR

    signers = set()
    for slot in (3, 4):
        batch = SlotArchive(archive).load(slot)[0]
        signers |= {recover_endorser(batch, sig) for sig in batch.endorsements}

    def remove(c: Chain, r: Any, admin: str) -> None:
        who = sorted(signers)[0]
        roles = int(c.call(r, "roles", who))
        c.transact(r, "set_member", who, roles & ~ROLE_VALIDATOR, c.call(r, "bus", who), sender=admin)
        assert not c.call(r, "is_validator", who)

    _as_admin(archive, remove)
    assert verify_archive(archive) is None


def recover_endorser(batch: SlotBatch, sig: bytes) -> str:
    from transactive.crypto.eip712 import endorsement_digest
    from transactive.crypto.signing import recover_address

    return str(recover_address(endorsement_digest(batch.domain, batch.slot, batch.order_root, batch.result_root), sig))


def _journal(archive: Path, *, drop_first: bool) -> tuple[str, str]:
    """Post two statement batches (A pays B 5 tokens, then 2) on the archive's chain and journal them; with
    ``drop_first`` the first line is left out and its postings folded into the starting balances."""
    from transactive.ledger.audit.statements import Posting, StatementJournal, post_batch
    from transactive.ledger.chain.base import contract_at

    manifest = SlotArchive(archive).manifest()
    token = contract_at("EnergyToken", manifest["token"])
    chain = open_local_chain(SlotArchive(archive).chain_dir)
    try:
        a, b = chain.accounts[7], chain.accounts[8]
        holders = [x for x in chain.accounts if int(chain.call(token, "balanceOf", x))]
        starting = {x: int(chain.call(token, "balanceOf", x)) for x in holders}
        journal = StatementJournal(archive)
        lines = []
        for label, amount in (("day-1", 5_000_000), ("day-2", 2_000_000)):
            postings = [Posting("bilateral", a, -amount), Posting("bilateral", b, amount)]
            lines.append((label, post_batch(chain, token, label, postings, sender=chain.accounts[0]), postings))
    finally:
        chain.close()
    statement = {a: -7_000_000, b: 7_000_000}
    if drop_first:
        lines = lines[1:]
        starting[a] -= 5_000_000
        starting[b] += 5_000_000
        statement = {a: -2_000_000, b: 2_000_000}
    for label, ref, postings in lines:
        journal.append(label, ref, postings)
    journal.write(manifest["token"], starting, statement)
    return a, b


def test_starting_balances_are_checked_against_the_mint_history(archive: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged"
    shutil.copytree(archive, forged)
    _journal(archive, drop_first=False)
    assert verify_archive(archive) is None
    a, _ = _journal(forged, drop_first=True)  # balances, postings and statements all agree: only the mints
    found = verify_archive(forged)
    assert found is not None and found.what == f"starting {a}"
    assert found.expected.startswith(f"{1_000 * 10**6} (minted - burned")
    assert found.found == str(1_000 * 10**6 - 5_000_000)
