"""The settlement on columns (issue 13) pays what the per-trader computation paid:

* two format-3 inputs settled by the service before its columns (``tests/fixtures/archives/
  settlement_input_v3_sequences.json``: a matched clearing with a fund row; flat network charges, the wholesale
  market and members sharing an account) recompute to their archived postings, result root and statement lines;
* ``units.base_units_column`` is the one rounding rule (``units.to_base_units``) element by element;
* ``settle_cleared_columns`` names the first trader in order whose meter is missing or on the wrong side;
* the multi-settlement document built from the columns (the statement lines' stage rows shared) is the one
  ``settlement_document`` writes from the per-member statements, and the settled ledger document stores the lines
  as built and reads them back to the same JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.ledger.messages.commitments import ResultEntry, result_tree
from transactive.market.ledger.documents import SettlementDocument
from transactive.market.ledger.sequence import sequence_lines, stored_multi_document
from transactive.market.multi_slot import settlement_document
from transactive.settlement.input import SettlementInput
from transactive.settlement.metering import SettlementError, settle_cleared_columns
from transactive.settlement.sequence import settle_sequence
from transactive.store import Community
from transactive.units import MICRO_PER_TOKEN, WH_PER_KWH, base_units_column, to_base_units

ARCHIVES = Path(__file__).parents[2] / "fixtures" / "archives"
DOMAIN = Domain(1337, "0x" + "ab" * 20)


@pytest.mark.parametrize("k", [0, 1])
def test_an_archived_format_3_sequence_recomputes_to_its_postings_root_and_lines(k: int) -> None:
    archived = json.loads((ARCHIVES / "settlement_input_v3_sequences.json").read_text(encoding="utf-8"))["archives"][k]
    seq = settle_sequence(archived["input"], DOMAIN)
    entries = [ResultEntry(p.address, p.energy_wh, p.amount_micro) for p in seq.postings]
    assert entries == [ResultEntry.from_json(p) for p in archived["postings"]]
    assert "0x" + result_tree(int(archived["input"]["slot"]), entries).root.hex() == archived["resultRoot"]
    assert sequence_lines(seq) == archived["lines"]
    assert sum(e.amount_micro for e in entries) == 0


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), max_size=40),
       st.sampled_from([WH_PER_KWH, MICRO_PER_TOKEN]))
def test_the_column_rule_is_the_scalar_rule_per_element(values: list[float], scale: int) -> None:
    assert base_units_column(values, scale, "x").tolist() == [to_base_units(v, scale, "x") for v in values]


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e300])
def test_the_column_rule_names_a_value_it_cannot_round(bad: float) -> None:
    with pytest.raises(ValueError, match=r"^energy_kwh "):
        base_units_column([1.0, bad, 2.0], WH_PER_KWH, "energy_kwh")


def test_the_first_trader_in_order_with_a_bad_meter_is_named() -> None:
    members = ("a", "b", "c")
    cleared_wh, cleared_micro = np.array([1000, -1000, 500]), np.array([100_000, -150_000, 50_000])
    args = {"penalty_per_kwh": 0.05}
    # b's meter on the seller side, c's missing: b comes first
    with pytest.raises(SettlementError) as wrong:
        settle_cleared_columns(0.1, members, cleared_wh, cleared_micro, np.array([1000, 20, 0]),
                               missing=np.array([False, False, True]), **args)
    assert (wrong.value.field, wrong.value.message) == \
        ("metered_wh.buyers[b]", "must be on the cleared side (0 when nothing cleared)")
    with pytest.raises(SettlementError) as missing:
        settle_cleared_columns(0.1, members, cleared_wh, cleared_micro, np.array([0, 20, 500]),
                               missing=np.array([True, False, False]), **args)
    assert (missing.value.field, missing.value.message) == ("metered_wh.sellers[a]", "missing meter reading")


@pytest.mark.parametrize("k", [0, 1])
def test_the_multi_settlement_document_from_the_columns_is_the_one_from_the_statements(k: int) -> None:
    archived = json.loads((ARCHIVES / "settlement_input_v3_sequences.json").read_text(encoding="utf-8"))["archives"][k]
    doc = SettlementInput.from_json(archived["input"])
    seq = settle_sequence(doc, DOMAIN)
    c = Community("c", "dpda", {}, 15, "2026-01-01T00:00:00Z")
    start = "2026-03-01T10:00:00+00:00"
    built = stored_multi_document(c, start, doc, seq, "dpda")
    member_of = {**{m: m for m in doc.parties}, **dict(doc.addresses)}
    expected = settlement_document(c, start, seq.combined, member_of, set(doc.readings_kwh))  # per statement
    assert json.dumps({k: v for k, v in built.items() if k != "auction"}, sort_keys=True) == \
        json.dumps({k: v for k, v in expected.items() if k != "auction"}, sort_keys=True)
    assert built["balance_micro"] == 0 and len(built["members"]) == len(doc.parties)
    # the settled ledger document stores the lines as built (not copied) and reads them back to the same JSON
    lines = sequence_lines(seq)
    assert [ln["stages"] for ln in lines] == [m["stages"] for m in built["members"]]
    settled = SettlementDocument(input=doc, settled_at="2026-03-01T10:30:00.000000Z", lines=tuple(lines),
                                 postings=tuple({"account": p.address, "energy_wh": p.energy_wh,
                                                 "amount_micro": p.amount_micro} for p in seq.postings))
    stored = settled.to_json()
    assert all(a is b for a, b in zip(stored["lines"], lines, strict=True))
    text = json.dumps(stored, sort_keys=True)
    again = SettlementDocument.from_json(json.loads(text)).to_json()
    assert json.dumps(again, sort_keys=True) == text and stored["lines"] == archived["lines"]
