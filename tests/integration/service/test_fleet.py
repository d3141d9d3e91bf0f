"""A fleet: three `transactive serve` processes on one PostgreSQL, one hardhat node and one Mosquitto, each taking
REST and MQTT orders. The process holding a slot's lease is killed with SIGKILL at each step -- after closing the
slot for clearing, after committing its order root on chain (anchoring), after signing and writing ahead the
transaction that moves its tokens but before sending it (settlement) --
and another process finishes the step: every acknowledged order is in the slot, the slot is cleared, anchored and
settled once (each member's token balance moved by exactly its statement), and `transactive ledger verify`
audits the shared archive clean against the chain. The three start at once on the empty database (the schema,
the admin and the contracts are created once). The replacements started after the first two kills claim
the dead processes' MQTT client ids, so every MQTT order published afterwards is answered.

The holder is paused at the step by ``TRANSACTIVE_PAUSE_AT`` (:func:`transactive.store.leases.pause_point`): the
first process of the fleet to reach a point claims it (a file holding its pid) and sleeps there, holding its
leases, until the test kills it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from chain_support import hardhat_url  # noqa: F401 - the fixture
from service_support import ROOT, forget_mqtt_sessions, free_port, own_database, wait_healthy
from transactive.cli._serve import CLOCK_FILE
from transactive.files import private_dir
from transactive.market import AcceleratedClock, iso, slot_containing
from transactive.store.leases import PAUSE_AT_ENV, PAUSE_DIR_ENV

ADMIN = "tk_admin_fleet_test"
GROUP = "fleet-test"
POINTS = ("clear", "tx:open_and_commit", "intent:submit_and_settle")  # clearing, anchoring, settlement
START_MICRO = 1_000 * 10**6
ACCELERATE = 10  # 1-minute slots in 6 s


@pytest.fixture
def fleet_db(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test cluster (dropped afterwards)."""
    with own_database(postgres_url, "fleet") as url:
        yield url


class Fleet:
    """The serve processes of the test, all on one data directory (the shared audit archive and clock origin)."""

    def __init__(self, data_dir: Path, db_url: str, chain_url: str, mqtt_port: int) -> None:
        self.data_dir, self.db_url, self.chain_url, self.mqtt_port = data_dir, db_url, chain_url, mqtt_port
        self.pauses = data_dir.parent / "pauses"
        self.pauses.mkdir()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}  # base URL -> process
        self.client_ids: list[str] = []

    def spawn(self) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        self.client_ids.append(f"fleet-test-{len(self.client_ids)}")  # the ids the processes may claim
        log = self.data_dir.parent / f"serve-{port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), PAUSE_AT_ENV: ",".join(POINTS),
               PAUSE_DIR_ENV: str(self.pauses)}
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "transactive.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--data-dir", str(self.data_dir), "--admin-key", ADMIN, "--db-url", self.db_url,
                 "--chain-url", self.chain_url, "--accelerate", str(ACCELERATE), "--mqtt-url", f"mqtt://127.0.0.1:{self.mqtt_port}",
                 "--mqtt-share-group", GROUP, "--mqtt-client-id", "fleet-test"],  # each claims fleet-test-<i>
                env=env, stdout=sink, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        self.processes[base] = process
        return base, process

    def start(self, n: int) -> None:
        for base, process in [self.spawn() for _ in range(n)]:
            self.wait(base, process)

    def wait(self, base: str, process: subprocess.Popen[bytes]) -> None:
        wait_healthy(base, process, self.data_dir.parent / f"serve-{base.rsplit(':', 1)[1]}.log", timeout_s=120)

    def get(self, path: str, headers: dict[str, str]) -> Any:
        """``GET path`` answered by any live process of the fleet (the first that answers)."""
        for base in self.alive():
            try:
                return httpx.get(base + path, headers=headers, timeout=5).json()
            except httpx.TransportError:  # starting, or just killed
                continue
        raise httpx.TransportError("no process answers")

    def alive(self) -> list[str]:
        return [b for b, p in self.processes.items() if p.poll() is None]

    def kill_at(self, point: str, timeout_s: float = 90) -> int:
        """Wait until a process pauses at ``point``; kill it with SIGKILL; its pid."""
        marker = self.pauses / point.replace(":", "_")
        deadline = time.monotonic() + timeout_s
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < deadline, f"no process reached {point}"
            time.sleep(0.05)
        pid = int(marker.read_text())
        (base,) = [b for b, p in self.processes.items() if p.pid == pid]
        self.processes[base].send_signal(signal.SIGKILL)
        self.processes[base].wait()
        return pid

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _poll(fetch: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = fetch()
            if done(answer):
                return answer
        except httpx.TransportError:  # that process was just killed: the caller asks another next time
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {answer}")


def _intents(db_url: str, chain_slot: str, step: str) -> list[tuple[str, str]]:
    """The written-ahead transactions of ``step`` on the on-chain slot: (hash, state), oldest first."""
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT tx_hash, state FROM tx_intents WHERE slot = :s AND step = :t "
                                        "ORDER BY id"), {"s": chain_slot, "t": step}).all()
        return [(str(r[0]), str(r[1])) for r in rows]
    finally:
        engine.dispose()


def _mqtt_orders(port: int, orders: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Publish one order per member on its orders topic (QoS 1); the acks, once every order has one."""
    acks: list[dict[str, Any]] = []
    done, subscribed = threading.Event(), threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        acks.append(json.loads(message.payload))
        if len(acks) == len(orders):
            done.set()

    client.on_connect = lambda c, *_: (c.subscribe("transactive/c/acks/+", qos=1), None)[1]
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        for member, body in orders.items():
            client.publish(f"transactive/c/orders/{member}", json.dumps(body), qos=1)
        assert done.wait(30), f"{len(acks)} acks"
    finally:
        client.disconnect()
        client.loop_stop()
    return acks


def test_three_processes_finish_every_step_of_a_slot_whose_lease_holder_is_killed(
        tmp_path: Path, fleet_db: str, hardhat_url: str,  # noqa: F811 - the imported fixture
        mosquitto: tuple[str, int]) -> None:
    data_dir = private_dir(tmp_path / "data")
    AcceleratedClock.persistent(data_dir / CLOCK_FILE, ACCELERATE)  # one market time for the fleet (demo clock)
    fleet = Fleet(data_dir, fleet_db, hardhat_url, mosquitto[1])
    admin = {"Authorization": f"Bearer {ADMIN}"}
    try:
        fleet.start(3)  # all at once on the empty database: one creates the tables, one deploys the contracts
        bases = fleet.alive()
        assert len(bases) == 3
        logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
        assert logs.count("deployed the Transactive contracts") == 1, logs  # the others reopened that deployment
        httpx.post(f"{bases[0]}/admin/communities", headers=admin,
                   json={"name": "c", "mechanism": "uniform", "slot_minutes": 1}).raise_for_status()
        keys: dict[str, str] = {}
        members = [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("s3", "sell", 2, 0.30),
                   ("b1", "buy", 2.5, 0.20), ("b2", "buy", 2, 0.18), ("b3", "buy", 1, 0.05)]
        for i, (who, *_rest) in enumerate([*members, ("grid", "dso")]):  # registered through every process
            r = httpx.post(f"{bases[i % 3]}/admin/communities/c/members", headers=admin,
                           json={"id": who, "role": "dso" if who == "grid" else "prosumer"}, timeout=60)
            assert r.status_code == 201, r.text
            keys[who] = r.json()["api_key"]
        now = datetime.fromisoformat(httpx.get(f"{bases[0]}/health").json()["now"])
        slot = iso(slot_containing(now, 1) + timedelta(minutes=3))  # 12-18 s of real time ahead
        body = {who: {"side": side, "slot_start": slot, "idempotency_key": f"{who}-1", "energy_kwh": kwh,
                      "price_per_kwh": price} for who, side, kwh, price in members}
        acked: set[str] = set()
        for i, who in enumerate(["s1", "s2", "b1", "b2"]):  # REST, to different processes
            r = httpx.post(f"{bases[i % 3]}/communities/c/orders", json=body[who],
                           headers={"Authorization": f"Bearer {keys[who]}"})
            assert r.status_code == 201, r.text
            acked.add(r.json()["id"])
        acks = _mqtt_orders(mosquitto[1], {w: {**body[w], "api_key": keys[w]} for w in ("s3", "b3")})
        assert [a["status"] for a in acks] == ["created", "created"], acks
        acked |= {a["order"]["id"] for a in acks}

        killed = [fleet.kill_at("clear")]  # closed for clearing, result not stored: another clears it
        replacements = [fleet.spawn()]  # as a supervisor would start one
        view = f"/communities/c/slots/{slot}/ledger"

        def ledger() -> dict[str, Any]:
            return fleet.get(view, admin)

        killed.append(fleet.kill_at("tx:open_and_commit"))  # opened and committed on chain, not endorsed
        replacements.append(fleet.spawn())
        anchored = _poll(ledger, lambda v: (v.get("clearing") or {}).get("state") == "anchored", "the anchoring")
        for base, process in replacements:
            fleet.wait(base, process)
        # each replacement claimed a dead process's client id and took over its broker session: no share of the
        # MQTT orders waits for a dead process (the broker round-robins them over every session of the group)
        later = iso(datetime.fromisoformat(slot) + timedelta(minutes=30))
        acks = _mqtt_orders(mosquitto[1], {w: {**body[w], "slot_start": later, "idempotency_key": f"{w}-2",
                                               "api_key": keys[w]} for w in body})
        assert sorted(a["status"] for a in acks) == ["created"] * len(body), acks
        # the slot still takes orders, so the admin sees its commitment only (commit-reveal); each member its own
        assert fleet.get(f"/communities/c/orders?slot_start={later}", admin)["count"] == len(acks)
        stored_later = [o for w in body for o in fleet.get(f"/communities/c/orders?slot_start={later}",
                                                             {"Authorization": f"Bearer {keys[w]}"})]
        assert {o["id"] for o in stored_later} == {a["order"]["id"] for a in acks}
        # submit_and_settle signed and written ahead, never sent: the next holder sends the same signed transaction
        killed.append(fleet.kill_at("intent:submit_and_settle"))
        settled = _poll(ledger, lambda v: (v.get("settlement") or {}).get("state") == "settled", "the settlement")
        assert _intents(fleet_db, settled["settlement"]["chain_slot"], "submit_and_settle") == \
            [(settled["settlement"]["txs"]["submit_and_settle"], "mined")]  # one: the dead one's, recorded
        assert len(set(killed)) == 3 and fleet.alive()
        assert settled["clearing"] == anchored["clearing"] and settled["settlement"]["mode"] == "batch"
        stored = fleet.get(f"/communities/c/orders?slot_start={slot}", admin)
        assert {o["id"] for o in stored} == acked  # nothing acknowledged lost, nothing else
        result = fleet.get(f"/communities/c/slots/{slot}/result", admin)["result"]
        assert sorted(r["id"] for r in [*result["sellers"], *result["buyers"]]) == sorted(w for w, *_ in members)
        for who, key in keys.items():  # settled once: each balance moved by exactly its statement
            auth = {"Authorization": f"Bearer {key}"}
            balance = fleet.get("/communities/c/account", auth)["balance_micro"]
            lines = fleet.get("/communities/c/statements", auth) if who != "grid" else []
            income = fleet.get("/communities/c/dso/income", auth) if who == "grid" else []
            change = sum(x["balance_change_micro"] for x in lines) + sum(x["amount_micro"] for x in income)
            assert balance - START_MICRO == change, who
    finally:
        fleet.stop()
        forget_mqtt_sessions("127.0.0.1", mosquitto[1], fleet.client_ids)
    audit = subprocess.run([sys.executable, "-m", "transactive.cli", "ledger", "verify", str(data_dir),
                            "--chain-url", hardhat_url], check=False, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "settlement slot(s)" in audit.stdout and "clean" in audit.stdout, audit.stdout
