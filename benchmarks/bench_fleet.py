"""Fleet intake benchmark: durable order intake with 1, 2 and 3 ``transactive serve`` processes on one PostgreSQL.

Starts a throwaway PostgreSQL cluster on loopback (``scripts/start-postgres.sh``), then for each fleet size a
fresh database and that many ``transactive serve --db-url ... --no-chain`` processes (the intake does not touch
the chain; each process also runs the market cycle, whose leases are idle here: every slot is hours ahead).
Measured, side by side:

1. REST: orders/s and p50/p99 latency of asyncio keep-alive clients (``bench_service``'s lean client) spread
   round-robin over the processes;
2. MQTT (when Mosquitto can be started): orders/s through one broker, every process subscribed through the
   shared subscription ``$share/<group>/...`` with its own client id (first publish to last durable ack).

Every order must be answered 201 / ``created`` and be stored once; the CPU seconds of the service processes,
PostgreSQL and the broker during each run say where the time went. The machine decides what is reached (a
2-core machine cannot run 3 processes, PostgreSQL and the clients side by side without sharing cores).

    PYTHONPATH=src python benchmarks/bench_fleet.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mqtt_load  # noqa: E402 - benchmarks/mqtt_load.py
from bench_service import _raw_client, free_port, order, slots  # noqa: E402 - benchmarks/bench_service.py

ADMIN = "tk_admin_bench_fleet"
GROUP = "bench-fleet"


@contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    """A throwaway PostgreSQL cluster on loopback: its URL and its postmaster's pid."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "start-postgres.sh")], capture_output=True, text=True,
                          check=True, timeout=600)
    url, data_dir = done.stdout.split()[:2]
    try:
        yield url, int((Path(data_dir) / "db" / "postmaster.pid").read_text().split()[0])
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "stop-postgres.sh"), data_dir], capture_output=True,
                       check=False, timeout=120)


@contextmanager
def database(url: str) -> Iterator[str]:
    """A fresh database on the cluster (dropped afterwards)."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def cpu_of(pids: list[int]) -> float:
    """CPU seconds of these processes and their live descendants (``mqtt_load.cpu_s``)."""
    return sum(mqtt_load.cpu_s(pid) for pid in pids)


class Fleet:
    """``n`` serve processes on one database (and one broker, if given)."""

    def __init__(self, n: int, db_url: str, data_dir: str, mqtt_port: int | None) -> None:
        self.ports = [free_port() for _ in range(n)]
        self.processes = []
        for i, port in enumerate(self.ports):
            args = [sys.executable, "-m", "transactive.cli", "serve", "--port", str(port), "--data-dir", data_dir,
                    "--admin-key", ADMIN, "--db-url", db_url, "--no-chain"]
            if mqtt_port is not None:
                args += ["--mqtt-url", f"mqtt://127.0.0.1:{mqtt_port}", "--mqtt-share-group", GROUP,
                         "--mqtt-client-id", f"bench-fleet-{i}"]
            with open(Path(data_dir) / f"serve-{i}.log", "ab") as log:
                self.processes.append(subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                                                       stdout=log, stderr=subprocess.STDOUT))
        for i, (port, process) in enumerate(zip(self.ports, self.processes, strict=True)):
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = (Path(data_dir) / f"serve-{i}.log").read_text()[-2000:]
                    raise RuntimeError(f"serve did not start: {tail}")
                time.sleep(0.1)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def setup(self, members: int) -> dict[str, str]:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        base = f"http://127.0.0.1:{self.ports[0]}"
        httpx.post(f"{base}/admin/communities", headers=admin,
                   json={"name": "c", "mechanism": "uniform", "slot_minutes": 15}).raise_for_status()
        keys = {}
        with httpx.Client(base_url=base, headers=admin) as http:
            for i in range(members):
                r = http.post("/admin/communities/c/members", json={"id": f"m{i}", "role": "prosumer"})
                r.raise_for_status()
                keys[f"m{i}"] = r.json()["api_key"]
        return keys

    def stored(self) -> int:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        base = f"http://127.0.0.1:{self.ports[0]}"
        total = 0
        for slot in slots(2000):
            got = httpx.get(f"{base}/communities/c/orders", params={"slot_start": slot}, headers=admin).json()
            if not got:
                break
            total += len(got)
        return total

    def stop(self) -> None:
        for p in self.processes:
            p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@dataclass(frozen=True)
class Run:
    orders: int
    elapsed_s: float
    p50_ms: float | None
    p99_ms: float | None
    service_cpu_s: float
    postgres_cpu_s: float
    broker_cpu_s: float

    @property
    def rate(self) -> float:
        return self.orders / self.elapsed_s


def bench_rest(fleet: Fleet, keys: dict[str, str], n: int, pg: int) -> Run:
    todo = slots(n // len(keys))
    latencies: list[float] = []
    members = list(keys)

    async def run() -> None:
        await asyncio.gather(*(_raw_client(fleet.ports[i % len(fleet.ports)], keys[m], m, todo, latencies)
                               for i, m in enumerate(members)))

    service0, pg0 = cpu_of(fleet.pids), mqtt_load.cpu_s(pg)
    t0 = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return Run(len(latencies), elapsed, q[49] * 1e3, q[98] * 1e3, cpu_of(fleet.pids) - service0,
               mqtt_load.cpu_s(pg) - pg0, 0.0)


def bench_mqtt(fleet: Fleet, keys: dict[str, str], n: int, pg: int, broker: tuple[int, int]) -> Run:
    broker_pid, broker_port = broker
    todo = slots(n // len(keys))
    packets = [mqtt_load.publish_packet(f"transactive/c/orders/{m}",
                                        json.dumps({"api_key": keys[m], **order(m, s)}).encode(), 1 + k % 65535)
               for k, (s, m) in enumerate((s, m) for s in todo for m in keys)]
    sock = mqtt_load.connect("127.0.0.1", broker_port, "transactive/c/acks/+")
    time.sleep(0.2)
    service0, pg0, broker0 = cpu_of(fleet.pids), mqtt_load.cpu_s(pg), mqtt_load.cpu_s(broker_pid)
    result = mqtt_load.run(sock, packets)
    run = Run(result.created, result.elapsed_s, None, None, cpu_of(fleet.pids) - service0,
              mqtt_load.cpu_s(pg) - pg0, mqtt_load.cpu_s(broker_pid) - broker0)
    mqtt_load.disconnect(sock)
    if result.created != len(packets):
        raise RuntimeError(f"{len(packets)} orders published, {result.acks} acks, {result.created} created")
    return run


@contextmanager
def broker() -> Iterator[tuple[int, int] | None]:
    """Mosquitto on a free port: ``(pid, port)``, or None when it cannot be started."""
    script = ROOT / "scripts" / "start-mosquitto.sh"
    if subprocess.run(["bash", str(script)], capture_output=True, check=False).returncode != 0:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(["bash", str(script), "--run", str(port), tmp], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            yield process.pid, port
        finally:
            process.terminate()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--sizes", default="1,2,3", help="fleet sizes (default 1,2,3)")
    args = parser.parse_args()
    n_rest, n_mqtt, members = (1000, 2000, 50) if args.quick else (4000, 10000, 100)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[str, dict[int, Run]] = {"REST": {}, "MQTT": {}}
    with postgres() as (url, pg), broker() as mqtt:
        for n in sizes:
            for kind in ("REST", "MQTT"):
                if kind == "MQTT" and mqtt is None:
                    continue
                with database(url) as db_url, tempfile.TemporaryDirectory() as tmp:
                    fleet = Fleet(n, db_url, tmp, None if kind == "REST" or mqtt is None else mqtt[1])
                    try:
                        keys = fleet.setup(members)
                        if kind == "REST":
                            run = bench_rest(fleet, keys, n_rest, pg)
                        else:
                            assert mqtt is not None
                            run = bench_mqtt(fleet, keys, n_mqtt, pg, mqtt)
                        stored = fleet.stored()
                        if stored != run.orders:
                            raise RuntimeError(f"{run.orders} orders acknowledged, {stored} stored")
                        rows[kind][n] = run
                    finally:
                        fleet.stop()
    print(f"fleet intake on one PostgreSQL, {os.cpu_count()} cores; {members} members, orders spread over the "
          "processes (REST: round-robin clients; MQTT: one shared subscription)")
    print(f"{'':<28}" + "".join(f"{f'{n} process' + ('es' if n > 1 else ''):>16}" for n in sizes))
    for kind, by_size in rows.items():
        if not by_size:
            print(f"{kind}: not run (no broker)")
            continue
        print(f"{kind + ' orders/s':<28}" + "".join(f"{by_size[n].rate:>16,.0f}" for n in sizes))
        if kind == "REST":
            print(f"{'  p50 / p99 ms':<28}" + "".join(
                f"{f'{by_size[n].p50_ms:.1f} / {by_size[n].p99_ms:.1f}':>16}" for n in sizes))
        for what, attr in (("service", "service_cpu_s"), ("PostgreSQL", "postgres_cpu_s"),
                           *([("broker", "broker_cpu_s")] if kind == "MQTT" else [])):
            print(f"{f'  {what} CPU us/order':<28}" + "".join(
                f"{getattr(by_size[n], attr) / by_size[n].orders * 1e6:>16,.0f}" for n in sizes))


if __name__ == "__main__":
    main()
