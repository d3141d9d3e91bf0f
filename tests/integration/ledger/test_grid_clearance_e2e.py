"""Grid-aware Proof of Clearance end to end: a ``dpda_matched`` slot on the IEEE European LV feeder, orders
and attributes signed by real keys, recomputed by 4 validators (one dishonest, 3-of-4) on the embedded
chain, settled in batch mode with the DSO's grid charges, audited clean -- and checked against the
off-chain ``full_registry()['dpda_matched']`` run on the same market file (an independent path)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import BASE_ACCOUNTS, MINT_MICRO, N_PROSUMERS, market_document, setup_members

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.proofs import SlotBatch, attributes_proof, verify_proof
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.clearance.protocol import (
    ClearanceError,
    Validator,
    clear_batch,
    domain_of,
    recompute,
    run_slot,
    settle,
)
from transactive.ledger.messages.attributes import SignedAttributes, check_attributes
from transactive.ledger.messages.batch import signed_market_batch
from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF, ResultEntry, RewardShares, grid_charge_micro
from transactive.ledger.messages.orders import sign_order
from transactive.ledger.testing import CLOSE, SETTLED
from transactive.marketfile import Market, parse_market
from transactive.registry import full_registry
from transactive.units import energy_to_wh, money_to_micro


class Tamperer(Validator):
    """Dishonest: moves one micro-token of the DSO's income to the first account."""

    def solve(self, batch: SlotBatch, rewards: RewardShares | None = None) -> tuple[ResultEntry, ...]:
        entries = list(super().solve(batch, rewards))
        entries[0] = replace(entries[0], amount_micro=entries[0].amount_micro + 1)
        entries[-1] = replace(entries[-1], amount_micro=entries[-1].amount_micro - 1)
        return tuple(ResultEntry(e.account, e.energy_wh, e.amount_micro) for e in entries)


@pytest.fixture(scope="module")
def grid_market() -> tuple[dict[str, Any], Market]:
    doc = market_document()
    return doc, parse_market(json.loads(json.dumps(doc)))


def test_dpda_matched_slot_signed_endorsed_settled_audited(
    grid_market: tuple[dict[str, Any], Market], tmp_path: Path, local_engine: str
) -> None:
    doc, market = grid_market
    archive = SlotArchive(tmp_path)
    chain = open_local_chain(archive.chain_dir, engine=local_engine, n_accounts=BASE_ACCOUNTS + N_PROSUMERS)
    try:
        dep, signers = setup_members(chain, market)
        archive.create(registry=dep.registry.address, token=dep.token.address, slots=dep.slots.address)
        archive.record_mint(MINT_MICRO * (10 + N_PROSUMERS))
        slot = 9  # auctioneer validators[1]
        batch = signed_market_batch(market, signers, domain=domain_of(chain, dep.slots), slot=slot,
                                    params=doc["params"], dso=dep.dso)
        assert len(batch.attributes) == N_PROSUMERS
        keys = [chain.private_key(v) for v in dep.validators]
        validators = [Tamperer(keys[0]), *(Validator(k) for k in keys[1:])]
        holders = [*(s.address for s in signers.values()), *dep.validators, dep.dso, dep.slots.address, dep.admin]
        before = {a: chain.call(dep.token, "balanceOf", a) for a in holders}

        final, collected, miner = run_slot(chain, dep.slots, batch, validators, k=3)
        assert collected.dissenters == (dep.validators[0],) and len(collected.signers) == 3
        assert chain.call(dep.slots, "slots", slot)[4] == batch.order_root  # orders + attributes committed
        settle(chain, dep.slots, final)
        assert chain.call(dep.slots, "slot_state", slot) == SETTLED
        archive.save(final)

        # the independent path: the off-chain mechanism on the market file itself
        off = full_registry()["dpda_matched"].run(market.sellers, market.buyers, market.params)
        address = {pid: s.address for pid, s in signers.items()}
        charge_micro = money_to_micro(math.fsum(t["charge"] for t in off.details["trades"]))  # once per slot
        assert charge_micro > 0 and len(off.details["trades"]) >= 3
        _, _, recomputed = clear_batch(final)
        expected_trades = [
            {**t, "buyer": address[t["buyer"]], "seller": address[t["seller"]]} for t in off.details["trades"]
        ]
        assert recomputed.details["trades"] == expected_trades  # same trades, distances, charges, scores
        assert recomputed.price_per_kwh == off.price_per_kwh
        entries = {e.account: e for e in final.results}
        assert entries[dep.dso] == ResultEntry(dep.dso, 0, charge_micro) == \
            ResultEntry(dep.dso, 0, grid_charge_micro(recomputed))
        debits = 0
        for orders, allocation, sign in ((market.sellers, off.sellers, 1), (market.buyers, off.buyers, -1)):
            for k, pid in enumerate(orders.ids):
                e = entries[address[pid]]
                assert abs(e.energy_wh - sign * energy_to_wh(float(allocation.energy_kwh[k]))) <= 1
                # everyone is settled as cleared (charge halves included), to the micro-token
                assert abs(e.amount_micro - sign * money_to_micro(float(allocation.payment[k]))) <= 1
        assert ME_LEAF not in entries  # DPDA has no reward term: no reward whatever the slot's 1 % shares
        reward = 0
        debits = -sum(e.amount_micro for e in final.results if e.amount_micro < 0)
        credits = sum(e.amount_micro for e in final.results if e.amount_micro > 0)
        assert credits + 2 * reward == debits  # conservation, the DSO's charges and the fund's row included
        assert sum(e.energy_wh for e in final.results) == 0

        after = {a: chain.call(dep.token, "balanceOf", a) for a in holders}
        due = dict.fromkeys(holders, 0)
        for e in final.results:
            due[dep.admin if e.account == FUND_LEAF else e.account] += e.amount_micro
        due[dep.validators[slot % 4]] += reward
        due[miner] += reward
        assert {a: after[a] - before[a] for a in holders} == due
        assert after[dep.dso] - before[dep.dso] == charge_micro
        assert sum(after.values()) == sum(before.values())

        # a participant's proof of the attributes it was cleared with, against the root on chain
        someone = address[market.buyers.ids[0]]
        summary = verify_proof(attributes_proof(final, someone), expected_root=chain.call(dep.slots, "slots", slot)[4])
        assert summary.startswith(f"valid attributes of {someone}")
    finally:
        chain.close()
    assert verify_archive(tmp_path) is None

    # a stored attribute changed afterwards is caught by the audit
    path = archive.slot_path(slot)
    stored = json.loads(path.read_text())
    stored["attributes"][0]["distancePrefMm"] += 1
    path.write_text(json.dumps(stored))
    found = verify_archive(tmp_path)
    assert found is not None and found.slot == slot and found.what == "attributes 0"


def test_attributes_altered_after_signing_are_rejected(grid_market: tuple[dict[str, Any], Market]) -> None:
    doc, market = grid_market
    chain = open_local_chain(n_accounts=BASE_ACCOUNTS + N_PROSUMERS)
    try:
        dep, signers = setup_members(chain, market)
        slot = 10
        batch = signed_market_batch(market, signers, domain=domain_of(chain, dep.slots), slot=slot,
                                    params=doc["params"], dso=dep.dso)
        honest_root = batch.order_root
        validators = [Validator(chain.private_key(v)) for v in dep.validators]
        # a far-away trader claims a different distance preference (or bus) after signing
        for change in ({"distance_pref_mm": 10**7}, {"bus": str(market.sellers.attributes["bus"][1])}):
            record = batch.attributes[0]
            altered = replace(record, message=replace(record.message, **change))
            bad = replace(batch, attributes=(altered, *batch.attributes[1:]))
            assert bad.order_root != honest_root  # the root covers the attributes
            assert [e.reason for _, e in check_attributes(bad.attributes, bad.domain, slot=slot,
                                                                         orders=bad.orders)] == ["signature"]
            with pytest.raises(ClearanceError, match="attributes 0: signature"):
                recompute(bad)
            with pytest.raises(ClearanceError, match="attributes 0: signature"):
                run_slot(chain, dep.slots, bad, validators, k=3)
        # a record re-signed by the trader (its orders now name it) with a bus the Registry does not know for it
        signer = signers[market.sellers.ids[0]]
        wrong_bus = replace(batch.attributes[0].message, bus=str(market.sellers.attributes["bus"][1]))
        orders = tuple(sign_order(signer, replace(o.message, attributes_hash=wrong_bus.struct_hash()), batch.domain)
                       if o.message.trader == signer.address else o for o in batch.orders)
        resigned = replace(batch, orders=orders, attributes=(SignedAttributes(wrong_bus), *batch.attributes[1:]))
        recompute(resigned)  # validly signed...
        with pytest.raises(ClearanceError, match="the Registry says"):  # ...but not where the member is
            run_slot(chain, dep.slots, resigned, validators, k=3)
        # the same through a bus cache: filled from the Registry on the first read, so still refused
        cache: dict[str, str] = {}
        with pytest.raises(ClearanceError, match="the Registry says"):
            run_slot(chain, dep.slots, resigned, validators, k=3, bus_cache=cache)
        assert cache == {a.message.trader: str(b) for a, b in zip(
            resigned.attributes, [*market.sellers.attributes["bus"], *market.buyers.attributes["bus"]], strict=True)}
        # a DSO that is not the Registry's DSO, and grid charges with no DSO at all
        with pytest.raises(ClearanceError, match="DSO role"):
            run_slot(chain, dep.slots, replace(batch, dso=dep.aggregator), validators, k=3)
        with pytest.raises(ClearanceError, match="no DSO account"):
            recompute(replace(batch, dso=None))
        assert chain.call(dep.slots, "slot_state", slot) == CLOSE  # nothing was sent
    finally:
        chain.close()


def test_mcafee_matched_batch_recomputes_like_the_market_file() -> None:
    """The other grid-aware mechanism, from a batch alone (no chain): same trades and charges as the
    off-chain run of the same market file, the DSO entry, and entries that balance to the micro-token."""
    doc = market_document() | {"mechanism": "mcafee_matched"}
    market = parse_market(json.loads(json.dumps(doc)))
    keys = [bytes.fromhex(f"{k + 1:064x}") for k in range(N_PROSUMERS)]
    signers = {pid: Signer(key) for pid, key in zip((*market.sellers.ids, *market.buyers.ids), keys, strict=True)}
    dso = Signer(bytes.fromhex("dd" * 32)).address
    domain = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
    batch = signed_market_batch(market, signers, domain=domain, slot=2, params=doc["params"], dso=dso)
    off = full_registry()["mcafee_matched"].run(market.sellers, market.buyers, market.params)
    address = {pid: s.address for pid, s in signers.items()}
    _, _, result = clear_batch(batch)
    assert result.details["trades"] == [
        {**t, "buyer": address[t["buyer"]], "seller": address[t["seller"]]} for t in off.details["trades"]
    ]
    entries = recompute(batch, rewards=RewardShares(10_000, 10_000))
    charge = money_to_micro(math.fsum(t["charge"] for t in off.details["trades"]))  # rounded once per slot
    assert charge > 0 and ResultEntry(dso, 0, charge) in entries
    debits = -sum(e.amount_micro for e in entries if e.amount_micro < 0)
    # McAfee has no reward term: no ME row, no reward; the fund's row balances the slot
    assert all(e.account != ME_LEAF for e in entries)
    assert sum(e.amount_micro for e in entries if e.amount_micro > 0) == debits
