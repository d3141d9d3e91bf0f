"""MQTT 3.1.1 packet bytes against the specification (OASIS MQTT 3.1.1, sections 2.2.3 and 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transactive.mqtt import wire


@pytest.mark.parametrize(("n", "encoded"), [  # table 2.4 "Size of Remaining Length field"
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")])
def test_remaining_length_encoding(n: int, encoded: bytes) -> None:
    assert wire._length(n) == encoded


def test_fixed_packets() -> None:
    assert wire.puback(0x1234) == b"\x40\x02\x12\x34"
    assert wire.PINGREQ_PACKET == b"\xc0\x00" and wire.DISCONNECT_PACKET == b"\xe0\x00"
    # CONNECT: protocol name "MQTT", level 4, flags (clean session 0x02, user 0x80, password 0x40), keepalive
    assert wire.connect("c", clean_session=True, keepalive_s=60) == \
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c"
    assert wire.connect("c", clean_session=False, keepalive_s=10, username="u", password="p") == \
        b"\x10\x13\x00\x04MQTT\x04\xc0\x00\x0a\x00\x01c\x00\x01u\x00\x01p"
    # SUBSCRIBE: fixed header flags 0010, packet id, (topic, requested QoS)*
    assert wire.subscribe(1, [("a/+", 1)]) == b"\x82\x08\x00\x01\x00\x03a/+\x01"
    assert wire.publish("t", b"x", 1, 7, retain=True) == b"\x33\x06\x00\x01t\x00\x07x"
    assert wire.with_dup(wire.publish("t", b"x", 1, 7)) == b"\x3a\x06\x00\x01t\x00\x07x"


@given(topic=st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t),
       payload=st.binary(max_size=20_000), qos=st.sampled_from([0, 1]), packet_id=st.integers(1, 65535),
       retain=st.booleans(), cut=st.lists(st.integers(1, 300), max_size=6))
def test_publish_round_trip_through_the_splitter_in_any_cuts(topic: str, payload: bytes, qos: int, *, packet_id: int,
                                                             retain: bool, cut: list[int]) -> None:
    data = wire.publish(topic, payload, qos, packet_id, retain=retain) + wire.puback(9)
    splitter, packets, start = wire.PacketSplitter(), [], 0
    for size in [*cut, len(data)]:  # the stream arrives in arbitrary pieces
        packets += splitter.feed(data[start:start + size])
        start += size
    assert [p.kind for p in packets] == [wire.PUBLISH, wire.PUBACK]
    message = wire.decode_publish(packets[0])
    assert (message.topic, message.payload, message.qos, message.retain, message.dup) == \
        (topic, payload, qos, retain, False)
    assert message.packet_id == (packet_id if qos else 0)
    assert wire.packet_id_of(packets[1]) == 9


def test_malformed_input_is_refused() -> None:
    with pytest.raises(wire.ProtocolError, match="four bytes"):
        wire.PacketSplitter().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(wire.ProtocolError):
        wire.decode_publish(wire.Packet(wire.PUBLISH, 0x06, b"\x00\x01t\x00\x01"))  # QoS 3
    with pytest.raises(ValueError, match="too large"):
        wire._length(268_435_456)
