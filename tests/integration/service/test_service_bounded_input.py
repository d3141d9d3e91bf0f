"""Bounded input against the real `transactive serve` (with its ledger) and a real Mosquitto (issue 9,
findings 1, 2 and 8): a body nested 100,000 deep is a 422, not a SIGSEGV; a chunked body is counted while it
streams and refused over 1 MB; the same nesting published to an orders topic with QoS 1 is rejected, acknowledged
and dead-lettered, and not delivered again after a restart."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from service_support import ROOT, forget_mqtt_sessions, free_port, wait_healthy

ADMIN = "tk_admin_bounded"
CLIENT_ID = "gw-bounded-test"
DEEP = b"[" * 100_000 + b"]" * 100_000  # ~200 KB


def start(data_dir: Path, port: int, mqtt_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = data_dir / "serve.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "transactive.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
             "--admin-key", ADMIN, "--mqtt-url", f"mqtt://127.0.0.1:{mqtt_port}", "--mqtt-client-id", CLIENT_ID,
             "--validators", "1", "--threshold", "1"],
            env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}", process, log, timeout_s=180)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body of ``total`` bytes sent with ``Transfer-Encoding: chunked`` (no Content-Length)."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def test_deep_nesting_chunked_bodies_and_a_deep_mqtt_message(tmp_path: Path,
                                                             mosquitto: tuple[str, int]) -> None:
    host, mqtt_port = mosquitto
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    process = start(tmp_path, port, mqtt_port)
    acks: queue.Queue[dict[str, Any]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    try:
        assert httpx.post(f"{base}/admin/communities", headers=admin,
                          json={"name": "c", "mechanism": "uniform"}).status_code == 201
        key = httpx.post(f"{base}/admin/communities/c/members", headers=admin,
                         json={"id": "m0", "role": "prosumer"}, timeout=60).json()["api_key"]
        member = {"Authorization": f"Bearer {key}"}
        # finding 1: unauthenticated and authenticated, a 200 KB body nested 100,000 deep
        for headers in ({}, member):
            r = httpx.post(f"{base}/communities/c/orders", headers={**headers, "Content-Type": "application/json"},
                           content=DEEP, timeout=30)
            assert r.status_code == 422, r.text
            assert r.json()["error"] == {"field": "(body)", "message": "nested deeper than 32 levels"}
        assert process.poll() is None
        # finding 8: chunked, no Content-Length; 2 MB refused, counted as it streams
        r = httpx.post(f"{base}/communities/c/orders", headers={**member, "Content-Type": "application/json"},
                       content=chunks(2_000_000), timeout=30)
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and r.json()["error"]["field"] == "(body)"
        # a chunked order under the limit is taken as any other
        slot = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        order = json.dumps({"side": "sell", "slot_start": slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "idempotency_key": "k1", "energy_kwh": 1.5, "price_per_kwh": 0.2}).encode()
        r = httpx.post(f"{base}/communities/c/orders", headers={**member, "Content-Type": "application/json"},
                       content=iter([order[:20], order[20:]]), timeout=30)
        assert r.status_code == 201, r.text
        # finding 2: the nesting as an MQTT order, QoS 1
        client.on_connect = lambda c, *_: (c.subscribe([("transactive/c/acks/m0", 1)]), None)[1]
        client.on_message = lambda _c, _u, m: acks.put(json.loads(m.payload))
        client.connect(host, mqtt_port)
        client.loop_start()
        time.sleep(0.5)
        client.publish("transactive/c/orders/m0", DEEP, qos=1).wait_for_publish(10)
        ack = acks.get(timeout=30)
        assert ack["status"] == "rejected"
        assert ack["error"] == {"field": "(payload)", "message": "nested deeper than 32 levels"}
        letters = httpx.get(f"{base}/admin/dead-letters", headers=admin).json()
        assert [(d["topic"], d["reason"], d["payload_bytes"]) for d in letters] == [
            ("transactive/c/orders/m0", "nested deeper than 32 levels", len(DEEP))]
        assert httpx.get(f"{base}/admin/dead-letters", headers=member).status_code == 403
        assert process.poll() is None
        stop(process)
        # restarted on the same persistent broker session: the message was acknowledged, nothing comes again
        process = start(tmp_path, port, mqtt_port)
        client.publish("transactive/c/orders/m0", b"{not json", qos=1).wait_for_publish(10)
        assert acks.get(timeout=30)["error"] == {"field": "(payload)", "message": "not valid JSON"}
        letters = httpx.get(f"{base}/admin/dead-letters", headers=admin).json()
        assert [d["reason"] for d in letters] == ["not valid JSON", "nested deeper than 32 levels"]
        assert httpx.get(f"{base}/health").status_code == 200
    finally:
        client.loop_stop()
        client.disconnect()
        stop(process)
        forget_mqtt_sessions(host, mqtt_port, [CLIENT_ID])
