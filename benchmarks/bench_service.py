"""Service intake benchmark: durable order intake over REST and MQTT on loopback, and the group commit.

Runs ``transactive serve`` as a real subprocess (SQLite in a temp dir, WAL, synchronous=FULL) and measures:

1. store: one commit per order (the naive baseline) vs the group-commit intake with concurrent submitters,
   in this process, on the same disk;
2. REST: orders/s and p50/p99 latency with concurrent HTTP clients (httpx, a thread pool);
3. MQTT: orders/s through a Mosquitto broker (QoS 1), from the first publish to the last durable ack.

Targets from the issue: REST >= 1,000 orders/s with p99 < 50 ms; MQTT >= 10,000 orders/s. The machine and
its other load decide what is reached; the numbers printed are what was measured. Each REST row also gives the
service's CPU per order during the timed run (``/proc``, the serve process and its children), which moves
less with the machine's other load than the rates do.

``--serve-src DIR`` serves another tree's ``src`` (e.g. an older checkout) with this same client, for A/B runs;
``--rest-only`` skips the store and MQTT rows.

    .venv/bin/python benchmarks/bench_service.py [--quick] [--rest-only] [--serve-src ../old/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mqtt_load  # noqa: E402 - benchmarks/mqtt_load.py
from transactive.market import ManualClock, Operator, OrderIntake  # noqa: E402
from transactive.store import Member, open_store  # noqa: E402

ADMIN = "tk_admin_bench"
# MQTT orders/s of the gateway before the lean MQTT connection (paho-mqtt, one message at a time), same bench
# client, measured in the same session as the numbers in docs/service.md; the ratio column divides by these
BASELINE_MQTT_PER_S = {1: 3309, 2: 4838}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def slots(count: int) -> list[str]:
    first = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return [(first + timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(count)]


def order(member: str, slot: str) -> dict[str, object]:
    return {"side": "sell", "slot_start": slot, "idempotency_key": f"{member}-{slot}", "energy_kwh": 1.5,
            "price_per_kwh": 0.2}


# ------------------------------------------------------------------------------------------------ store
def _submit_all(op: Operator, member: Member, todo: list[str]) -> None:
    for slot in todo:
        op.submit_order(member, "c", order(member.id, slot))


def bench_store(n: int, submitters: int) -> tuple[float, float]:
    """Orders/s: one commit per order vs group commit (``submitters`` threads)."""
    rates = []
    for grouped in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(data_dir=tmp)
            intake = OrderIntake(store).start() if grouped else None
            op = Operator(store, ManualClock(datetime.now(UTC)), intake=intake)
            op.create_community("c", "uniform", {}, 15)
            members = [op.add_member("c", f"m{i}", "prosumer")[0] for i in range(submitters)]
            per = n // submitters
            todo = slots(per)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(submitters) as pool:
                list(pool.map(_submit_all, [op] * submitters, members, [todo] * submitters))
            rates.append(per * submitters / (time.perf_counter() - t0))
            if intake is not None:
                intake.stop()
            store.close()
    return rates[0], rates[1]


# ------------------------------------------------------------------------------------------------ serve
class Server:
    src = ROOT / "src"  # the tree that `serve` runs (--serve-src)

    def __init__(self, data_dir: str, mqtt_url: str | None = None, *extra: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "transactive.cli", "serve", "--port", str(self.port), "--data-dir", data_dir,
                "--admin-key", ADMIN]
        if mqtt_url:
            args += ["--mqtt-url", mqtt_url]
        args += extra
        self.process = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(self.src)},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("serve did not start")

    def setup(self, members: int) -> dict[str, str]:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        httpx.post(f"{self.base}/admin/communities", headers=admin,
                   json={"name": "c", "mechanism": "uniform", "slot_minutes": 15}).raise_for_status()
        keys = {}
        with httpx.Client(base_url=self.base, headers=admin) as http:
            for i in range(members):
                r = http.post("/admin/communities/c/members", json={"id": f"m{i}", "role": "prosumer"})
                r.raise_for_status()
                keys[f"m{i}"] = r.json()["api_key"]
        return keys

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _raw_client(port: int, key: str, member: str, todo: list[str], latencies: list[float]) -> None:
    """A lean keep-alive HTTP/1.1 client on asyncio streams (little client CPU, so the server is measured)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for slot in todo:
            data = json.dumps(order(member, slot)).encode()
            request = (f"POST /communities/c/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data
            t = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if b" 201 " not in status:
                raise RuntimeError(body.decode())
    finally:
        writer.close()


@dataclass(frozen=True)
class RestRun:
    """One REST intake run: orders/s, p50 and p99 latency (ms) and the service's CPU seconds during it."""

    orders: int
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float

    @property
    def server_us_per_order(self) -> float:
        return self.server_cpu_s / self.orders * 1e6


def _rest_run(latencies: list[float], elapsed: float, server_cpu_s: float) -> RestRun:
    q = statistics.quantiles(latencies, n=100)
    return RestRun(len(latencies), len(latencies) / elapsed, q[49] * 1e3, q[98] * 1e3, server_cpu_s)


def bench_rest_raw(n: int, clients: int) -> RestRun:
    """Like :func:`bench_rest` with asyncio keep-alive clients in one thread instead of httpx threads."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(tmp)
        try:
            keys = server.setup(clients)
            todo = slots(n // clients)
            latencies: list[float] = []

            async def run() -> None:
                await asyncio.gather(*(_raw_client(server.port, k, m, todo, latencies) for m, k in keys.items()))

            cpu0, t0 = mqtt_load.cpu_s(server.process.pid), time.perf_counter()
            asyncio.run(run())
            elapsed = time.perf_counter() - t0
            cpu = mqtt_load.cpu_s(server.process.pid) - cpu0
        finally:
            server.stop()
    return _rest_run(latencies, elapsed, cpu)


def bench_rest(n: int, clients: int) -> RestRun:
    """Orders/s, p50 and p99 ms and the service's CPU with ``clients`` concurrent HTTP clients (httpx, one
    thread each)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(tmp)
        try:
            keys = server.setup(clients)
            per = n // clients
            todo = slots(per)
            latencies: list[float] = []
            lock = threading.Lock()

            def work(member: str) -> None:
                mine = []
                with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {keys[member]}"}) as http:
                    for slot in todo:
                        t = time.perf_counter()
                        r = http.post("/communities/c/orders", json=order(member, slot))
                        mine.append(time.perf_counter() - t)
                        if r.status_code != 201:
                            raise RuntimeError(r.text)
                with lock:
                    latencies.extend(mine)

            cpu0, t0 = mqtt_load.cpu_s(server.process.pid), time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(work, keys))
            elapsed = time.perf_counter() - t0
            cpu = mqtt_load.cpu_s(server.process.pid) - cpu0
        finally:
            server.stop()
    return _rest_run(latencies, elapsed, cpu)


@dataclass(frozen=True)
class MqttRun:
    """One MQTT intake run: rate, and CPU seconds spent during it by each party (``/proc``)."""

    orders: int
    created: int
    elapsed_s: float
    broker_cpu_s: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rate(self) -> float:
        return self.created / self.elapsed_s


def bench_mqtt(n: int, members: int, workers: int = 1) -> MqttRun | None:
    """Orders/s through the broker and the gateway (first publish to last durable ack); None without a broker.

    The publisher is :mod:`mqtt_load` (a lean pipelined client with its own MQTT encoding, so it neither costs
    much CPU nor shares code with the gateway). Every ack must say ``created``: a lost or refused order fails
    the run."""
    script = ROOT / "scripts" / "start-mosquitto.sh"
    if subprocess.run(["bash", str(script)], capture_output=True, check=False).returncode != 0:
        return None
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        broker = subprocess.Popen(["bash", str(script), "--run", str(port), tmp], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        server = Server(tmp, f"mqtt://127.0.0.1:{port}", "--mqtt-workers", str(workers))
        try:
            keys = server.setup(members)
            todo = slots(n // members)
            packets = [mqtt_load.publish_packet(f"transactive/c/orders/{m}",
                                                json.dumps({"api_key": keys[m], **order(m, s)}).encode(),
                                                1 + k % 65535)
                       for k, (s, m) in enumerate((s, m) for s in todo for m in keys)]
            sock = mqtt_load.connect("127.0.0.1", port, "transactive/c/acks/+")
            time.sleep(0.2)
            broker_cpu0, server_cpu0 = mqtt_load.cpu_s(broker.pid), mqtt_load.cpu_s(server.process.pid)
            result = mqtt_load.run(sock, packets)
            broker_cpu = mqtt_load.cpu_s(broker.pid) - broker_cpu0
            server_cpu = mqtt_load.cpu_s(server.process.pid) - server_cpu0
            mqtt_load.disconnect(sock)
            if result.created != len(packets):
                raise RuntimeError(f"{len(packets)} orders published, {result.acks} acks, {result.created} created")
            return MqttRun(len(packets), result.created, result.elapsed_s, broker_cpu, server_cpu,
                           result.client_cpu_s)
        finally:
            server.stop()
            broker.terminate()
            broker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--mqtt-only", action="store_true", help="only the MQTT rows")
    parser.add_argument("--rest-only", action="store_true", help="only the REST rows")
    parser.add_argument("--serve-src", type=Path, default=None, metavar="DIR",
                        help="serve this tree's src directory instead of this checkout's (A/B runs, same client)")
    args = parser.parse_args()
    if args.serve_src is not None:
        Server.src = args.serve_src.resolve()
    n_store, n_rest, n_mqtt = (400, 1000, 2000) if args.quick else (2000, 5000, 20000)
    _row("what", "orders", "seconds", "orders/s", p50="p50 ms", p99="p99 ms", ratio="ratio")
    if not args.mqtt_only:
        _bench_store_and_rest(n_store, n_rest, store=not args.rest_only)
    if not args.rest_only:
        _bench_mqtt_rows(n_mqtt, with_ratio=not args.quick)


def _bench_store_and_rest(n_store: int, n_rest: int, *, store: bool = True) -> None:
    if store:
        naive, grouped = bench_store(n_store, 16)
        _row("store: one commit per order (naive)", n_store, n_store / naive, naive, ratio=1.0)
        _row("store: group commit, 16 submitters", n_store, n_store / grouped, grouped, ratio=grouped / naive)
    runs = []
    for what, bench in (("httpx client threads", bench_rest), ("asyncio keep-alive clients", bench_rest_raw)):
        for clients in (16, 64):
            run = bench(n_rest, clients)
            runs.append((f"{clients} {what}", run))
            _row(f"REST, {clients} {what}", n_rest, n_rest / run.rate, run.rate, p50=run.p50_ms, p99=run.p99_ms)
    print(f"service CPU during each REST run (serve process; load average {os.getloadavg()[0]:.1f}):")
    for what, run in runs:
        print(f"  {what}: {run.server_cpu_s:.2f} s, {run.server_us_per_order:.0f} us/order")


def _bench_mqtt_rows(n_mqtt: int, *, with_ratio: bool) -> None:
    runs = []
    for workers in (1, 2):
        run = bench_mqtt(n_mqtt, 200, workers)
        if run is None:
            print("MQTT: no Mosquitto broker available (scripts/start-mosquitto.sh failed)")
            break
        runs.append((workers, run))
        _row(f"MQTT QoS 1, 200 members, {workers} gateway proc.", n_mqtt, run.elapsed_s, run.rate,
             ratio=run.rate / BASELINE_MQTT_PER_S[workers] if with_ratio else "")
    if runs and with_ratio:
        print(f"\nratio: against the gateway before the lean MQTT connection ({BASELINE_MQTT_PER_S[1]:,}/s with 1 "
              f"process, {BASELINE_MQTT_PER_S[2]:,}/s with 2, full size; docs/mqtt.md)")
    if runs:
        print("CPU seconds during each MQTT run (share of the 2 cores x elapsed):")
        for workers, run in runs:
            budget = 2 * run.elapsed_s
            print(f"  {workers} gateway proc.: broker {run.broker_cpu_s:.2f} s ({run.broker_cpu_s / budget:.0%}), "
                  f"service {run.server_cpu_s:.2f} s ({run.server_cpu_s / budget:.0%}), "
                  f"publisher {run.client_cpu_s:.2f} s ({run.client_cpu_s / budget:.0%}), "
                  f"service {run.server_cpu_s / run.orders * 1e6:.0f} us/order, "
                  f"broker {run.broker_cpu_s / run.orders * 1e6:.0f} us/order")


def _row(what: str, orders: object, seconds: object, rate: object, *, p50: object = "", p99: object = "",
         ratio: object = "") -> None:
    def cell(value: object, spec: str) -> str:
        return format(value, spec) if isinstance(value, float) else str(value)

    print(f"{what:<44} {orders!s:>7} {cell(seconds, '.2f'):>8} {cell(rate, '.0f'):>9} {cell(p50, '.1f'):>7} "
          f"{cell(p99, '.1f'):>7} {cell(ratio, '.1f'):>6}")

if __name__ == "__main__":
    main()
