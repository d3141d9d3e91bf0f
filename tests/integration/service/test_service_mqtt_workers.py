"""`transactive serve --mqtt-workers 2`: two gateway processes split the MQTT orders; every one is stored once."""

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

ADMIN = "tk_admin_workers_test"


def test_two_gateway_processes_share_the_orders(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    host, broker_port = mosquitto
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "transactive.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path),
         "--admin-key", ADMIN, "--mqtt-url", f"mqtt://{host}:{broker_port}", "--mqtt-workers", "2",
         "--mqtt-client-id", "gw-workers-test"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    try:
        wait_healthy(base, process)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(f"{base}/admin/communities", headers=admin,
                   json={"name": "w", "mechanism": "uniform", "slot_minutes": 15}).raise_for_status()
        keys = {}
        for i in range(100):
            r = httpx.post(f"{base}/admin/communities/w/members", headers=admin, json={"id": f"m{i}",
                                                                                       "role": "prosumer"})
            keys[f"m{i}"] = r.json()["api_key"]
        slot = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() + 7200))
        acks: list[dict[str, Any]] = []
        done, subscribed = threading.Event(), threading.Event()

        def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
            acks.append(json.loads(message.payload))
            if len(acks) == len(keys):
                done.set()

        listener.on_connect = lambda c, *_: (c.subscribe("transactive/w/acks/+", qos=1), None)[1]
        listener.on_subscribe = lambda *_: subscribed.set()
        listener.on_message = on_message
        listener.connect(host, broker_port)
        listener.loop_start()
        assert subscribed.wait(10)
        for member, key in keys.items():
            listener.publish(f"transactive/w/orders/{member}", json.dumps({
                "api_key": key, "side": "sell", "slot_start": slot, "idempotency_key": "k", "energy_kwh": 1,
                "price_per_kwh": 1}), qos=1)
        assert done.wait(60), f"{len(acks)} acks"
        assert {a["status"] for a in acks} == {"created"}
        sealed = httpx.get(f"{base}/communities/w/orders", params={"slot_start": slot}, headers=admin).json()
        assert sealed["count"] == len(keys)  # quotation is open: the admin sees the commitment only
        for member, key in keys.items():
            own = httpx.get(f"{base}/communities/w/orders", params={"slot_start": slot},
                            headers={"Authorization": f"Bearer {key}"}).json()
            assert [o["member"] for o in own] == [member]
        handled_here = httpx.get(f"{base}/health").json()["intake"]["orders"]
        assert 0 < handled_here < len(keys)  # the other process took a share
    finally:
        listener.disconnect()
        listener.loop_stop()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        forget_mqtt_sessions(host, broker_port, ["gw-workers-test", "gw-workers-test-1"])
