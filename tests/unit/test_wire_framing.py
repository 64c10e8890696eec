"""Frames on the wire: COBS + CRC-16, and a receiver that survives garbage.

Every serial frame physres exchanges with firmware is ``COBS(type|seq|payload|crc16) 0x00``.
These tests pin down the encoding (so the firmware and the host agree) and show
that a receiver fed arbitrary junk counts it and picks up the next good frame.
"""

from __future__ import annotations

import struct

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from physres.errors import FrameError
from physres.wire import Packet, PacketProtocol, crc16, decode_packet, encode_packet


class Collector(PacketProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Packet] = []
        self.reasons: list[str] = []

    def handle_packet(self, packet: Packet) -> None:
        self.got.append(packet)

    def handle_garbage(self, data: bytes, reason: str) -> None:
        self.reasons.append(reason)


def test_crc16_is_ccitt_false() -> None:
    # the standard check value of CRC-16/CCITT-FALSE, also asserted in firmware/common/crc16.h
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


def test_frame_layout_matches_the_spec() -> None:
    wire = encode_packet(0x02, 7, b"\x01\x00")
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    raw = bytes([0x02, 7, 0x01, 0x00])
    raw += struct.pack("<H", crc16(raw))  # CRC little-endian, after the payload
    # COBS by hand: code bytes replace each zero
    assert wire == bytes([4, 0x02, 7, 0x01, len(raw) - 3]) + raw[4:] + b"\x00"


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200))
def test_any_packet_round_trips(type_: int, seq: int, payload: bytes) -> None:
    wire = encode_packet(type_, seq, payload)
    assert decode_packet(wire[:-1]) == Packet(type_, seq, payload)


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, 7))
def test_every_single_bit_error_is_detected(payload: bytes, bit: int) -> None:
    wire = bytearray(encode_packet(0x05, 1, payload)[:-1])
    for pos in range(len(wire)):
        damaged = bytearray(wire)
        damaged[pos] ^= 1 << bit
        if 0 in damaged:
            continue  # a zero would split the frame: the receiver sees two bad frames
        with pytest.raises(FrameError):
            decode_packet(bytes(damaged))


def test_short_and_bad_frames_name_the_problem() -> None:
    with pytest.raises(FrameError, match="too short"):
        decode_packet(cobs.encode(b"\x01\x02"))
    wire = bytearray(encode_packet(1, 1, b"abc")[:-1])
    wire[-3] ^= 0x01  # a payload byte: still valid COBS, wrong CRC
    with pytest.raises(FrameError, match="CRC mismatch"):
        decode_packet(bytes(wire))


def test_receiver_resyncs_after_garbage_and_counts_it() -> None:
    rx = Collector()
    good = [encode_packet(0x82, i, bytes([0, i])) for i in range(5)]
    stream = (
        b"\x17\x99\xfe\x00"  # junk ending in a delimiter: one bad frame
        + good[0]
        + b"\x00\x00"  # idle fill: ignored, not counted
        + good[1]
        + b"\x05\x01\x02"  # junk that runs into the next frame: that frame is lost too
        + good[2]
        + good[3]
        + bytes(range(1, 255)) * 2  # far too long: one bad frame
        + b"\x00"
        + good[4]
    )
    # fed one byte at a time, as a slow UART would deliver it
    for b in stream:
        rx.data_received(bytes([b]))
    assert [p.seq for p in rx.got] == [0, 1, 3, 4]
    assert rx.garbage == 3 and len(rx.reasons) == 3
    assert any("longer than" in r for r in rx.reasons)


def test_receiver_handles_many_frames_in_one_read() -> None:
    rx = Collector()
    rx.data_received(b"".join(encode_packet(0x85, i & 0xFF, b"\x00" * 29) for i in range(300)))
    assert rx.packets == 300 and rx.garbage == 0
