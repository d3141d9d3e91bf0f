"""Commit first, reveal after (issue 9, finding 10): while a slot takes orders, a validator's or the admin's view
of the slot is the commitment (count + hash) only -- no price, no energy, no member; after quotation closes the
orders are revealed and the hash shown during the window is the SHA-256 of exactly the revealed list."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from api_support import SLOT, Api

ORDERS = (("alice", "sell", 4.25, 1.375), ("bob", "sell", 6.5, 2.625), ("carol", "buy", 7.75, 3.875))


def _submit(api: Api) -> None:
    for who, side, energy, price in ORDERS:
        r = api.client.post("/communities/green/orders", headers=api.auth(who), json={
            "side": side, "slot_start": SLOT, "idempotency_key": f"k-{who}", "energy_kwh": energy,
            "price_per_kwh": price})
        assert r.status_code == 201, r.text


def test_validator_and_admin_see_only_the_commitment_while_quotation_is_open(api: Api) -> None:
    _submit(api)
    seen: list[dict[str, object]] = []
    # pending (before the slot) and quotation (its first 3 minutes): sealed
    for moment in (datetime(2026, 3, 1, 10, 5, tzinfo=UTC), datetime(2026, 3, 1, 10, 17, 59, tzinfo=UTC)):
        api.clock.set(moment)
        for who in ("val", "admin"):
            r = api.client.get("/communities/green/orders", params={"slot_start": SLOT}, headers=api.auth(who))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["revealed"] is False and body["count"] == 3 and body["reveals_at"] == "2026-03-01T10:18:00Z"
            for secret in ("4.25", "1.375", "6.5", "2.625", "7.75", "3.875", "alice", "bob", "carol", "k-"):
                assert secret not in r.text, secret
            seen.append(body)
    assert len({str(b["commitment"]) for b in seen}) == 1  # the same orders, the same commitment
    # a trader still sees its own order during the window
    own = api.client.get("/communities/green/orders", headers=api.auth("alice")).json()
    assert [(o["member"], o["energy_kwh"]) for o in own] == [("alice", 4.25)]
    # quotation closed: revealed, and the commitment is the SHA-256 of the canonical JSON of the revealed list
    api.clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))
    revealed = api.client.get("/communities/green/orders", params={"slot_start": SLOT}, headers=api.auth("val")).json()
    assert [(o["member"], o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in revealed] == list(ORDERS)
    canonical = json.dumps(revealed, sort_keys=True, separators=(",", ":")).encode()
    assert seen[0]["commitment"] == "0x" + hashlib.sha256(canonical).hexdigest()


def test_the_commitment_changes_with_every_order(api: Api) -> None:
    def commitment() -> object:
        body = api.client.get("/communities/green/orders", params={"slot_start": SLOT}, headers=api.auth("val")).json()
        return body["count"], body["commitment"]

    empty = commitment()
    assert empty == (0, "0x" + hashlib.sha256(b"[]").hexdigest())
    _submit(api)
    assert commitment() != empty and commitment()[0] == 3
