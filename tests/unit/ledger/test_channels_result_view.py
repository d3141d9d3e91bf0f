"""The service's DSO result view is produced by ``ChannelView.dso_of_result``: no bid ever reaches the DSO."""

from __future__ import annotations

import json

from transactive.ledger.audit.channels import DSO_ROW_FIELDS, ChannelView
from transactive.result import ResultDocument

DOC = {
    "format": "transactive.result/1", "mechanism": "uniform", "price_per_kwh": 2.5,
    "sellers": [{"id": "s1", "energy_kwh": 3.0, "payment": 7.5, "price_per_kwh": 1.9, "blocks": [[3.0, 1.9]]},
                {"id": "s2", "energy_kwh": 0.0, "payment": 0.0, "price_per_kwh": 9.0}],
    "buyers": [{"id": "b1", "energy_kwh": 1.0, "payment": 2.5, "price_per_kwh": 3.1},
               {"id": "b2", "energy_kwh": 2.0, "payment": 5.0, "price_per_kwh": 2.6}],
    "details": {"marginal_seller_price": 1.9, "marginal_buyer_price": 3.1},
}


def test_dso_result_view_has_no_bid() -> None:
    view = ChannelView.dso_of_result(ResultDocument.from_json(DOC), {"s1": "bus-1", "b1": "bus-2"})
    text = json.dumps(view)
    for secret in ("price_per_kwh", "blocks", "details", "marginal", "1.9", "3.1", "9.0", "s2"):
        assert secret not in text
    assert view["traded_kwh"] == 3.0 and view["sellers_received"] == 7.5 and view["buyers_paid"] == 7.5
    assert view["participants"] == 4
    assert [(t["id"], t["side"], t["bus"]) for t in view["trades"]] == [
        ("s1", "sell", "bus-1"), ("b1", "buy", "bus-2"), ("b2", "buy", None)]
    assert all(set(t) == {*DSO_ROW_FIELDS, "side", "bus"} for t in view["trades"])

