"""The gateway's own MQTT connection survives a broker restart: it reconnects, subscribes again and serves."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from test_mqtt_gateway import Listener

from service_support import SCRIPTS, free_port, wait_for_port
from transactive.api import Service, Settings
from transactive.market import ManualClock

SLOT = "2026-03-01T10:15:00Z"


def _broker(port: int, directory: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["bash", str(SCRIPTS / "start-mosquitto.sh"), "--run", str(port), str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for_port(port), "Mosquitto did not start"
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


def test_gateway_reconnects_after_a_broker_restart(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    del mosquitto  # only to make sure Mosquitto is installed (or the test is skipped like the others)
    port = free_port()
    broker = _broker(port, tmp_path / "broker")
    service = Service(Settings(data_dir=tmp_path, admin_key="tk_admin", run_cycle=False,
                               mqtt_url=f"mqtt://127.0.0.1:{port}",
                               clock=ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))))
    listener = None
    try:
        service.start()
        _, key = service.operator.add_member(service.operator.create_community("g", "uniform", {}, 15).name, "a",
                                             "prosumer")
        connections = service.gateway.connection.connections
        _stop(broker)  # the broker goes away (no persistence: all sessions are lost) and comes back
        broker = _broker(port, tmp_path / "broker")
        listener = Listener("127.0.0.1", port, ["transactive/g/acks/+"])
        ack = None
        for attempt in range(40):  # the gateway reconnects within its backoff; until then nobody takes orders
            listener.publish("transactive/g/orders/a", {"api_key": key, "side": "sell", "slot_start": SLOT,
                                                        "idempotency_key": f"k{attempt}", "energy_kwh": 1,
                                                        "price_per_kwh": 1})
            try:
                ack = listener.next(timeout_s=0.5)[1]
                break
            except Exception:
                continue
        assert ack is not None and ack["status"] == "created"
        assert service.gateway.connection.connections == connections + 1
        assert [o.idempotency_key for o in service.store.orders_of_member("a")] == [ack["idempotency_key"]]
    finally:
        if listener is not None:
            listener.close()
        service.stop()
        _stop(broker)
