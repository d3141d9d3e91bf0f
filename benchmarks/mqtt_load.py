"""A lean MQTT 3.1.1 load client for the benchmarks, independent of the gateway's own MQTT code.

One non-blocking socket, one thread: every order is encoded as a QoS 1 PUBLISH before the clock starts (a
fleet of devices each sends its own; their encoding is not the system's cost), then written in chunks of 256 packets
while the acks are read back in the same loop (pipelined: no wait for a PUBACK before the next publish). Acks
arrive at QoS 1 and are PUBACKed. The clock stops at the last ack. Also: the CPU seconds a process (and its
children) used, from ``/proc``, to say where the time went.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH."""
    variable = _string(topic) + struct.pack("!H", packet_id)
    return b"\x32" + _length(len(variable) + len(payload)) + variable + payload


@dataclass(frozen=True)
class LoadResult:
    acks: int
    created: int
    broker_pubacks: int
    elapsed_s: float
    client_cpu_s: float


def _packets(buffer: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete packets ``(first byte, body)`` at the start of ``buffer`` and the bytes they take."""
    out, offset, size = [], 0, len(buffer)
    while size - offset >= 2:
        remaining, shift, index = 0, 0, offset + 1
        while index < size:
            byte = buffer[index]
            index += 1
            remaining |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            break
        if index + remaining > size:
            break
        out.append((buffer[offset], bytes(buffer[index:index + remaining])))
        offset = index + remaining
    return out, offset


def connect(host: str, port: int, ack_topic: str) -> socket.socket:
    """Connect (clean session) and subscribe to ``ack_topic`` at QoS 1; returns once the broker confirmed."""
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    variable = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 600)
    client_id = _string(f"bench-{os.getpid()}-{time.monotonic_ns()}")
    sock.sendall(b"\x10" + _length(len(variable) + len(client_id)) + variable + client_id)
    subscribe = struct.pack("!H", 1) + _string(ack_topic) + b"\x01"
    sock.sendall(b"\x82" + _length(len(subscribe)) + subscribe)
    buffer, seen = bytearray(), set()
    while 0x90 not in seen:  # SUBACK
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the broker closed the connection")
        buffer += data
        packets, used = _packets(buffer)
        del buffer[:used]
        seen.update(first & 0xF0 for first, _ in packets)
    return sock


def run(sock: socket.socket, packets: list[bytes], timeout_s: float = 300.0) -> LoadResult:
    """Write all ``packets`` (pipelined) and read until one ack per packet arrived (or the timeout)."""
    expected = len(packets)
    chunks: list[bytes] = []  # whole packets only, so that PUBACKs can go between two chunks
    for start in range(0, expected, 256):
        chunks.append(b"".join(packets[start:start + 256]))
    chunks.reverse()
    current = memoryview(b"")
    acks = created = pubacks = 0
    reply = bytearray()
    buffer = bytearray()
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + timeout_s
    while acks < expected and time.perf_counter() < deadline:
        want_write = bool(current) or bool(chunks) or bool(reply)
        selector.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0))
        for _key, events in selector.select(1.0):
            if events & selectors.EVENT_WRITE:
                if not current and reply:  # never inside a half-sent PUBLISH
                    n = sock.send(reply)
                    del reply[:n]
                elif current or chunks:
                    if not current:
                        current = memoryview(chunks.pop())
                    current = current[sock.send(current):]
            if events & selectors.EVENT_READ:
                chunk = sock.recv(256 * 1024)
                if not chunk:
                    raise ConnectionError("the broker closed the connection")
                buffer += chunk
                got, used = _packets(buffer)
                del buffer[:used]
                for first, body in got:
                    kind = first >> 4
                    if kind == 4:
                        pubacks += 1
                    elif kind == 3:
                        acks += 1
                        topic_length = struct.unpack_from("!H", body)[0]
                        qos = (first >> 1) & 3
                        payload = body[2 + topic_length + (2 if qos else 0):]
                        if b'"status": "created"' in payload:
                            created += 1
                        if qos:
                            reply += b"\x40\x02" + body[2 + topic_length:4 + topic_length]
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    selector.close()
    return LoadResult(acks, created, pubacks, elapsed, cpu)


def disconnect(sock: socket.socket) -> None:
    sock.setblocking(True)
    try:
        sock.sendall(b"\xe0\x00")
    finally:
        sock.close()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its live descendants (0 for a finished one)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
