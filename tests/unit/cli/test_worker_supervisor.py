"""The MQTT worker supervisor with real child processes: a worker may write any amount to stdout after its
``ready`` line without blocking, and a restarted worker that never becomes ready does not keep the supervisor
from restarting the others. Synchronisation is by the workers connecting back to a socket of the test."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from transactive.cli._workers import WorkerSupervisor

CHATTY = "import sys; print('ready', flush=True); sys.stdout.write('x' * 300_000 + '\\n'); sys.stdout.flush()"

# argv: role, runs file, port. Each run appends to the runs file, so a worker knows its how-many-th start it is
# and tells the test over a TCP connection. "hang": the first run exits right after ready, the restarted one
# never prints ready. "victim": always ready; a restarted one reports itself.
SCRIPT = """
import pathlib, socket, sys, time
role, runs_file, port = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
run = len(runs_file.read_text()) if runs_file.exists() else 0
runs_file.write_text("x" * (run + 1))
def tell(what):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(what.encode())
if role == "hang" and run > 0:
    tell(f"hang-{run}")
    time.sleep(300)
print("ready", flush=True)
if role == "hang":
    sys.exit(0)
if run > 0:
    tell(f"victim-{run}")
time.sleep(300)
"""


@pytest.fixture
def server() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.settimeout(60)
        yield listening


def heard(listening: socket.socket) -> str:
    connection, _ = listening.accept()
    with connection:
        connection.settimeout(60)
        return connection.recv(100).decode()


def test_a_worker_writing_a_lot_to_stdout_does_not_block(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="transactive.cli._workers")
    supervisor = WorkerSupervisor([[sys.executable, "-c", CHATTY]], {})
    try:
        supervisor.start()
        first = supervisor.processes[0]
        assert first is not None
        assert first.wait(timeout=60) == 0  # wrote 300 kB (a pipe holds 64 KiB) and exited
    finally:
        supervisor.stop()
    assert any(r.getMessage() == "MQTT gateway worker 1: " + "x" * 300_000 for r in caplog.records)


def test_a_worker_hanging_before_ready_does_not_stop_other_restarts(tmp_path: Path, server: socket.socket) -> None:
    port = str(server.getsockname()[1])
    commands = [[sys.executable, "-c", SCRIPT, role, str(tmp_path / role), port] for role in ("hang", "victim")]
    supervisor = WorkerSupervisor(commands, {})
    try:
        supervisor.start()
        assert heard(server) == "hang-1"  # worker 1 exited, was restarted, and now hangs without a ready line
        victim = supervisor.processes[1]
        assert victim is not None
        victim.kill()
        assert heard(server) == "victim-1"  # worker 2 was restarted all the same
        assert supervisor.restarts == 2
    finally:
        supervisor.stop()
