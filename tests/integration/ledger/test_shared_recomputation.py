"""The in-process validators share one recomputation per distinct input (issue 13,
:mod:`transactive.market.ledger.sharing`): a short simulated day through the service's desks with sharing
on and off archives the same batches, results, settlement postings, roots and endorsements, and with
sharing each round runs the validators' recomputation once while all 4 validators still sign their own
endorsement, while the batch is cleared only by the validators that recompute it (the auctioneer takes the
operator's clearing); the memo recomputes once per exact input (a changed signature, param, DSO, slot, order or
reward share is another input) and a forged signature is still refused."""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import signed_market_document_batch

from transactive.crypto.eip712 import Domain
from transactive.ledger.audit.audit import SlotArchive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance import protocol
from transactive.ledger.clearance.protocol import ClearanceError, recompute
from transactive.ledger.messages.commitments import RewardShares
from transactive.market.ledger import accounts, anchoring
from transactive.market.ledger.config import LedgerConfig
from transactive.market.ledger.settlement import LedgerSettlement
from transactive.market.ledger.sharing import SharedRecomputation, clearing_key
from transactive.sim import day_service
from transactive.sim.day import DayConfig, run_day

CONFIG = DayConfig(seed=4, n_slots=3, n_prosumers=6, mechanism="uniform")
DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
DSO = "0x" + "11" * 20


def _day(out: Path, monkeypatch: pytest.MonkeyPatch, *, share: bool) -> tuple[SlotArchive, Counter[str]]:
    """Run the short day with sharing on or off, counting the validators' recomputations and signatures."""
    calls: Counter[str] = Counter()
    recompute, postings, sign_root = anchoring.recompute, LedgerSettlement.settlement_postings, \
        protocol.Validator.sign_root

    def counted_recompute(*args: Any, **kwargs: Any) -> Any:
        calls["clearing" if kwargs.get("verify", True) else "auctioneer's entries"] += 1
        return recompute(*args, **kwargs)

    own_entries = anchoring.batch_entries

    def counted_own_entries(*args: Any, **kwargs: Any) -> Any:
        calls["auctioneer's entries"] += 1
        return own_entries(*args, **kwargs)

    entries = protocol.result_entries

    def counted_entries(*args: Any, **kwargs: Any) -> Any:
        calls["clearing converted to entries"] += 1
        return entries(*args, **kwargs)

    batch_clear = protocol._clear

    def counted_batch_clear(*args: Any, **kwargs: Any) -> Any:
        calls["batch cleared by the mechanism"] += 1
        return batch_clear(*args, **kwargs)

    def counted_postings(self: LedgerSettlement, *args: Any, **kwargs: Any) -> Any:
        calls["postings"] += 1
        return postings(self, *args, **kwargs)

    def counted_sign_root(self: protocol.Validator, *args: Any, **kwargs: Any) -> Any:
        calls[f"endorsement by {self.address}"] += 1
        return sign_root(self, *args, **kwargs)

    with monkeypatch.context() as m:  # the same custodial keys in both days (so the same accounts and signatures)
        m.setattr(accounts.secrets, "token_bytes", random.Random(8).randbytes)
        m.setattr(day_service, "LedgerConfig", functools.partial(LedgerConfig, share_recomputation=share))
        m.setattr(anchoring, "recompute", counted_recompute)
        m.setattr(anchoring, "batch_entries", counted_own_entries)
        m.setattr(protocol, "result_entries", counted_entries)
        m.setattr(protocol, "_clear", counted_batch_clear)
        m.setattr(LedgerSettlement, "settlement_postings", counted_postings)
        m.setattr(protocol.Validator, "sign_root", counted_sign_root)
        run_day(CONFIG, out)
    return SlotArchive(out / "ledger"), calls


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[SlotArchive, Counter[str]]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return {share: _day(tmp_path_factory.mktemp(f"share-{share}"), monkeypatch, share=share)
                for share in (True, False)}


def test_sharing_archives_the_same_roots_results_and_endorsements(
        days: dict[bool, tuple[SlotArchive, Counter[str]]]) -> None:
    shared, alone = days[True][0], days[False][0]
    assert shared.slots() == alone.slots() and shared.slots()
    assert shared.settlement_slots() == alone.settlement_slots() and shared.settlement_slots()
    for slot in shared.slots():
        (batch, _), (reference, _) = shared.load(slot), alone.load(slot)
        assert batch.results and batch.results == reference.results
        assert batch.result_root == reference.result_root and batch.order_root == reference.order_root
        assert batch.endorsements == reference.endorsements  # each validator's own (deterministic) signature
    for slot in shared.settlement_slots():
        record, reference_record = shared.load_settlement(slot), alone.load_settlement(slot)
        assert record.postings and record == reference_record


def test_one_recomputation_per_round_and_four_endorsements(
        days: dict[bool, tuple[SlotArchive, Counter[str]]]) -> None:
    for share, (archive, calls) in days.items():
        anchored, settled = len(archive.slots()), len(archive.settlement_slots())
        validators = [k for k in calls if k.startswith("endorsement by ")]
        assert len(validators) == 4  # every validator signs its own endorsement of every round
        assert all(calls[v] == anchored + settled for v in validators)
        per_round = 1 if share else 3  # the other validators' recomputations of one round in this process
        assert calls["clearing"] == per_round * anchored
        # the auctioneer's entries from the operator's clearing: converted once, before it commits; its endorsement
        # takes them with the slot's rewards (protocol.with_rewards), not converted again (issue 13)
        assert calls["auctioneer's entries"] == anchored
        # every conversion of a clearing to integer entries: the auctioneer's one, the other validators' (one
        # shared, else one each) and the day's final audit
        assert calls["clearing converted to entries"] == (1 + per_round + 1) * anchored
        # the batch itself is cleared only by the validators that recompute it, never by the auctioneer, which took
        # the operator's clearing (issue 13): shared once for the three others, else once by each of them; and once
        # by the day's final audit
        assert calls["batch cleared by the mechanism"] == ((1 if share else 3) + 1) * anchored
        # the validators' check + postings of the published input (without sharing, each of the 4 validators)
        assert calls["postings"] == (1 if share else 4) * settled


# ------------------------------------------------------------------ the memo and its keys
@pytest.fixture(scope="module")
def batch() -> SlotBatch:
    return signed_market_document_batch(DOMAIN, 77, DSO)


def test_the_memo_computes_once_per_key_keeps_no_failure_and_drops_the_oldest() -> None:
    shared = SharedRecomputation(keep=2)
    runs: list[str] = []
    for key in ("a", "a", "b", "a", "c", "b"):  # "b" dropped when "c" came (the oldest of a, b after a's reuse)
        assert shared.get(key, lambda k=key: runs.append(k) or k.upper()) == key.upper()  # type: ignore[misc]
    assert runs == ["a", "b", "c", "b"] and shared.computed == 4

    def fails() -> str:
        raise ClearanceError("slot 1: no")

    for _ in range(2):  # a refused input is recomputed (and refused) every time
        with pytest.raises(ClearanceError):
            shared.get("bad", fails)
    assert shared.computed == 4


def test_the_clearing_key_is_the_exact_input(batch: SlotBatch) -> None:
    rewards = RewardShares(100, 100)
    key = clearing_key(batch, rewards)
    assert clearing_key(replace(batch), RewardShares(100, 100)) == key
    forged_sig = replace(batch, orders=(replace(batch.orders[0], signature=bytes(65)), *batch.orders[1:]))
    assert forged_sig.order_root == batch.order_root  # the same messages: only the signature differs
    changed = [forged_sig, replace(batch, params={**(batch.params or {}), "k": 0.25}), replace(batch, dso=None),
               replace(batch, slot=78), replace(batch, orders=batch.orders[:-1])]
    assert len({key, *(clearing_key(b, rewards) for b in changed)}) == 1 + len(changed)
    assert clearing_key(batch, None) != key and clearing_key(batch, RewardShares(100, 101)) != key
    # a shared result never lets a forged signature through: its batch is another key, recomputed and refused
    shared = SharedRecomputation()
    expected = shared.get(key, lambda: recompute(batch, rewards=rewards))
    assert expected and shared.computed == 1
    with pytest.raises(ClearanceError, match="signature"):
        shared.get(clearing_key(forged_sig, rewards), lambda: recompute(forged_sig, rewards=rewards))
    assert shared.get(key, lambda: ()) == expected and shared.computed == 1  # the kept one, not recomputed
