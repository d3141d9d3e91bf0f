"""`transactive serve --mqtt-workers 2`: a worker killed with SIGKILL mid-stream is restarted, the gateway keeps
serving, and no acknowledged order is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from service_support import ROOT, forget_mqtt_sessions, free_port, wait_healthy

ADMIN = "tk_admin_restart_test"
MEMBERS = 80


def _workers(pid: int) -> list[int]:
    """Pids of the ``--mqtt-only`` worker processes among the children of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"--mqtt-only" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except FileNotFoundError:
                continue
    return found


def test_killed_worker_is_restarted_and_no_acknowledged_order_is_lost(tmp_path: Path,
                                                                       mosquitto: tuple[str, int]) -> None:
    host, broker_port = mosquitto
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "transactive.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path),
         "--admin-key", ADMIN, "--mqtt-url", f"mqtt://{host}:{broker_port}", "--mqtt-workers", "2",
         "--mqtt-client-id", "gw-restart-test"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.max_inflight_messages_set(0)
    try:
        wait_healthy(base, process)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(f"{base}/admin/communities", headers=admin,
                   json={"name": "r", "mechanism": "uniform", "slot_minutes": 15}).raise_for_status()
        keys = {}
        for i in range(MEMBERS):
            r = httpx.post(f"{base}/admin/communities/r/members", headers=admin,
                           json={"id": f"m{i}", "role": "prosumer"})
            keys[f"m{i}"] = r.json()["api_key"]
        first = time.time() // 900 * 900 + 7200
        slots = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first + 900 * k)) for k in range(4)]
        acked: dict[tuple[str, str], str] = {}  # (member, idempotency key) -> last status
        lock, cond = threading.Lock(), threading.Condition()

        def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
            ack: dict[str, Any] = json.loads(message.payload)
            with cond:
                acked[(message.topic.rsplit("/", 1)[1], ack["idempotency_key"])] = ack["status"]
                cond.notify_all()

        subscribed = threading.Event()
        listener.on_connect = lambda c, *_: (c.subscribe("transactive/r/acks/+", qos=1), None)[1]
        listener.on_subscribe = lambda *_: subscribed.set()
        listener.on_message = on_message
        listener.connect(host, broker_port)
        listener.loop_start()
        assert subscribed.wait(10)

        def publish(slot: str) -> None:
            with lock:
                for member, key in keys.items():
                    listener.publish(f"transactive/r/orders/{member}", json.dumps({
                        "api_key": key, "side": "sell", "slot_start": slot, "idempotency_key": slot,
                        "energy_kwh": 1, "price_per_kwh": 1}), qos=1)

        def wait_acks(count: int) -> None:
            with cond:
                assert cond.wait_for(lambda: len(acked) >= count, 90), f"{len(acked)} of {count} orders acked"

        publish(slots[0])
        wait_acks(MEMBERS)
        (worker,) = _workers(process.pid)
        # kill the worker while orders stream in: some it has received and maybe committed, but not acked
        streaming = threading.Thread(target=lambda: [publish(s) for s in slots[1:]])
        streaming.start()
        os.kill(worker, signal.SIGKILL)
        streaming.join()
        wait_acks(len(slots) * MEMBERS)  # every order answered, also those the broker held for the dead worker
        restarted = _workers(process.pid)
        assert len(restarted) == 1 and restarted[0] != worker
        assert set(acked.values()) <= {"created", "duplicate"}  # a redelivered, already stored order: duplicate
        for slot in slots:  # the slots still take orders: the admin sees their commitment, each member its own
            sealed = httpx.get(f"{base}/communities/r/orders", params={"slot_start": slot}, headers=admin).json()
            assert sealed["count"] == len(keys), slot  # every acked order, exactly once
            for member, key in keys.items():
                own = httpx.get(f"{base}/communities/r/orders", params={"slot_start": slot},
                                headers={"Authorization": f"Bearer {key}"}).json()
                assert [(o["member"], o["idempotency_key"]) for o in own] == [(member, slot)], slot
    finally:
        listener.disconnect()
        listener.loop_stop()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        forget_mqtt_sessions(host, broker_port, ["gw-restart-test", "gw-restart-test-1"])
