"""The operator's clearing taken as the anchored batch's (:mod:`transactive.market.ledger.operator_clearing`): for
the very orders the operator cleared, the batch's entries made from the operator's clearing equal the entries of
the batch cleared from scratch (the validators' recomputation), for DPDA with score matching on the feeder (grid
attributes, a DSO) and plain DPDA; any difference between the batch and what the operator cleared (a block, a
signer, an attribute, the params, the mechanism) is refused (None), so the anchoring clears the batch itself."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.protocol import recompute
from transactive.ledger.messages.batch import at_batch_resolution, signed_market_batch
from transactive.ledger.messages.commitments import RewardShares
from transactive.ledger.messages.orders import sign_order
from transactive.market.ledger.operator_clearing import ClearingMemo, OperatorClearing, batch_clearing
from transactive.marketfile import parse_market
from transactive.sim.scenario import generate_scenario
from transactive.store import OrderRecord

DOMAIN = Domain(chain_id=1337, verifying_contract="0x" + "42" * 20)
DSO = "0x" + "11" * 20
PARAMS = {"feeder": "ieee_european_lv", "charge_per_km": 0.5}


def _document(mechanism: str) -> dict[str, Any]:
    doc = at_batch_resolution(generate_scenario(20, "non_cooperative", seed=8).to_market("dpda_matched", PARAMS))
    doc = json.loads(json.dumps(doc))
    if not mechanism.endswith("_matched"):  # the same orders without the grid
        doc = {**doc, "mechanism": mechanism, "params": {},
               **{side: [{k: v for k, v in row.items() if k in ("id", "energy_kwh", "price_per_kwh")}
                         for row in doc[side]] for side in ("sellers", "buyers")}}
    return doc


def _operator_and_batch(mechanism: str) -> tuple[OperatorClearing, SlotBatch, dict[str, str], dict[str, Signer]]:
    """The operator's clearing of a market (member ids) and the same orders signed as a batch (addresses)."""
    doc = _document(mechanism)
    market = parse_market(doc)
    rng = random.Random(3)
    signers = {pid: Signer(new_private_key(rng)) for pid in (*market.sellers.ids, *market.buyers.ids)}
    batch = signed_market_batch(market, signers, domain=DOMAIN, slot=91, params=doc["params"],
                                dso=DSO if mechanism.endswith("_matched") else None)
    clearing = OperatorClearing(mechanism, doc["params"], market.sellers, market.buyers, market.clear())
    return clearing, batch, {pid: s.address for pid, s in signers.items()}, signers


@pytest.mark.parametrize("mechanism", ["dpda_matched", "dpda"])
def test_the_operators_clearing_gives_the_batchs_own_entries(mechanism: str) -> None:
    clearing, batch, address_of, _ = _operator_and_batch(mechanism)
    reused = batch_clearing(batch, clearing, address_of)
    assert reused is not None and reused[2] is clearing.result
    for rewards in (None, RewardShares(20_000, 10_000, "0x" + "33" * 20)):
        entries = recompute(batch, verify=False, rewards=rewards, cleared=reused)
        assert entries == recompute(batch, rewards=rewards)  # the batch cleared from scratch, every signature checked
        assert any(e.amount_micro for e in entries)


def test_any_difference_from_what_the_operator_cleared_is_refused() -> None:
    clearing, batch, address_of, signers = _operator_and_batch("dpda_matched")
    first = batch.orders[0].message
    owner = next(pid for pid, a in address_of.items() if a == first.trader)
    more = sign_order(signers[owner], replace(first, energy_wh=first.energy_wh + 1), DOMAIN)  # one Wh more
    other = Signer(new_private_key(random.Random(4)))
    wrong = [
        replace(batch, orders=(more, *batch.orders[1:])),
        replace(batch, params={**PARAMS, "charge_per_km": 0.25}),
        replace(batch, mechanism="mcafee_matched"),
        replace(batch, attributes=tuple(a if i else replace(a, message=replace(a.message, bus=a.message.bus + "0"))
                                        for i, a in enumerate(batch.attributes))),
    ]
    for changed in wrong:
        assert batch_clearing(changed, clearing, address_of) is None
    assert batch_clearing(batch, clearing, {**address_of, owner: other.address}) is None  # another signer
    swapped = replace(clearing, sellers=clearing.buyers, buyers=clearing.sellers)
    assert batch_clearing(batch, swapped, address_of) is None
    # the operator's bus one character longer than the batch's longest (its prefix): compared exactly, not cast
    # to the batch's width (which truncated it to the batch's value)
    buses = [str(b) for b in clearing.sellers.attributes["bus"]]
    widest = max(range(len(buses)), key=lambda i: len(buses[i]))
    longer = np.array([f"{b}9" if i == widest else b for i, b in enumerate(buses)])
    prefixed = replace(clearing, sellers=replace(clearing.sellers, attributes={**clearing.sellers.attributes,
                                                                               "bus": longer}))
    assert batch_clearing(batch, prefixed, address_of) is None


def test_the_memo_keeps_the_last_clearings() -> None:
    clearing, _, _, _ = _operator_and_batch("dpda")
    memo = ClearingMemo(keep=2)
    for start in ("a", "b", "c"):
        memo.put("green", start, clearing)
    assert memo.get("green", "a") is None and memo.get("green", "c") is clearing
    assert memo.get("blue", "c") is None


def test_the_memo_hands_the_cleared_orders_over_once() -> None:
    clearing, _, _, _ = _operator_and_batch("dpda")
    orders = (OrderRecord("o1", "green", "2026-03-01T10:15:00Z", "m1", "sellers", {"energy_kwh": 1.0}, "k", "t", 1),)
    memo = ClearingMemo()
    memo.put("green", "a", replace(clearing, orders=orders))
    assert memo.take_orders("green", "a") == orders
    assert memo.take_orders("green", "a") == ()  # not held for the next slots; the anchoring reads them then
    kept = memo.get("green", "a")
    assert kept is not None and kept.result is clearing.result and kept.orders == ()
    assert memo.take_orders("green", "b") == ()
