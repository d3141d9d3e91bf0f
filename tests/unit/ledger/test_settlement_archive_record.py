"""An archived settlement slot (``transactive.settlement-archive/1``) reads its input as the typed
:class:`~transactive.settlement.input.SettlementInput` and writes back the same file: the archives an older
service wrote keep their committed input root."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from transactive.ledger.audit.archive import SettlementRecord, input_root

ARCHIVES = Path(__file__).parents[2] / "fixtures" / "archives"
NAMES = ["settlement_input_v2_dpda.json", "settlement_input_v2_pay_as_bid.json"]


def _file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ARCHIVES / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", NAMES)
def test_an_archived_settlement_reads_back_to_the_same_file_and_root(name: str) -> None:
    data = _file(name)
    record = SettlementRecord.from_json(data)
    assert record.to_json() == data
    assert "0x" + input_root(record.input).hex() == data["orderRoot"]  # the root committed on chain


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d["input"].update(format="transactive.settlement-input/7"), "'input.format'"),
    (lambda d: d["input"]["readings_kwh"].update(s1="2.0"), "'input.readings_kwh.s1'"),
    (lambda d: d["input"].pop("parties"), "'input.parties'"),
])
def test_an_unreadable_archived_input_names_its_field(edit: Any, named: str) -> None:
    data = copy.deepcopy(_file(NAMES[0]))
    edit(data)
    with pytest.raises(ValueError, match=named):
        SettlementRecord.from_json(data)
