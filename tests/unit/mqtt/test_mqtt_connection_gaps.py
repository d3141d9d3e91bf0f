"""Threading gaps of the gateway's own MQTT connection, forced with events against a real Mosquitto.

A publish that races with a reconnect must not be lost: the connection snapshots its in-flight messages for the
resend and adopts the new socket in one step under the send lock, so a concurrent ``publish_many`` is either in
the snapshot (resent) or written on the new socket. The interleaving is forced, not hoped for: the new socket
holds the reader inside the reconnect (at the write of the SUBSCRIBE and the resends) until the publishing
thread has reached the send lock.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from types import TracebackType

import pytest
from test_mqtt_gateway import Listener

from transactive.mqtt.connection import MqttConnection


class Gate:
    """Stops the reader in the middle of a reconnect (armed), until ``release`` is set."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.in_gap = threading.Event()
        self.release = threading.Event()


class GatedSocket(socket.socket):
    """A real TCP socket whose write of a SUBSCRIBE packet (sent right after CONNACK, with the resends) waits."""

    gate: Gate | None = None

    def sendall(self, data: bytes, flags: int = 0, /) -> None:  # type: ignore[override]
        gate = self.gate
        if gate is not None and data[:1] == b"\x82":  # SUBSCRIBE: the reader is adopting this connection
            gate.in_gap.set()
            assert gate.release.wait(30), "the test never released the reconnect"
        super().sendall(data, flags)


class GatedConnection(MqttConnection):
    def __init__(self, host: str, port: int, gate: Gate) -> None:
        super().__init__(host, port, "gap-test", clean_session=True, subscriptions=[("gap/unused", 1)],
                         on_publishes=lambda _: None)
        self.gate = gate

    def _open_socket(self) -> socket.socket:
        sock = GatedSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect((self.host, self.port))
        sock.gate = self.gate if self.gate.armed.is_set() else None
        return sock


class WatchedLock:
    """A real lock that tells when a given thread starts to acquire it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watched: threading.Thread | None = None
        self.reached = threading.Event()

    def __enter__(self) -> bool:
        if threading.current_thread() is self.watched:
            self.reached.set()
        return self.lock.__enter__()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.lock.__exit__(kind, value, traceback)


@pytest.fixture
def listener(mosquitto: tuple[str, int]) -> Iterator[Listener]:
    host, port = mosquitto
    listening = Listener(host, port, ["gap/acks"])
    yield listening
    listening.close()


def test_publish_during_a_reconnect_is_not_lost(mosquitto: tuple[str, int], listener: Listener) -> None:
    host, port = mosquitto
    gate = Gate()
    connection = GatedConnection(host, port, gate).start()
    lock = WatchedLock()
    connection._send_lock = lock  # type: ignore[assignment]
    try:
        gate.armed.set()
        old = connection._sock
        assert old is not None
        old.shutdown(socket.SHUT_RDWR)  # the link drops: the reader reconnects and stops in the gap
        assert gate.in_gap.wait(30)
        publisher = threading.Thread(target=connection.publish_many, args=([("gap/acks", b'{"n": 1}', False)],))
        lock.watched = publisher
        publisher.start()
        assert lock.reached.wait(30)  # the publisher has allocated its id and reached the send lock
        gate.release.set()
        publisher.join(30)
        assert listener.next(timeout_s=10) == ("gap/acks", {"n": 1})
        assert connection.connections == 2
    finally:
        gate.release.set()
        connection.stop()


def test_the_reader_thread_may_not_wait_for_packet_ids(mosquitto: tuple[str, int], listener: Listener) -> None:
    """``publish_many`` can wait for PUBACKs, which only the reader thread reads: called on the reader thread
    (from ``on_publishes``) it fails at once instead of risking a deadlock."""
    host, port = mosquitto
    errors: list[BaseException] = []
    handled = threading.Event()

    def on_publishes(_: object) -> None:
        try:
            connection.publish_many([("gap/acks", b"{}", False)])
        except RuntimeError as exc:
            errors.append(exc)
        handled.set()

    connection = MqttConnection(host, port, "gap-reader-test", clean_session=True,
                                subscriptions=[("gap/in", 1)], on_publishes=on_publishes).start()
    try:
        listener.publish("gap/in", {"n": 1})
        assert handled.wait(30)
        assert [str(e) for e in errors] == ["publish_many on the MQTT reader thread could wait for PUBACKs only "
                                            "it reads"]
        assert connection.inflight == 0  # nothing was reserved
    finally:
        connection.stop()
