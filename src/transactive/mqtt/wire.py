"""MQTT 3.1.1 packets as bytes: the few the gateway needs, encoded and decoded by pure functions.

Only what a QoS 0/1 client uses: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH, PUBACK, PINGREQ/PINGRESP and
DISCONNECT (OASIS MQTT 3.1.1, section 2 and 3). :class:`PacketSplitter` cuts a received byte stream into
packets without a system call per packet, which is what makes the gateway's read path cheap: one ``recv`` of
up to 256 KiB yields every packet in it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
MAX_REMAINING = 268_435_455  # four length bytes

CONNACK_REASONS = {1: "unacceptable protocol version", 2: "client identifier rejected", 3: "server unavailable",
                   4: "bad user name or password", 5: "not authorised"}


class ProtocolError(Exception):
    """The peer sent bytes that are not MQTT 3.1.1."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One received packet: ``kind`` (the 4-bit type), ``flags`` (the low 4 bits) and the bytes after the
    fixed header."""

    kind: int
    flags: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Publish:
    """A decoded PUBLISH: ``packet_id`` is 0 for QoS 0."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    retain: bool
    dup: bool


def _length(n: int) -> bytes:
    """The variable-length "remaining length" encoding (7 bits per byte, high bit = more)."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"packet too large: {n} bytes")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 0xFFFF:
        raise ValueError("MQTT string longer than 65535 bytes")
    return struct.pack("!H", len(raw)) + raw


def connect(client_id: str, *, clean_session: bool, keepalive_s: int, username: str | None = None,
            password: str | None = None) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    variable = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    return bytes([CONNECT << 4]) + _length(len(variable) + len(payload)) + variable + payload


def subscribe(packet_id: int, topics: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(t) + bytes([q]) for t, q in topics)
    return bytes([SUBSCRIBE << 4 | 0x02]) + _length(len(body)) + body


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, *, retain: bool = False,
            dup: bool = False) -> bytes:
    header = PUBLISH << 4 | qos << 1 | (0x01 if retain else 0) | (0x08 if dup else 0)
    variable = _string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    return bytes([header]) + _length(len(variable) + len(payload)) + variable + payload


def with_dup(packet: bytes) -> bytes:
    """The same PUBLISH with the DUP flag set (a resend after a reconnect)."""
    return bytes([packet[0] | 0x08]) + packet[1:]


def puback(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def decode_publish(packet: Packet) -> Publish:
    body = packet.body
    if len(body) < 2:
        raise ProtocolError("PUBLISH without a topic")
    (topic_length,) = struct.unpack_from("!H", body)
    offset = 2 + topic_length
    qos = (packet.flags >> 1) & 0x03
    if qos == 3 or len(body) < offset + (2 if qos else 0):
        raise ProtocolError("malformed PUBLISH")
    packet_id = 0
    if qos:
        (packet_id,) = struct.unpack_from("!H", body, offset)
        offset += 2
    try:
        topic = body[2:2 + topic_length].decode()
    except UnicodeDecodeError:
        raise ProtocolError("PUBLISH topic is not UTF-8") from None
    return Publish(topic, body[offset:], qos, packet_id, bool(packet.flags & 0x01), bool(packet.flags & 0x08))


def packet_id_of(packet: Packet) -> int:
    """The packet id of a PUBACK or SUBACK."""
    if len(packet.body) < 2:
        raise ProtocolError("acknowledgement without a packet id")
    return int.from_bytes(packet.body[:2], "big")


class PacketSplitter:
    """Feed received bytes, get back the complete packets in them (partial ones wait for more bytes)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first = buffer[offset]
            remaining, shift, index, complete = 0, 0, offset + 1, False
            while index < size:
                byte = buffer[index]
                index += 1
                remaining |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("remaining length longer than four bytes")
            end = index + remaining
            if not complete or end > size:
                break  # the length, or the body, is not complete yet
            packets.append(Packet(first >> 4, first & 0x0F, bytes(buffer[index:end])))
            offset = end
        if offset:
            del buffer[:offset]
        return packets
