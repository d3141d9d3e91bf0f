"""A lean MQTT 3.1.1 client for the gateway: bulk reads, bulk writes, QoS 1, persistent sessions, reconnects.

Why not paho: paho reads a packet with several ``recv`` calls and answers each with its own ``send``, and
builds message objects and callbacks per packet; in the intake benchmark that was about half of the gateway's
CPU. Here one reader thread ``recv``\\ s up to 256 KiB at a time and hands every PUBLISH in it to
``on_publishes`` as one list; the gateway answers a whole batch (acks and PUBACKs) with one ``sendall``.

Delivery: incoming QoS 1 messages are acknowledged (PUBACK) only when the caller says so
(:meth:`MqttConnection.send` of :func:`~transactive.mqtt.wire.puback` bytes), so a message not yet acknowledged
when the connection or the process dies is redelivered by the broker to the session. Outgoing QoS 1 messages
stay in an in-flight table until the broker's PUBACK and are resent (DUP) after a reconnect. The reader
reconnects by itself (backoff 0.1 s doubling to 5 s), sends PINGREQ when nothing was sent for half the
keepalive, and reconnects when nothing at all (not even a PINGRESP) came back for 1.5 keepalives;
:meth:`MqttConnection.reconnect` forces a reconnect (the gateway's answer to a failed commit).

Threads: the resend snapshot and the adoption of a new socket happen under the send lock, as does the storing
and writing of a ``publish_many``, so a publish racing a reconnect is either resent or written on the new
socket. ``generation`` counts adopted sockets: PUBACK bytes given with a generation are dropped when the
connection changed since, because packet ids belong to one connection. ``publish_many`` may wait for free
packet ids and therefore refuses to run on the reader thread, the one that reads the PUBACKs freeing them.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence

from transactive.mqtt import wire

log = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
MAX_PACKET_ID = 0xFFFF


class MqttConnection:
    """One MQTT session. ``start()`` returns once connected and subscribed; ``stop()`` disconnects cleanly."""

    def __init__(self, host: str, port: int, client_id: str, *, clean_session: bool,
                 subscriptions: Sequence[tuple[str, int]], on_publishes: Callable[[list[wire.Publish]], None],
                 username: str | None = None, password: str | None = None, keepalive_s: int = 60) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.clean_session = clean_session
        self.subscriptions = list(subscriptions)
        self.on_publishes = on_publishes
        self.username, self.password = username, password
        self.keepalive_s = keepalive_s
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._ids = threading.Condition()
        self._inflight: dict[int, bytes] = {}  # packet id -> PUBLISH bytes, until the broker's PUBACK
        self._next_id = 0
        self._last_send = time.monotonic()
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        self._connected = threading.Condition()
        self.connections = 0
        self.generation = 0  # +1 for each adopted socket; a PUBACK is only valid on the connection it answers

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 30.0) -> MqttConnection:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the gateway"
                                  + (f": {self._error}" if self._error else ""))
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.send(wire.DISCONNECT_PACKET)
        with self._send_lock:
            sock = self._sock
        if sock is not None:
            _shutdown(sock)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        with self._ids:
            self._ids.notify_all()

    @property
    def inflight(self) -> int:
        """Outgoing QoS 1 messages the broker has not acknowledged yet."""
        return len(self._inflight)

    def reconnect(self) -> None:
        """Drop the current socket; the reader connects again (the broker then redelivers, to a persistent
        session, every message not acknowledged yet). Nothing happens while not connected."""
        with self._send_lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            _shutdown(sock)

    def wait_connections(self, count: int, timeout_s: float) -> bool:
        """Wait until ``connections >= count`` (True) or ``timeout_s`` passed (False)."""
        with self._connected:
            return self._connected.wait_for(lambda: self.connections >= count, timeout_s)

    # ------------------------------------------------------------------------------------ out
    def send(self, data: bytes, generation: int | None = None) -> bool:
        """Write raw packet bytes; False (nothing written) when not connected, or when ``generation`` is given
        and is no longer the current connection's (PUBACKs answer the packet ids of one connection only)."""
        if not data:
            return True
        with self._send_lock:
            if generation is not None and generation != self.generation:
                return False
            return self._write(data)

    def _write(self, data: bytes) -> bool:
        """Write under ``_send_lock``."""
        sock = self._sock
        if sock is None:
            return False
        try:
            sock.sendall(data)
        except OSError:  # maybe half written: drop this socket, the reader reconnects
            self._sock = None
            _shutdown(sock)
            return False
        self._last_send = time.monotonic()
        return True

    def publish_many(self, messages: Sequence[tuple[str, bytes, bool]], qos: int = 1, extra: bytes = b"",
                     generation: int | None = None) -> None:
        """Publish ``(topic, payload, retain)`` messages and then ``extra`` bytes (e.g. PUBACKs) in one write.

        QoS 1 messages are kept until the broker acknowledges them and resent after a reconnect. ``extra`` is
        written only while the connection is still the one of ``generation`` (when given). May wait for packet
        ids (all 65535 in flight): never call it on the reader thread (``on_publishes``), which is the one
        thread that processes the PUBACKs freeing them."""
        if qos:
            ids = self._allocate(len(messages))
            packets = [wire.publish(topic, payload, qos, packet_id, retain=retain)
                       for packet_id, (topic, payload, retain) in zip(ids, messages, strict=True)]
        else:
            packets = [wire.publish(topic, payload, 0, 0, retain=retain) for topic, payload, retain in messages]
        with self._send_lock:  # stored and written in one step: a reconnect's resend snapshot sees all or none
            if qos:
                for packet_id, packet in zip(ids, packets, strict=True):
                    self._inflight[packet_id] = packet
            if generation is not None and generation != self.generation:
                extra = b""
            self._write(b"".join(packets) + extra)

    def _allocate(self, count: int) -> list[int]:
        """``count`` free packet ids, reserved in the in-flight table (waits while all 65535 are in flight)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("publish_many on the MQTT reader thread could wait for PUBACKs only it reads")
        ids: list[int] = []
        inflight = self._inflight
        with self._ids:
            while len(ids) < count:
                if len(inflight) >= MAX_PACKET_ID:  # every id in flight: wait for PUBACKs
                    if self._stopping.is_set():
                        raise ConnectionError("MQTT connection stopped")
                    self._ids.wait(1.0)
                    continue
                packet_id = self._next_id = self._next_id % MAX_PACKET_ID + 1
                if packet_id not in inflight:
                    inflight[packet_id] = b""  # reserved until the caller stores the packet
                    ids.append(packet_id)
        return ids

    # ------------------------------------------------------------------------------------ in
    def _run(self) -> None:
        delay_s = 0.1
        while not self._stopping.is_set():
            try:
                sock, splitter = self._connect()
            except (OSError, wire.ProtocolError, ConnectionError) as exc:
                self._error = str(exc)
                log.warning("MQTT connect to %s:%s failed: %s", self.host, self.port, exc)
                self._stopping.wait(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            delay_s = 0.1
            try:
                self._read(sock, splitter)
            except (OSError, wire.ProtocolError) as exc:
                if not self._stopping.is_set():
                    log.warning("MQTT connection lost: %s", exc)
            finally:
                with self._send_lock:
                    self._sock = None
                sock.close()

    def _connect(self) -> tuple[socket.socket, wire.PacketSplitter]:
        sock = self._open_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        splitter = wire.PacketSplitter()
        try:
            sock.sendall(wire.connect(self.client_id, clean_session=self.clean_session, keepalive_s=self.keepalive_s,
                                      username=self.username, password=self.password))
            pending: list[wire.Packet] = []
            while not pending:
                data = sock.recv(READ_BYTES)
                if not data:
                    raise ConnectionError("the broker closed the connection before CONNACK")
                pending = splitter.feed(data)
            connack = pending[0]
            if connack.kind != wire.CONNACK or len(connack.body) != 2:
                raise wire.ProtocolError("expected CONNACK")
            if connack.body[1]:
                reason = wire.CONNACK_REASONS.get(connack.body[1], str(connack.body[1]))
                raise ConnectionError(f"connection refused: {reason}")
            sock.settimeout(None)  # blocking writes (a timeout could cut a packet in half); reads poll
            # snapshot, resend and adopt in one step under the send lock: a publish_many either stored its
            # packets before (resent here) or writes them on this socket after
            with self._send_lock:
                with self._ids:
                    resend = [wire.with_dup(p) for _, p in sorted(self._inflight.items()) if p]
                sock.sendall(wire.subscribe(1, self.subscriptions) + b"".join(resend))
                self._sock = sock
                self.generation += 1
                self._last_send = time.monotonic()
        except BaseException:
            sock.close()
            raise
        with self._connected:
            self.connections += 1
            self._connected.notify_all()
        if len(pending) > 1:
            self._dispatch(pending[1:])
        return sock, splitter

    def _open_socket(self) -> socket.socket:
        """A TCP connection to the broker (a seam: tests wrap the socket to stop the reader at a chosen point)."""
        return socket.create_connection((self.host, self.port), timeout=10)

    def _read(self, sock: socket.socket, splitter: wire.PacketSplitter) -> None:
        half_keepalive_s = self.keepalive_s / 2
        last_received = time.monotonic()
        while not self._stopping.is_set():
            data = sock.recv(READ_BYTES) if select.select([sock], [], [], half_keepalive_s)[0] else None
            if data == b"":
                raise ConnectionError("the broker closed the connection")
            now = time.monotonic()
            if data:
                last_received = now
                self._dispatch(splitter.feed(data))
            elif now - last_received > 1.5 * self.keepalive_s:  # not even a PINGRESP: a dead broker or link
                raise ConnectionError(f"nothing from the broker for {now - last_received:.0f} s")
            if now - self._last_send > half_keepalive_s:
                self.send(wire.PINGREQ_PACKET)

    def _dispatch(self, packets: list[wire.Packet]) -> None:
        publishes: list[wire.Publish] = []
        acked = False
        for packet in packets:
            kind = packet.kind
            if kind == wire.PUBLISH:
                publishes.append(wire.decode_publish(packet))
            elif kind == wire.PUBACK:
                self._inflight.pop(wire.packet_id_of(packet), None)
                acked = True
            elif kind == wire.SUBACK:
                codes = packet.body[2:]
                if any(code == 0x80 for code in codes):
                    self._error = "subscription refused"
                    log.error("MQTT subscription refused: %s", list(codes))
                else:
                    self._subscribed.set()
            elif kind != wire.PINGRESP:
                raise wire.ProtocolError(f"unexpected packet type {kind}")
        if acked and len(self._inflight) >= MAX_PACKET_ID - 1:
            with self._ids:
                self._ids.notify_all()
        if publishes:
            try:
                self.on_publishes(publishes)
            except Exception:  # a handler bug must not kill the connection; unacked messages come back
                log.exception("MQTT message handler failed")


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
