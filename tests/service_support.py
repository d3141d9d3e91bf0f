"""Fixtures for the service tests: a real PostgreSQL and a real Mosquitto broker on loopback.

Import the fixtures into a ``conftest.py`` (``from service_support import postgres_url``). When a component
cannot be started, a test that needs it fails under ``CI=true`` and is skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unavailable(reason: str) -> None:
    """Fail in CI, skip locally."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required test component unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def wait_healthy(base: str, process: subprocess.Popen[Any], log: Path | None = None,
                 timeout_s: float = 60.0) -> None:
    """Wait until ``transactive serve`` at ``base`` answers ``GET /health`` with 200; an AssertionError (with the
    tail of ``log``) if the process exits or the time runs out (the process is then killed)."""
    import httpx  # the service extra; only the service tests use this

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise AssertionError(f"serve did not answer /health: {tail}")
        time.sleep(0.1)


def wait_for_port(port: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (scripts/start-postgres.sh), stopped afterwards."""
    try:
        done = subprocess.run(["bash", str(SCRIPTS / "start-postgres.sh")], capture_output=True, text=True,
                              timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"cannot start PostgreSQL: {exc}")
        raise AssertionError("unreachable") from None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) < 2:
        unavailable(f"cannot start PostgreSQL (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    url, data_dir = lines[0], lines[1]
    try:
        yield url
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop-postgres.sh"), data_dir], capture_output=True, check=False,
                       timeout=120)


@contextmanager
def own_database(postgres_url: str, prefix: str) -> Iterator[str]:
    """A database of its own (``<prefix>_<random>``) on the test cluster of ``postgres_url``; its URL, dropped
    afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[tuple[str, int]]:
    """A Mosquitto broker on a free loopback port with a generated config; ``(host, port)``."""
    script = SCRIPTS / "start-mosquitto.sh"
    installed = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600, check=False)
    if installed.returncode != 0:
        unavailable(f"cannot install Mosquitto: {installed.stderr.strip()[-500:]}")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="transactive-mqtt-") as tmp:
        log = open(Path(tmp) / "broker.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(["bash", str(script), "--run", str(port), tmp], stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            if not wait_for_port(port):
                process.kill()
                unavailable(f"Mosquitto did not listen on port {port}: {(Path(tmp) / 'broker.log').read_text()}")
            yield "127.0.0.1", port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def forget_mqtt_sessions(host: str, port: int, client_ids: list[str]) -> None:
    """End the persistent broker sessions of ``client_ids`` (connect with clean session, disconnect): a gateway
    session left behind stays in the shared subscription group and would take its share of later tests' orders."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    for client_id in client_ids:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.connect(host, port)
        client.loop_start()
        client.disconnect()
        client.loop_stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store on SQLite (a file) and on a real PostgreSQL on loopback: suites using it run on both."""
    from transactive.store import _tables as tables
    from transactive.store import open_store

    if request.param == "sqlite":
        s = open_store(data_dir=tmp_path)
        yield s
        s.close()
        return
    url: str = request.getfixturevalue("postgres_url")
    s = open_store(url=url)
    try:
        yield s
    finally:
        tables.metadata.drop_all(s.engine)
        s.close()
