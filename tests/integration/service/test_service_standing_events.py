"""A standing instruction against the real ``transactive serve`` (embedded chain, clock x120), on a community
created with every default (``dpda_matched``): the service places the instruction's order in the next slot by
itself, the slot clears with it (seed 004 Alg. 2, Case 1: the price (0.5 + 0.05) / 2 = 0.275), the order is
signed with the member's custodial key and anchored, and the member's Merkle inclusion proofs from the API
verify against the roots anchored on chain. The live-update stream (server-sent events) is read with a real
HTTP client while this happens: the hello, the phases, the member's standing order, the slot's clearing and its
anchoring arrive on it; without a key or for another community it is refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from test_serve_chain import _stop
from test_service_crash import ADMIN, start

from service_support import free_port
from transactive.crypto.encoding import from_hex
from transactive.grid.feeder import load_feeder
from transactive.ledger.audit.proofs import verify_proof
from transactive.market import iso, slot_containing
from transactive.matching.mechanisms import DEFAULT_FEEDER

SLOT_MINUTES = 15


def _poll(fetch: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    answer = None
    while time.monotonic() < deadline:
        answer = fetch()
        if done(answer):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {answer}")


class EventReader(threading.Thread):
    """Reads ``GET .../events`` with httpx in a thread: every event as ``(name, data)``."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status: int | None = None
        self.content_type = ""
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=60))

    def run(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers={"Authorization": f"Bearer {self.key}"}) as r:
                self.status, self.content_type = r.status_code, r.headers.get("content-type", "")
                name = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((name, json.loads(line[6:])))
        except (httpx.HTTPError, RuntimeError):  # closed by close()
            return

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in list(self.events) if n == name]

    def close(self) -> None:
        self._client.close()


def test_a_standing_instruction_trades_on_the_default_community_and_the_stream_shows_it(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    process = start(tmp_path, port, "--accelerate", "120")  # a 15-minute slot in 7.5 s
    reader: EventReader | None = None
    try:
        r = httpx.post(f"{base}/admin/communities", headers=admin, json={"name": "town"})
        assert r.status_code == 201 and r.json()["mechanism"] == "dpda_matched", r.text
        httpx.post(f"{base}/admin/communities", headers=admin, json={"name": "other"}).raise_for_status()
        buses = [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:4]]
        keys = {}
        for who, bus in zip(("s1", "s2", "b1", "b2"), buses, strict=True):
            r = httpx.post(f"{base}/admin/communities/town/members", headers=admin, timeout=30,
                           json={"id": who, "role": "prosumer", "bus": bus})
            keys[who] = r.json()["api_key"]
        auth = {who: {"Authorization": f"Bearer {key}"} for who, key in keys.items()}

        # the stream: refused without a key and for another community; s1's own opened
        assert httpx.get(f"{base}/communities/town/events").status_code == 401
        assert httpx.get(f"{base}/communities/other/events", headers=auth["s1"]).status_code == 403
        reader = EventReader(f"{base}/communities/town/events", keys["s1"])
        reader.start()
        _poll(lambda: reader.named("hello"), bool, "the hello event", 20)
        assert reader.status == 200 and reader.content_type.startswith("text/event-stream")
        hello = reader.named("hello")[0]
        assert hello["community"] == "town" and hello["phase"] in ("quotation", "matching", "feedback", "settlement")

        # s1 sets its instruction once: sell 2 kWh, at 0.1 per kWh or more
        instruction = {"trading": True, "activity": "sell", "amount": "fixed", "energy_kwh": 2.0,
                       "price_min_per_kwh": 0.1, "price_max_per_kwh": 0.3}
        r = httpx.put(f"{base}/communities/town/members/me/standing-instruction", headers=auth["s1"],
                      json=instruction)
        assert r.status_code == 200, r.text
        now = datetime.fromisoformat(httpx.get(f"{base}/health").json()["now"])
        slot = iso(slot_containing(now, SLOT_MINUTES) + timedelta(minutes=2 * SLOT_MINUTES))  # 7.5-15 s ahead
        others = set()
        for who, side, energy, price in (("s2", "sell", 2.0, 0.5), ("b1", "buy", 1.5, 0.4),
                                         ("b2", "buy", 1.0, 0.05)):
            r = httpx.post(f"{base}/communities/town/orders", headers=auth[who], json={
                "side": side, "slot_start": slot, "idempotency_key": f"{who}-1", "energy_kwh": energy,
                "price_per_kwh": price})
            assert r.status_code == 201, r.text
            others.add(r.json()["id"])

        # the service places s1's order in the slot by itself, and the slot clears with it
        result = _poll(lambda: httpx.get(f"{base}/communities/town/slots/{slot}/result", headers=admin),
                       lambda r: r.status_code == 200, "the slot's result").json()
        mine = [o for o in httpx.get(f"{base}/communities/town/orders", headers=auth["s1"]).json()
                if o["slot_start"] == slot]
        assert [(o["idempotency_key"], o["side"], o["energy_kwh"], o["price_per_kwh"]) for o in mine] == [
            (f"standing-{slot}", "sell", 2.0, 0.1)]
        full = result["result"]
        assert abs(full["price_per_kwh"] - 0.275) < 1e-9  # (0.5 + 0.05) / 2, seed 004 Alg. 2 Case 1
        sold = {row["id"]: row["energy_kwh"] for row in full["sellers"]}
        assert abs(sold["s1"] - 1.5) < 1e-9

        # the stream told s1 about its order and the slot's clearing, and about the phases in between
        _poll(lambda: [e for e in reader.named("slot") if e["slot_start"] == slot], bool, "the slot event", 20)
        (cleared,) = [e for e in reader.named("slot") if e["slot_start"] == slot]
        assert cleared["state"] == "cleared"
        placed = [e for e in reader.named("order") if e["slot_start"] == slot]
        assert [(e["order_id"], e["side"], e["standing"]) for e in placed] == [(mine[0]["id"], "sell", True)]
        assert not [e for e in reader.named("order") if e["order_id"] in others]  # other members' orders: not s1's
        # the stream looks at the (accelerated, x120) clock every 0.25 s, so a loaded machine can skip a short phase:
        # the slot's phases are reported, each once, in the window's order
        order = ["pending", "quotation", "matching", "feedback", "settlement", "closed"]
        seen = [e["phase"] for e in reader.named("phase") if e["slot_start"] == slot]
        assert seen and seen == sorted(set(seen), key=order.index), seen

        # anchored with s1's custodial signature: its proofs verify against the roots on chain
        ledger = _poll(lambda: httpx.get(f"{base}/communities/town/slots/{slot}/ledger", headers=auth["s1"]).json(),
                       lambda v: (v.get("clearing") or {}).get("state") == "anchored", "anchoring")["clearing"]
        steps = _poll(lambda: [e for e in reader.named("ledger") if e["slot_start"] == slot], bool, "ledger event", 20)
        assert (steps[0]["kind"], steps[0]["state"]) == ("clearing", "anchored")
        r = httpx.get(f"{base}/communities/town/slots/{slot}/proofs", headers=auth["s1"])
        assert r.status_code == 200, r.text
        answer = r.json()
        account = httpx.get(f"{base}/communities/town/account", headers=auth["s1"]).json()["address"]
        assert answer["account"] == account
        kinds = {p["kind"]: p for p in answer["proofs"]}
        assert set(kinds) == {"order", "attributes", "result"}
        for proof in answer["proofs"]:
            root = ledger["result_root"] if proof["kind"] == "result" else ledger["order_root"]
            assert verify_proof(proof, expected_root=from_hex(root, 32)).startswith("valid")
        order = kinds["order"]["order"]
        assert (order["trader"], order["energyWh"], order["priceMicroPerKwh"], order["side"]) == (
            account, 2000, 100_000, 0)
        value = kinds["result"]["value"]
        assert (value[1], int(value[2])) == (account, 1500)  # energyWh > 0: 1.5 kWh sold
        assert httpx.get(f"{base}/communities/town/slots/{slot}/proofs", headers=admin).status_code == 403

        # an order s1 places itself is on its stream too (e.g. for its other pages), marked as not standing
        later = iso(datetime.fromisoformat(slot) + timedelta(minutes=6 * SLOT_MINUTES))
        own = httpx.post(f"{base}/communities/town/orders", headers=auth["s1"], json={
            "side": "sell", "slot_start": later, "idempotency_key": "s1-own", "energy_kwh": 1.0, "price_per_kwh": 0.2})
        assert own.status_code == 201, own.text
        heard = _poll(lambda: [e for e in reader.named("order") if e["order_id"] == own.json()["id"]], bool,
                      "the own order's event", 20)
        assert (heard[0]["slot_start"], heard[0]["standing"]) == (later, False)

        # a client that goes away frees its place (found at the next event or keep-alive at the latest)
        assert httpx.get(f"{base}/health").json()["events"]["streams"] == 1
        reader.close()
        _poll(lambda: httpx.get(f"{base}/health").json()["events"]["streams"], lambda n: n == 0, "the stream's end", 30)
    finally:
        if reader is not None:
            reader.close()
        _stop(process)
