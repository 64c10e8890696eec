"""Frames on a byte stream: COBS-encoded ``type | seq | payload | crc16`` + ``0x00``.

COBS leaves no zero inside a frame, so ``0x00`` delimits frames and a receiver
resynchronises at the next zero after any garbage. Bytes go into a protocol
object (:meth:`PacketProtocol.data_received`); whole valid frames come out in
:meth:`~PacketProtocol.handle_packet`, everything else in the named, counted
:meth:`~PacketProtocol.handle_garbage` (the model is pyserial's FramedPacket).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cobs import cobs

from physres.errors import FrameError
from physres.wire.crc import crc16

__all__ = [
    "DELIMITER",
    "MAX_FRAME",
    "Packet",
    "PacketProtocol",
    "decode_packet",
    "encode_packet",
]

DELIMITER = b"\x00"
#: longest encoded frame we accept before calling it garbage (bytes, no delimiter)
MAX_FRAME = 256


@dataclass(frozen=True)
class Packet:
    """One decoded frame: message type, sequence number and raw payload."""

    type: int
    seq: int
    payload: bytes


def encode_packet(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """The wire bytes of one frame, delimiter included."""
    if not (0 <= type_ <= 0xFF and 0 <= seq <= 0xFF):
        raise ValueError(f"frame type {type_} and seq {seq} must each fit in one byte")
    raw = bytes((type_, seq)) + bytes(payload)
    raw += struct.pack("<H", crc16(raw))
    return cobs.encode(raw) + DELIMITER


def decode_packet(frame: bytes) -> Packet:
    """Decode one frame (without its delimiter); :class:`FrameError` says why not."""
    try:
        raw = cobs.decode(frame)
    except cobs.DecodeError as e:
        raise FrameError(f"bad COBS in {len(frame)}-byte frame {frame[:16].hex()}: {e}") from e
    if len(raw) < 4:
        raise FrameError(f"frame too short: {len(raw)} bytes after COBS, need >= 4")
    (want,) = struct.unpack_from("<H", raw, len(raw) - 2)
    got = crc16(raw[:-2])
    if want != got:
        raise FrameError(f"CRC mismatch: frame says {want:#06x}, computed {got:#06x}")
    return Packet(raw[0], raw[1], bytes(raw[2:-2]))


class PacketProtocol:
    """Split a byte stream into packets; subclass and override the two hooks.

    ``garbage`` counts every rejected frame (bad COBS, bad CRC, too short, too
    long) so a link can report exactly how many it threw away. Empty frames
    (two delimiters in a row) are idle fill and are not counted.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.packets = 0
        self.garbage = 0

    def data_received(self, data: bytes) -> None:
        """Feed raw bytes; calls the hooks for every frame they complete."""
        for chunk in _split_keep(data):
            if chunk == DELIMITER:
                self._end_frame()
            elif not self._overflow:
                self._buf += chunk
                if len(self._buf) > MAX_FRAME:
                    self._overflow = True

    def _end_frame(self) -> None:
        frame, overflow = bytes(self._buf), self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow:
            self.garbage += 1
            self.handle_garbage(frame, f"frame longer than {MAX_FRAME} bytes")
            return
        if not frame:
            return
        try:
            pkt = decode_packet(frame)
        except FrameError as e:
            self.garbage += 1
            self.handle_garbage(frame, str(e))
            return
        self.packets += 1
        self.handle_packet(pkt)

    def handle_packet(self, packet: Packet) -> None:
        """A valid frame arrived. Default: nothing (override)."""

    def handle_garbage(self, data: bytes, reason: str) -> None:
        """A frame was rejected (already counted in ``garbage``). Default: nothing."""


def _split_keep(data: bytes) -> list[bytes]:
    """``b"ab\\0c"`` → ``[b"ab", b"\\0", b"c"]`` (delimiters kept as their own items)."""
    out: list[bytes] = []
    start = 0
    while True:
        i = data.find(0, start)
        if i < 0:
            if start < len(data):
                out.append(data[start:])
            return out
        if i > start:
            out.append(data[start:i])
        out.append(DELIMITER)
        start = i + 1
